"""Rendered depth of a run on a generated outdoor scene (scripts/make_scenes.py) against its true,
ray-traced depth, on the held-out views (BENCHMARKS.md, "Forward-facing captures").

    python scripts/outdoor_depth.py RUN [--view K]

Per depth band (objects and near ground < 5 units, ground 5-20): the expected depth (what
eval/NNN_depth.png shows) and the median depth (where half a ray's weight is reached) over the true
depth, the share of pixels whose median depth is within 10 %, and the mean weight a ray puts beyond
1.5x its true depth (semi-transparent surfaces with more behind them).
"""

import argparse

import numpy as np
import torch

from nerf_ff.data import load_scene
from nerf_ff.data.cameras import image_rays
from nerf_ff.data.outdoor import trace_outdoor
from nerf_ff.evaluate import load_run
from nerf_ff.render import eval_background, render_rays

BANDS = ((0.0, 5.0, "objects + near ground (< 5)"), (5.0, 20.0, "ground 5-20"))


def view_depths(model, scene, index: int, chunk: int = 4096):
    """true t, expected depth, median depth, weight beyond 1.5x true; each [H*W] numpy."""
    cams = scene.test.cameras
    o, d = image_rays(cams, index)
    _, t_true = trace_outdoor(o, d)
    bg = eval_background(model.field, scene.background, opaque=True)
    exp, med, far = [], [], []
    for s in range(0, o.shape[0], chunk):
        oc, dc, tc = o[s:s + chunk], d[s:s + chunk], t_true[s:s + chunk].float()
        with torch.no_grad():
            out = render_rays(model.field, model.sampler, oc, dc, bg)
        w, ri = out["weights"], out["ray_indices"]
        t = 0.5 * (out["t_starts"] + out["t_ends"])
        n = oc.shape[0]
        total = torch.zeros(n).index_add_(0, ri, w)
        # samples are packed ray by ray in increasing t: a running sum, less the sum before each ray
        run = torch.cumsum(w, 0)
        before = torch.zeros(n).scatter_reduce_(0, ri, run - w, "amin", include_self=False)
        reached = (run - before[ri]) >= 0.5 * total[ri]
        # median depth: the smallest t of a ray whose running weight has reached half its total
        m = torch.full((n,), float("inf")).scatter_reduce_(0, ri[reached], t[reached], "amin")
        m[torch.isinf(m)] = float("nan")
        beyond = torch.zeros(n).index_add_(0, ri, w * (t > 1.5 * tc[ri]))
        exp.append(out["depth"]), med.append(m), far.append(beyond)
    return t_true.numpy(), torch.cat(exp).numpy(), torch.cat(med).numpy(), torch.cat(far).numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("--view", type=int, help="one held-out view (default: all)")
    args = ap.parse_args()
    cfg, model, _ = load_run(args.run, "cpu")
    scene = load_scene(cfg.scene)
    views = [args.view] if args.view is not None else range(len(scene.test))
    rows = [view_depths(model, scene, i) for i in views]
    t, exp, med, far = (np.concatenate(c) for c in zip(*rows))
    print(f"{args.run}: {len(rows)} held-out view(s)")
    for lo, hi, name in BANDS:
        m = (t >= lo) & (t < hi)
        r_med = med[m] / t[m]
        print(f"  {name:28s} {int(m.sum()):6d} px  expected/true {np.median(exp[m] / t[m]):.3f}  "
              f"median/true {np.nanmedian(r_med):.3f}  within 10% {np.mean(np.abs(r_med - 1) < 0.1):.2f}  "
              f"weight beyond 1.5x true {far[m].mean():.3f}")


if __name__ == "__main__":
    main()
