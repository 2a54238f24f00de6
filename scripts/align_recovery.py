#!/usr/bin/env python
"""Does test-time alignment (eval --align, nerf_ff/align.py) bring a displaced camera back?

    python scripts/align_recovery.py RUN [VIEWS]      (VIEWS: held-out view indices, default 0,3)

Each held-out view of RUN (a run on a scene with exact poses, e.g. make_scenes.py's outdoor_ngp) is
turned by 1 degree about a random axis and moved by 1 % of the scene box, then fitted with the same
settings `nerf-ff eval --align` uses (eval.align_steps, default 200 when the run's config has 0). Printed
per view: PSNR at the exact pose, at the displaced pose and at the fitted one; the fitted camera's
rotation (degrees) and centre (% of the box) errors; and the same for a fit started at the exact pose
(where the field itself puts the optimum).
"""

import dataclasses
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nerf_ff.align import align_camera  # noqa: E402
from nerf_ff.data import load_scene  # noqa: E402
from nerf_ff.evaluate import composite_gt, load_run  # noqa: E402
from nerf_ff.metrics import psnr  # noqa: E402
from nerf_ff.poses import _log_rotations, _rotations  # noqa: E402
from nerf_ff.render import eval_background, render_image  # noqa: E402


def main(run: str, views: list[int]) -> None:
    cfg, model, _ = load_run(run)
    scene = model.posed(load_scene(cfg.scene))
    data = scene.splits["test"]
    bg = eval_background(model.field, scene.background.float(), opaque=not data.has_alpha)
    box, steps = model.box_size, cfg.eval.align_steps or 200
    for v in views:
        cams = data.cameras[[v]]
        gt = composite_gt(data.images[v], scene.background.float())
        gen = torch.Generator().manual_seed(v)
        axis, shift = torch.randn(1, 3, generator=gen), torch.randn(3, generator=gen)
        c2w = cams.c2w.clone()
        c2w[0, :, :3] = c2w[0, :, :3] @ _rotations(axis / axis.norm() * math.radians(1))[0]
        c2w[0, :, 3] += 0.01 * box * shift / shift.norm()
        displaced = dataclasses.replace(cams, c2w=c2w)

        def error(c):  # rotation (degrees), centre (% of the box) against the exact pose
            rot = math.degrees(float(_log_rotations(c.c2w[:, :, :3].transpose(1, 2) @ cams.c2w[:, :, :3]).norm()))
            return f"{rot:.3f} deg / {100 * float((c.c2w[0, :, 3] - cams.c2w[0, :, 3]).norm()) / box:.3f} %"

        def score(c):
            return f"{psnr(render_image(model.field, model.sampler, c, 0, bg, chunk=cfg.eval.chunk)['rgb'], gt):.2f} dB"

        fit = align_camera(model.field, model.sampler, displaced, 0, gt, None, bg, steps, cfg.eval.align_rays, box)[0]
        fit0 = align_camera(model.field, model.sampler, cams, 0, gt, None, bg, steps, cfg.eval.align_rays, box)[0]
        print(f"view {v}: exact {score(cams)}; displaced {error(displaced)}, {score(displaced)}; "
              f"fitted {error(fit)}, {score(fit)}; fitted from the exact pose {error(fit0)}, {score(fit0)}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], [int(v) for v in (sys.argv[2] if len(sys.argv) > 2 else "0,3").split(",")])
