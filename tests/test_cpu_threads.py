"""The CPU thread count follows the measured pace under a time budget, and only there."""

import torch

from nerf_ff import cpu_threads
from nerf_ff.cpu_threads import ThreadTuner


def test_the_faster_count_is_kept_and_timed_again_later(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    try:
        cpu = torch.device("cpu")
        assert ThreadTuner.for_run(cpu, None) is None  # a run by steps keeps its count (reproducible)
        assert ThreadTuner.for_run(torch.device("cuda"), 60.0) is None
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        assert ThreadTuner.for_run(cpu, 60.0) is None  # the user's (or a sweep's) choice
        monkeypatch.delenv("OMP_NUM_THREADS")
        tuner = ThreadTuner([3, 1])
        pace = {3: 0.2, 1: 0.1}  # one thread is faster: another program holds a core

        def run(steps):
            for _ in range(steps):
                tuner.observe(pace[torch.get_num_threads()])

        assert torch.get_num_threads() == 3
        run(cpu_threads.WINDOW)
        assert torch.get_num_threads() == 1  # now timing the other count
        run(cpu_threads.WINDOW)
        assert torch.get_num_threads() == 1 and tuner.chosen == [1]
        pace = {3: 0.05, 1: 0.1}  # the machine is free again
        run(cpu_threads.EVERY + 2 * cpu_threads.WINDOW)
        assert tuner.chosen == [1, 3] and torch.get_num_threads() == 3
        assert tuner.note() == "CPU threads by measured pace: 3 in 1 of 2 rounds, 1 in 1 of 2 rounds"
    finally:
        torch.set_num_threads(before)
