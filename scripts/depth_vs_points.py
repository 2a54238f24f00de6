"""Does a run's rendered depth put things where structure from motion found them?

    python scripts/depth_vs_points.py RUN_DIR SFM_SCENE [--json OUT.json]

RUN_DIR: a trained and evaluated run (eval/NNN_depth.npy of its held-out views). SFM_SCENE: a folder
with a COLMAP model of the same photos (e.g. `nerf-ff process` of the images, which ignores the run's
poses). The SfM camera centres are aligned to the run's cameras by image name (a similarity, Umeyama),
the SfM points moved with them, and each held-out view's own observed points (visible there by
construction) projected into it: the rendered depth at that pixel over the point's distance along
the ray should be ~1. Fog in front of the cameras gives ratios far below 1. Prints JSON.
"""

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from nerf_ff.data import load_scene
from nerf_ff.data.align import umeyama
from nerf_ff.data.cameras import Cameras, project
from nerf_ff.data.colmap import c2w_opengl, find_model, read_model
from nerf_ff.evaluate import load_run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir")
    ap.add_argument("sfm_scene")
    ap.add_argument("--json")
    args = ap.parse_args()
    cfg, _, _ = load_run(args.run_dir, device="cpu")
    scene = load_scene(cfg.scene)
    sfm = read_model(find_model(Path(args.sfm_scene)))
    sfm_by_name = {Path(im.name).name: im for im in sfm.images.values()}
    cams = Cameras.cat([scene.train.cameras, scene.test.cameras])
    names = [Path(n).name for n in scene.train.names + scene.test.names]
    common = [k for k, n in enumerate(names) if n in sfm_by_name]
    src = np.stack([c2w_opengl(sfm_by_name[names[k]])[:, 3] for k in common])
    dst = cams.c2w[common, :, 3].double().numpy()
    s, R, t = umeyama(src, dst)
    resid = np.linalg.norm(s * src @ R.T + t - dst, axis=-1)
    pts = s * sfm.points.xyz @ R.T + t  # [P, 3] in the run's world frame
    index_of = {int(pid): k for k, pid in enumerate(sfm.points.ids)}
    roi_lo, roi_hi = scene.aabb[:3].double().numpy(), scene.aabb[3:].double().numpy()
    views, all_ratios, roi_ratios = [], [], []
    for i, name in enumerate(scene.test.names):
        im = sfm_by_name.get(Path(name).name)
        depth_file = Path(args.run_dir) / "eval" / f"{i:03d}_depth.npy"
        if im is None or not depth_file.is_file():
            continue
        depth = torch.from_numpy(np.load(depth_file).astype(np.float32))
        ids = [index_of[int(p)] for p in im.point3D_ids if int(p) in index_of]
        p = torch.from_numpy(pts[ids]).float()
        uv, z = project(scene.test.cameras, i, p)
        h, w = depth.shape
        ok = (z > 0) & (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)
        uv, p = uv[ok].long(), p[ok]
        dist = (p - scene.test.cameras.c2w[i, :, 3]).norm(dim=-1)
        ratio = (depth[uv[:, 1], uv[:, 0]] / dist).numpy()
        in_roi = ((p.double().numpy() >= roi_lo) & (p.double().numpy() <= roi_hi)).all(-1)
        all_ratios.append(ratio)
        roi_ratios.append(ratio[in_roi])
        views.append({"view": name, "points": int(len(ratio)), "median_ratio": float(np.median(ratio)),
                      "within_10pct": float(np.mean(np.abs(ratio - 1) < 0.1)),
                      "roi_points": int(in_roi.sum()),
                      "roi_median_ratio": float(np.median(ratio[in_roi])) if in_roi.any() else None})
    allr, roir = np.concatenate(all_ratios), np.concatenate(roi_ratios)
    out = {"run": args.run_dir, "sfm": args.sfm_scene, "aligned_cameras": len(common),
           "alignment_residual_max": float(resid.max()), "points": int(len(allr)),
           "median_ratio": float(np.median(allr)), "within_10pct": float(np.mean(np.abs(allr - 1) < 0.1)),
           "roi_points": int(len(roir)), "roi_median_ratio": float(np.median(roir)),
           "roi_within_10pct": float(np.mean(np.abs(roir - 1) < 0.1)), "views": views}
    text = json.dumps(out, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text)


if __name__ == "__main__":
    main()
