#!/usr/bin/env python
"""Training step time of the hash grid on this machine for table sizes 2^19 and 2^16, and 2^16 with
`train.compile` (BENCHMARKS.md, "The hash grid on a CPU").

    python scripts/hashgrid_cpu.py RUN_DIR [--warmup 40] [--steps 30]

RUN_DIR: a `nerf-ff train SCENE --encoding hashgrid` run; its config.yaml is used with each variant
(fresh trainers; nothing is written). Prints ms per step after the warm-up steps. Measure on an idle
machine, or say what else ran.
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nerf_ff.config import RunConfig, load_yaml  # noqa: E402
from nerf_ff.data import load_scene  # noqa: E402
from nerf_ff.trainer import Trainer  # noqa: E402

VARIANTS = (("2^19 entries", {"model": {"hashgrid_log2_size": 19}}),
            ("2^16 entries", {"model": {"hashgrid_log2_size": 16}}),
            ("2^16 entries, train.compile", {"model": {"hashgrid_log2_size": 16}, "train": {"compile": True}}))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path)
    p.add_argument("--warmup", type=int, default=40, help="steps before the timing (compilation, a dense grid)")
    p.add_argument("--steps", type=int, default=30, help="steps timed per variant")
    args = p.parse_args()
    base = load_yaml(args.run / "config.yaml")
    scene = None
    for label, over in VARIANTS:
        d = copy.deepcopy(base)
        for section, values in over.items():
            d[section].update(values)
        cfg = RunConfig.from_dict(d, where=str(args.run / "config.yaml")).validate()
        scene = scene or load_scene(cfg.scene)
        with tempfile.TemporaryDirectory() as tmp:
            trainer = Trainer(cfg, scene, tmp, progress=False)
            for _ in range(args.warmup):
                trainer.train_step()
            t0 = time.perf_counter()
            for _ in range(args.steps):
                trainer.train_step()
            ms = (time.perf_counter() - t0) / args.steps * 1e3
        print(f"{label}: {ms:.0f} ms/step ({trainer.n_rays} rays a step)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
