"""Camera paths for `nerf-ff render`: a named path (auto, orbit, spiral, interpolate, test) or a path
file → Cameras, and where a forward-facing spiral looks (the field's own depth).

`auto` is an orbit when the training cameras look at a common focus (a walk around, a turntable) and a
spiral for a forward-facing capture, whose orbit would circle to the unseen back of the scene; the
focus rule is the one that places the scene's region of interest (data/bounds.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch import Tensor

from . import trajectories
from .data.cameras import Cameras
from .data.scene import SceneData
from .errors import UserError
from .render import eval_background, render_image

PATHS = ("auto", "orbit", "spiral", "interpolate", "test")
DEFAULT_FRAMES = 120
FOCUS_SIDE = 96  # longest side of the render that finds a forward-facing spiral's focus, pixels


def render_view(run, cams: Cameras, index: int, background: Tensor, chunk: int, opaque: bool = False,
                depth: str = "median") -> dict:
    """One view of a loaded run (video.VideoRun) without autograd: render_image's rgb / depth / opacity."""
    m = run.model
    with torch.inference_mode():
        return render_image(m.field, m.sampler, cams, index, eval_background(m.field, background, opaque),
                            chunk=chunk, amp=run.amp, depth=depth)


def rescale_cameras(cams: Cameras, resolution: Optional[tuple[int, int]]) -> Cameras:
    """Cameras rendering `resolution` (W, H) with the same field of view (per-axis intrinsics scale)."""
    if resolution is None:
        return cams
    return cams.resized(*resolution)


def at_most(cams: Cameras, side: int) -> Cameras:
    """`cams` with the same field of view and at most `side` pixels on the long side (small probe renders)."""
    scale = min(1.0, side / max(cams.width, cams.height))
    return rescale_cameras(cams, (max(1, round(cams.width * scale)), max(1, round(cams.height * scale))))


def auto_path(train: Cameras) -> tuple[str, str]:
    """The path `--path auto` takes, and why: an orbit when the training cameras look at a common focus
    (a walk around, a turntable), else a spiral (a forward-facing capture: an orbit would circle to the
    unseen back of the scene). The focus rule is the one that places the scene's region of interest."""
    from .data.bounds import camera_axes, focus_point  # noqa: PLC0415

    if focus_point(*camera_axes(train)) is not None:
        return "orbit", "the cameras look at a common focus"
    return "spiral", "the cameras share no focus: a forward-facing capture"


def field_focus_depth(run, train: Cameras, background: Tensor, chunk: int, opaque: bool = False,
                      side: int = FOCUS_SIDE) -> Optional[float]:
    """Where a forward-facing spiral looks: the harmonic mean (the mean in disparity, as LLFF mixes its
    near and far bounds) of the rendered depth of the opaque pixels of the training view nearest the
    cameras' mean centre, at `side` pixels; None where it renders nothing opaque. The optical axes of
    such a capture are nearly parallel, so the point nearest to all of them is ill-defined."""
    centres = train.c2w[:, :, 3]
    k = int((centres - centres.mean(0)).norm(dim=-1).argmin())
    out = render_view(run, at_most(train.alone(k), side), 0, background, chunk, opaque)
    d = out["depth"][out["opacity"] > 0.5].double()
    d = d[torch.isfinite(d) & (d > 0)]
    return float(1.0 / (1.0 / d).mean()) if d.numel() >= 16 else None


def camera_path(scene: SceneData, path: str, n_frames: Optional[int] = None,
                resolution: Optional[tuple[int, int]] = None,
                focus_depth: Optional[float] = None) -> tuple[Cameras, Optional[float], str]:
    """A named path or a path file → (cameras, fps the file asks for or None, a name for output files).

    auto is orbit or spiral (`auto_path`); orbit / spiral / interpolate follow the training cameras
    (`n_frames`, default 120; the spiral looks `focus_depth` ahead, default the cameras' focus point);
    test is the held-out cameras (all of them, or `n_frames` evenly spaced); FILE.json is a keyframe or
    nerfstudio path file (see nerf_ff/trajectories/). resolution (W, H) keeps the field of view.
    """
    train = scene.train.cameras
    if path == "auto":
        path = auto_path(train)[0]
    if path in ("orbit", "spiral", "interpolate"):
        n = DEFAULT_FRAMES if n_frames is None else n_frames
        if path == "orbit":
            cams = trajectories.orbit(train, n, resolution=resolution)
        elif path == "spiral":
            cams = trajectories.spiral(train, n, focus_depth=focus_depth, resolution=resolution)
        else:  # a key pose about every half second of a 30 fps video, in nearest-neighbour order
            keys = max(2, min(len(train), n // 15)) if n > 1 else None
            cams = trajectories.interpolate(train, n, max_keys=keys, resolution=resolution)
        return cams, None, path
    if path == "test":
        if scene.splits.get("test") is None or len(scene.test) == 0:
            raise UserError(f"scene {scene.name} has no test views; use --path orbit, spiral or interpolate")
        cams = trajectories.held_out_views(scene.test.cameras.on_canvas())  # frames of one size
        if n_frames is not None and n_frames < len(cams):
            if n_frames < 1:
                raise UserError(f"--frames must be a positive integer, got {n_frames}; pass e.g. 120")
            cams = cams[[int(round(i)) for i in np.linspace(0, len(cams) - 1, n_frames)]]
        return rescale_cameras(cams, resolution), None, path
    if path.lower().endswith(".json"):
        cams, fps = trajectories.load_path_file(path, train, n_frames, resolution=resolution)
        return cams, fps, Path(path).stem
    raise UserError(f"--path {path!r} is unknown; use {', '.join(PATHS)} or a camera path .json file")
