#!/usr/bin/env python
"""The SfM test scene (tests/test_process.py: spheres and a box with band-pass random textures in a
textured backdrop), written as 24 photos and processed, and how much of its images is fine detail.

    python scripts/texture_scene.py OUT     # OUT/photos, OUT/scene (nerf-ff process), then prints
    nerf-ff train OUT/scene --out OUT/run   # the automatic defaults on it

Prints the PSNR of view 0 against itself blurred by a Gaussian of 1..16 px and against its mean colour:
what a field that fits only the coarser detail can score at best.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import test_process as tp  # noqa: E402
from nerf_ff.data.process import process  # noqa: E402


def main() -> int:
    from PIL import Image

    out = Path(sys.argv[1])
    photos = out / "photos"
    photos.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(tp.render(tp.orbit_cameras(24))):
        Image.fromarray(img).save(photos / f"view_{i:03d}.png")
    report = process(photos, out / "scene", progress=False)
    print(f"registered {report['registered']} of {report['total']} photos → {out / 'scene'}")
    a = cv2.imread(str(photos / "view_000.png")).astype(np.float32) / 255
    psnr = lambda b: -10 * np.log10(((a - b) ** 2).mean())  # noqa: E731
    for s in (1, 2, 4, 8, 16):
        print(f"view 0 against itself blurred by {s:2d} px: {psnr(cv2.GaussianBlur(a, (0, 0), s)):.1f} dB")
    print(f"view 0 against its mean colour: {psnr(a.mean((0, 1))):.1f} dB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
