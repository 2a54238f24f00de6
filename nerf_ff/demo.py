"""What `nerf-ff demo` leaves for a newcomer to look at, beside the run's metrics:

    RUN/demo_views.png        for a few test views: ground truth | prediction | depth, side by side
    RUN/videos/orbit.mp4      an orbit around the scene (rgb | depth), larger than the 64x64 training images
"""

from __future__ import annotations

import json
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import torch

from .evaluate import composite_gt, to_u8
from .video import grid

ORBIT_FRAMES = 90
ORBIT_SIDE = 256
VIEWS_SHOWN = 4
PANEL_SIDE = 192


def _big(img: np.ndarray, side: int = PANEL_SIDE) -> np.ndarray:
    """uint8 [H, W, 3] enlarged by a whole factor (nearest: the pixels stay honest), then labelled later."""
    k = max(1, side // max(img.shape[:2]))
    return np.ascontiguousarray(img.repeat(k, 0).repeat(k, 1))


def _titled(img: np.ndarray, text: str) -> np.ndarray:
    """A white strip with black text above the image."""
    import cv2  # noqa: PLC0415

    strip = np.full((22, img.shape[1], 3), 255, np.uint8)
    cv2.putText(strip, text, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([strip, img], 0)


def side_by_side(run_dir: Path, scene, out: Path) -> Path:
    """Ground truth | prediction | depth for up to VIEWS_SHOWN evaluated test views, one row each."""
    run_dir = Path(run_dir)
    test = scene.test
    done = sorted(int(p.stem) for p in (run_dir / "eval").glob("[0-9][0-9][0-9].png"))
    picks = [done[round(i)] for i in np.linspace(0, len(done) - 1, min(VIEWS_SHOWN, len(done)))]
    rows = []
    for i in dict.fromkeys(picks):
        gt = to_u8(composite_gt(test.view(i)[0], scene.background.float()))
        pred = iio.imread(run_dir / "eval" / f"{i:03d}.png")[..., :3]
        depth = iio.imread(run_dir / "eval" / f"{i:03d}_depth.png")[..., :3]
        rows.append([_titled(_big(img), label)
                     for img, label in ((gt, f"ground truth, test view {i}"), (pred, "prediction"), (depth, "depth"))])
    out.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(out, grid(rows))
    return out


def summary_line(run_dir: Path, seconds: float) -> str:
    """What the demo run scored, from its metrics.json, and where its outputs are."""
    m = json.loads((Path(run_dir) / "metrics.json").read_text())
    lpips = f"{m['lpips']:.3f}" if m["lpips"] is not None else f"n/a ({m['lpips_note']})"
    sigma = f" sigma={m['sigma']:g}" if m["sigma"] else ""
    return (f"\ndemo finished in {seconds:.0f} s: {m['encoding']}{sigma} on the built-in scene, {m['n_views']} test "
            f"views: PSNR {m['psnr']:.2f} dB, SSIM {m['ssim']:.3f}, LPIPS {lpips}\n"
            f"rendered test views: {Path(run_dir) / 'eval'}   metrics: {Path(run_dir) / 'metrics.json'}")


def newcomer_outputs(run_dir, progress: bool = True) -> dict:
    """The side-by-side image and the orbit video of a finished demo run; returns their paths."""
    from .config import RunConfig, load_yaml  # noqa: PLC0415
    from .data import load_scene  # noqa: PLC0415
    from .video import render_path  # noqa: PLC0415

    run_dir = Path(run_dir)
    cfg = RunConfig.from_dict(load_yaml(run_dir / "config.yaml"))
    scene = load_scene(cfg.scene, splits=("train", "test"))
    views = side_by_side(run_dir, scene, run_dir / "demo_views.png")
    with torch.inference_mode():
        video = render_path(run_dir, "orbit", frames=ORBIT_FRAMES, resolution=(ORBIT_SIDE, ORBIT_SIDE),
                            outputs="rgb,depth", progress=progress)
    return {"views": str(views), "video": str(video["out"])}
