"""Rendered depth of a run on a generated outdoor scene (scripts/make_scenes.py) against its true,
ray-traced depth, on the held-out views (BENCHMARKS.md, "Forward-facing captures").

    python scripts/outdoor_depth.py RUN [--view K] [--png OUT.png]

Per depth band (objects and near ground < 5 units, ground 5-20): the expected depth (the weighted
mean, `--depth expected`) and the median depth (where half a ray's weight is reached: what
eval/NNN_depth.png shows) over the true depth, the share of pixels whose median depth is within
10 %, and the mean weight a ray puts beyond 1.5x its true depth (semi-transparent surfaces with more
behind them). --png: one row per view, rgb | median depth | expected depth (disparity colours, as
eval/NNN_depth.png), enlarged 2x.
"""

import argparse

import imageio.v3 as iio
import numpy as np
import torch

from nerf_ff.data import load_scene
from nerf_ff.data.cameras import image_rays
from nerf_ff.data.outdoor import trace_outdoor
from nerf_ff.depth import depth_image, depth_value
from nerf_ff.evaluate import load_run
from nerf_ff.packed import median_depth
from nerf_ff.render import eval_background, render_rays
from nerf_ff.video import to_u8

BANDS = ((0.0, 5.0, "objects + near ground (< 5)"), (5.0, 20.0, "ground 5-20"))


def view_depths(model, scene, index: int, chunk: int = 4096):
    """true t, expected depth, median depth, weight beyond 1.5x true, each [H*W] numpy; rendered rgb and
    opacity [H*W(, 3)] torch."""
    cams = scene.test.cameras
    o, d = image_rays(cams, index)
    _, t_true = trace_outdoor(o, d)
    bg = eval_background(model.field, scene.background, opaque=True)
    exp, med, far, rgb, op = [], [], [], [], []
    for s in range(0, o.shape[0], chunk):
        oc, dc, tc = o[s:s + chunk], d[s:s + chunk], t_true[s:s + chunk].float()
        with torch.no_grad():
            out = render_rays(model.field, model.sampler, oc, dc, bg)
        w, ri = out["weights"], out["ray_indices"]
        t = 0.5 * (out["t_starts"] + out["t_ends"])
        n = oc.shape[0]
        m = median_depth(w, out["t_starts"], out["t_ends"], ri, n, out["opacity"])  # what eval/*_depth.png shows
        beyond = torch.zeros(n).index_add_(0, ri, w * (t > 1.5 * tc[ri]))
        exp.append(out["depth"]), med.append(m), far.append(beyond), rgb.append(out["rgb"]), op.append(out["opacity"])
    return (t_true.numpy(), torch.cat(exp).numpy(), torch.cat(med).numpy(), torch.cat(far).numpy(),
            torch.cat(rgb), torch.cat(op))


def picture(rows, h: int, w: int) -> np.ndarray:
    """rgb | median depth | expected depth per view, as uint8 [2 h V, 6 w, 3]."""
    out = []
    for _, exp, med, _, rgb, op in rows:
        o = op.view(h, w)
        disp = depth_value(torch.from_numpy(med), disparity=True)
        lo_hi = (float(torch.quantile(disp[op > 0.5], 0.02)), 0.0)  # one colour range for both depths
        panels = [to_u8(rgb.view(h, w, 3)).numpy(),
                  depth_image(torch.from_numpy(med).view(h, w), o, disparity=True, lo_hi=lo_hi),
                  depth_image(torch.from_numpy(exp).view(h, w), o, disparity=True, lo_hi=lo_hi)]
        out.append(np.concatenate(panels, 1))
    return np.concatenate(out, 0).repeat(2, 0).repeat(2, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("--view", type=int, help="one held-out view (default: all)")
    ap.add_argument("--png", help="write rgb | median | expected depth of the views to this PNG")
    args = ap.parse_args()
    cfg, model, _ = load_run(args.run, "cpu")
    scene = load_scene(cfg.scene)
    views = [args.view] if args.view is not None else range(len(scene.test))
    rows = [view_depths(model, scene, i) for i in views]
    t, exp, med, far = (np.concatenate(c) for c in list(zip(*rows))[:4])
    if args.png:
        iio.imwrite(args.png, picture(rows, scene.test.cameras.height, scene.test.cameras.width))
    print(f"{args.run}: {len(rows)} held-out view(s)")
    for lo, hi, name in BANDS:
        m = (t >= lo) & (t < hi)
        r_med = med[m] / t[m]
        print(f"  {name:28s} {int(m.sum()):6d} px  expected/true {np.median(exp[m] / t[m]):.3f}  "
              f"median/true {np.nanmedian(r_med):.3f}  within 10% {np.mean(np.abs(r_med - 1) < 0.1):.2f}  "
              f"weight beyond 1.5x true {far[m].mean():.3f}")


if __name__ == "__main__":
    main()
