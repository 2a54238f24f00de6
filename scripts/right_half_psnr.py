#!/usr/bin/env python
"""PSNR over the right half of each held-out view, from a run's saved renders (eval/NNN.png and, after
`nerf-ff eval --align`, eval/NNN_aligned.png): the pixels on which aligned views of a run with
appearance codes are scored (align.py), so runs with and without codes compare on the same pixels.

    python scripts/right_half_psnr.py RUN [RUN ...]
"""

import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nerf_ff.align import left_half  # noqa: E402
from nerf_ff.data import load_scene  # noqa: E402
from nerf_ff.evaluate import composite_gt  # noqa: E402
from nerf_ff.config import RunConfig, load_yaml  # noqa: E402
from nerf_ff.metrics import psnr  # noqa: E402

for run in map(Path, sys.argv[1:]):
    cfg = RunConfig.from_dict(load_yaml(run / "config.yaml")).validate()
    scene = load_scene(cfg.scene)
    data = scene.splits["test"]
    for suffix in ("", "_aligned"):
        files = [run / "eval" / f"{i:03d}{suffix}.png" for i in range(len(data))]
        if not all(f.is_file() for f in files):
            print(f"{run}: no eval/NNN{suffix}.png for every view")
            continue
        values = []
        for i, f in enumerate(files):
            gt = composite_gt(data.images[i], scene.background.float())
            right = ~left_half(gt.shape[1], torch.arange(gt.shape[1]))
            pred = torch.from_numpy(iio.imread(f)[..., :3]).float() / 255
            values.append(psnr(pred[:, right], gt[:, right]))
        print(f"{run} {'aligned' if suffix else 'given poses'}: right-half PSNR {np.mean(values):.2f} dB "
              f"over {len(values)} views")
