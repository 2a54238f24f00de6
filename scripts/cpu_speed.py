#!/usr/bin/env python
"""Where a trained run's CPU time goes with the field-call sizes of the code, against the old ones.

    python scripts/cpu_speed.py RUN_DIR [--steps 96] [--views 5]

Prints, for the run's config and checkpoint (training continues from it in memory; nothing is written):
  training ms/step with the occupancy-grid update evaluated in chunks of 2^18 samples (the old size on
  every device) and of the default (2^13 on a CPU);
  rendering ms per held-out view with field calls sliced at 2^17 samples (the old CPU size) and at the
  default, each with and without reusing the density pass's trunk outputs in the colour pass
  (render.REUSE_TRUNK).
Measure on an idle machine; the numbers go into BENCHMARKS.md with the machine and date.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nerf_ff import backends, render  # noqa: E402
from nerf_ff.config import RunConfig, load_yaml  # noqa: E402
from nerf_ff.data import load_scene  # noqa: E402
from nerf_ff.samplers.occupancy import OccupancyGrid  # noqa: E402
from nerf_ff.trainer import Trainer  # noqa: E402


def step_ms(cfg: RunConfig, scene, run: Path, steps: int, chunk) -> float:
    update = OccupancyGrid.update
    try:
        if chunk is not None:
            OccupancyGrid.update = functools.partialmethod(update, chunk=chunk)
        trainer = Trainer(cfg, scene, run, progress=False)
        trainer.resume()
        for _ in range(5):
            trainer.train_step()
        t0 = time.perf_counter()
        for _ in range(steps):
            trainer.train_step()
        return (time.perf_counter() - t0) / steps * 1e3
    finally:
        OccupancyGrid.update = update


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path)
    p.add_argument("--steps", type=int, default=96, help="training steps timed per variant (a multiple of 16)")
    p.add_argument("--views", type=int, default=5, help="held-out views rendered per variant")
    args = p.parse_args()
    cfg = RunConfig.from_dict(load_yaml(args.run / "config.yaml"), where=str(args.run / "config.yaml"))
    scene = load_scene(cfg.scene)
    torch.manual_seed(0)
    for label, chunk in (("grid update in chunks of 2^18", 2**18), ("grid update at the default chunk", None)):
        print(f"train: {label}: {step_ms(cfg, scene, args.run, args.steps, chunk):.1f} ms/step", flush=True)

    trainer = Trainer(cfg, scene, args.run, progress=False)
    trainer.resume()
    model = trainer.model.eval()
    bg = render.eval_background(model.field, scene.background, opaque=not scene.test.has_alpha)
    cams = scene.test.cameras
    views = [i % len(cams) for i in range(1, args.views + 1)]
    with torch.no_grad():
        for max_samples in (2**17, backends.max_field_samples(torch.device("cpu"))):
            for reuse in (False, True):
                render.REUSE_TRUNK = reuse
                render.render_image(model.field, model.sampler, cams, 0, bg, chunk=cfg.eval.chunk,
                                    max_samples=max_samples)  # warm-up
                t0 = time.perf_counter()
                for i in views:
                    out = render.render_image(model.field, model.sampler, cams, i, bg, chunk=cfg.eval.chunk,
                                              max_samples=max_samples)
                ms = (time.perf_counter() - t0) / len(views) * 1e3
                print(f"render: field calls of <= {max_samples} samples, trunk reused {str(reuse).lower()}: "
                      f"{ms:.0f} ms/view ({cams.width}x{cams.height}, last view {out['n_samples']} samples)", flush=True)
    render.REUSE_TRUNK = True
    return 0


if __name__ == "__main__":
    sys.exit(main())
