"""On a CPU, torch's intra-op thread count that steps fastest now: all of them or one.

Measured (BENCHMARKS "Threads on a shared CPU"): on an idle 2-core CPU two threads step 1.2x faster than
one; with one busy program beside the run, 2x slower than one (OpenMP threads spin waiting for a core
another program holds). A run under a time budget already depends on the machine's pace, so there the
trainer times a window of steps at each count every few hundred steps and keeps the faster. A run limited
by steps keeps its count (thread counts change float sums, and such a run is bitwise reproducible), as
does a run whose OMP_NUM_THREADS is set (the user's or a sweep's choice).
"""

from __future__ import annotations

import os
import statistics
from typing import Optional

import torch

WINDOW = 12  # steps timed at each count (the median: a grid update or a checkpoint inside is ignored)
EVERY = 300  # steps at the chosen count before timing both again (the load may have changed)


class ThreadTuner:
    """Call `observe(seconds)` after each timed training step; it sets torch's thread count."""

    def __init__(self, options: list[int]):
        self.options = options
        self.times: dict[int, list[float]] = {}
        self.trial = list(options)  # counts still to time in this round
        self.wait = 0
        self.chosen: list[int] = []  # the count each round kept
        torch.set_num_threads(self.trial[0])

    @classmethod
    def for_run(cls, device: torch.device, time_budget: Optional[float]) -> Optional["ThreadTuner"]:
        if device.type != "cpu" or not time_budget or os.environ.get("OMP_NUM_THREADS"):
            return None
        n = torch.get_num_threads()
        return cls([n, 1]) if n > 1 else None

    def observe(self, seconds: float) -> None:
        if not self.trial:
            self.wait -= 1
            if self.wait <= 0:
                self.trial, self.times = list(self.options), {}
                torch.set_num_threads(self.trial[0])
            return
        timed = self.times.setdefault(self.trial[0], [])
        timed.append(seconds)
        if len(timed) < WINDOW:
            return
        self.trial.pop(0)
        if self.trial:
            torch.set_num_threads(self.trial[0])
            return
        best = min(self.times, key=lambda k: statistics.median(self.times[k]))
        torch.set_num_threads(best)
        self.chosen.append(best)
        self.wait = EVERY

    def note(self) -> str:
        """What the rounds kept, for the run's last line."""
        if not self.chosen:
            return ""
        counts = {k: self.chosen.count(k) for k in self.options}
        return "CPU threads by measured pace: " + ", ".join(f"{k} in {c} of {len(self.chosen)} rounds" for k, c in counts.items())
