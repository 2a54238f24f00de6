#!/usr/bin/env python
"""Training speed on a CPU that other programs also use, against torch's intra-op thread count.

    python scripts/threads_under_load.py RUN_DIR [--steps 40] [--loads 0 1 2] [--threads 1 2]

For each number of busy processes (pure-Python spin loops started here, one core each) and each torch
thread count, continues training the run's checkpoint in memory (nothing is written) and prints ms per
training step. Measure on an otherwise idle machine; the numbers go into BENCHMARKS.md with the machine
and date.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nerf_ff.config import RunConfig, load_yaml  # noqa: E402
from nerf_ff.data import load_scene  # noqa: E402
from nerf_ff.trainer import Trainer  # noqa: E402


def _spin() -> None:
    while True:
        pass


def step_ms(trainer: Trainer, steps: int) -> float:
    for _ in range(3):
        trainer.train_step()
    t0 = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    return (time.perf_counter() - t0) / steps * 1e3


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path)
    p.add_argument("--steps", type=int, default=40, help="training steps timed per cell")
    p.add_argument("--loads", type=int, nargs="+", default=[0, 1, 2], help="busy processes beside the run")
    p.add_argument("--threads", type=int, nargs="+", default=[1, torch.get_num_threads()],
                   help="torch intra-op thread counts to time")
    args = p.parse_args()
    cfg = RunConfig.from_dict(load_yaml(args.run / "config.yaml"), where=str(args.run / "config.yaml"))
    cfg.train.time_budget = None
    scene = load_scene(cfg.scene)
    torch.manual_seed(0)
    trainer = Trainer(cfg, scene, args.run, progress=False)
    trainer.resume()
    print(f"{args.run}: {torch.get_num_threads()} torch threads by default, {mp.cpu_count()} CPUs")
    print("busy processes | " + " | ".join(f"{t} thread{'s' * (t > 1)} ms/step" for t in args.threads))
    for load in args.loads:
        spinners = [mp.Process(target=_spin, daemon=True) for _ in range(load)]
        for s in spinners:
            s.start()
        try:
            cells = []
            for threads in args.threads:
                torch.set_num_threads(threads)
                cells.append(f"{step_ms(trainer, args.steps):.0f}")
        finally:
            for s in spinners:
                s.terminate()
                s.join()
        print(f"{load} | " + " | ".join(cells), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
