"""Compare runs trained at different resolutions on one footing: a run's held-out renders
(RUN/eval/NNN.png) area-downscaled to the scene at `--downscale D`, scored against that scene's test
images (PSNR, SSIM; RGBA composited on the run's background).

    python scripts/psnr_at_scale.py RUN [RUN ...] --downscale 2
"""

import argparse
import dataclasses

import numpy as np
import torch

from nerf_ff.config import RunConfig, load_yaml
from nerf_ff.data import load_scene
from nerf_ff.data.images import downscale_image, read_image
from nerf_ff.evaluate import composite_gt
from nerf_ff.metrics import psnr, ssim


def score(run: str, downscale: int) -> tuple[int, tuple[int, int], float, float]:
    cfg = RunConfig.from_dict(load_yaml(f"{run}/config.yaml"))
    if downscale % cfg.scene.downscale:
        raise SystemExit(f"{run} was trained at downscale {cfg.scene.downscale}, which does not divide {downscale}")
    scene = load_scene(dataclasses.replace(cfg.scene, downscale=downscale), splits=["test"])
    bg = torch.tensor(cfg.scene.background, dtype=torch.float32)
    ps, ss = [], []
    for i in range(len(scene.test)):
        gt = composite_gt(scene.test.images[i], bg)
        pred = downscale_image(np.array(read_image(f"{run}/eval/{i:03d}.png"))[..., :3], downscale // cfg.scene.downscale)
        pred = torch.from_numpy(pred).float() / 255
        ps.append(float(psnr(pred, gt)))
        ss.append(float(ssim(pred, gt)))
    return len(ps), (gt.shape[1], gt.shape[0]), float(np.mean(ps)), float(np.mean(ss))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+")
    p.add_argument("--downscale", type=int, required=True, help="score at the scene downscaled by D")
    args = p.parse_args()
    for run in args.runs:
        n, (w, h), p_, s_ = score(run, args.downscale)
        print(f"{run}: {n} test views at {w}x{h}: PSNR {p_:.2f} dB, SSIM {s_:.3f}")


if __name__ == "__main__":
    main()
