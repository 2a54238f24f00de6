"""Median against expected depth on a trained run's test views: how far apart they are where the field
is opaque, and what each costs to render (BENCHMARKS.md, "Median depth by default").

    python scripts/depth_kinds.py RUN [--views 0 5] [--size 400] [--repeats 2]

Per view: the median and 95th percentile of |median - expected| over pixels with opacity > 0.5, in
world units, next to the box size. Timing: each view rendered at SIZE x SIZE (same field of view) with
each depth kind, the kinds interleaved, REPEATS rounds; ms per frame, fastest and slowest.
"""

import argparse
import time

import torch

from nerf_ff.data import load_scene
from nerf_ff.evaluate import load_run
from nerf_ff.render import eval_background, render_image
from nerf_ff.video_paths import rescale_cameras

KINDS = ("expected", "median")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("--views", type=int, nargs="+", default=[0, 5], help="test views (default 0 5)")
    ap.add_argument("--size", type=int, default=400, help="side of the timed frames (default 400)")
    ap.add_argument("--repeats", type=int, default=2, help="timing rounds (default 2)")
    args = ap.parse_args()
    cfg, model, _ = load_run(args.run, "cpu")
    scene = load_scene(cfg.scene, splits=("train", "test"))
    cams = scene.test.cameras
    bg = eval_background(model.field, scene.background, not scene.train.has_alpha)
    box = (scene.aabb[3:] - scene.aabb[:3]).tolist()
    print(f"{args.run}: box {', '.join(f'{b:.2f}' for b in box)} units")
    for i in args.views:
        out = {k: render_image(model.field, model.sampler, cams, i, bg, chunk=cfg.eval.chunk, depth=k) for k in KINDS}
        opaque = out["median"]["opacity"] > 0.5
        diff = (out["median"]["depth"] - out["expected"]["depth"])[opaque].abs()
        q50, q95 = torch.quantile(diff, torch.tensor([0.5, 0.95])).tolist()
        print(f"  view {i}: {int(opaque.sum())} opaque px, |median - expected| median {q50:.5f}, 95th pct {q95:.5f}")
    big = rescale_cameras(cams, (args.size, args.size))
    ms = {k: [] for k in KINDS}
    for _ in range(args.repeats):
        for k in KINDS:
            for i in args.views:
                t0 = time.perf_counter()
                render_image(model.field, model.sampler, big, i, bg, chunk=cfg.eval.chunk, depth=k)
                ms[k].append(1000 * (time.perf_counter() - t0))
    for k in KINDS:
        print(f"  {k:8s} {args.size}x{args.size}: {min(ms[k]):.0f}-{max(ms[k]):.0f} ms per frame ({len(ms[k])} frames)")


if __name__ == "__main__":
    main()
