"""How well `nerf-ff process --camera-model OPENCV_FISHEYE` recovers a fisheye's focal length (BENCHMARKS.md,
"Fisheye captures"): the SfM test scene (tests/test_process.py) through a fisheye, processed RUNS times;
per run the focal's error, k1, the reprojection error and how far the recovered rays are from the true
ones after the similarity alignment of the camera centres (median / max degrees, every 6th camera).

    python scripts/fisheye_focal.py [--runs N] [--prior F] [--seed S]

--prior: the focal prior over the long side (process.FISHEYE_FOCAL_PRIOR); --seed: COLMAP's mapper seed
(-1: unseeded; default: process's own, 0). Needs pycolmap.
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import pycolmap  # noqa: E402
import test_process as scene  # noqa: E402

import nerf_ff.data.process as process_mod  # noqa: E402
from nerf_ff.data.align import umeyama  # noqa: E402
from nerf_ff.data.cameras import Cameras, image_rays, lens  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--prior", type=float)
    ap.add_argument("--seed", type=int)
    a = ap.parse_args()
    if a.prior is not None:
        process_mod.FISHEYE_FOCAL_PRIOR = a.prior
    if a.seed is not None:
        mapping = pycolmap.incremental_mapping

        def seeded(db, images, work, options, **kw):
            options.random_seed = a.seed
            return mapping(db, images, work, options, **kw)

        pycolmap.incremental_mapping = seeded
    n, f = 24, 0.5 * scene.W / 1.25  # as the test: edges 72 degrees from the axis before distortion
    pin = scene.orbit_cameras(n)
    cams = Cameras(pin.c2w, pin.fx * 0 + f, pin.fy * 0 + f, pin.cx, pin.cy, scene.W, scene.H,
                   torch.tensor([lens(0.04, -0.01, fisheye=True)] * n))
    root = Path(tempfile.mkdtemp())
    (root / "photos").mkdir()
    index = {}
    for i in range(n):
        o, d = image_rays(cams, i)
        img = (scene.trace(o.double().numpy(), d.double().numpy()) * 255 + 0.5).astype(np.uint8)
        Image.fromarray(img.reshape(scene.H, scene.W, 3)).save(root / "photos" / f"view_{i:03d}.png")
        index[f"images/view_{i:03d}.png"] = i
    print("run  focal error  k1      reprojection px  ray error deg (median, max)")
    for k in range(a.runs):
        out = root / f"run{k}"
        report = process_mod.process(root / "photos", out, camera_model="OPENCV_FISHEYE", progress=False)
        doc = json.loads((out / "transforms.json").read_text())
        est = np.array([fr["transform_matrix"] for fr in doc["frames"]])[:, :3, :4]
        idx = [index[fr["file_path"]] for fr in doc["frames"]]
        _, R, _ = umeyama(est[:, :, 3], cams.c2w[idx].double().numpy()[:, :, 3])
        m = len(idx)
        ks = [doc.get(key, 0.0) for key in ("k1", "k2", "k3", "k4")]
        got = Cameras(torch.tensor(est).float(), torch.full((m,), doc["fl_x"]), torch.full((m,), doc["fl_y"]),
                      torch.full((m,), doc["cx"]), torch.full((m,), doc["cy"]), scene.W, scene.H,
                      torch.tensor([lens(ks[0], ks[1], 0, 0, ks[2], ks[3], fisheye=True)] * m))
        med, worst = [], []
        for j in range(0, m, 6):
            d_est = image_rays(got, j)[1].double().numpy() @ R.T
            d_true = image_rays(cams, idx[j])[1].double().numpy()
            cos = (d_est * d_true).sum(-1) / np.linalg.norm(d_est, axis=-1) / np.linalg.norm(d_true, axis=-1)
            ang = np.degrees(np.arccos(np.clip(cos, -1, 1)))
            med.append(np.median(ang))
            worst.append(ang.max())
        print(f"{k:3d}  {100 * (doc['fl_x'] / f - 1):+8.1f} %  {doc['k1']:.3f}   {report['mean_reprojection_error']:.3f}"
              f"            {max(med):.2f}, {max(worst):.2f}", flush=True)


if __name__ == "__main__":
    main()
