"""nerfstudio's `camera_path.json` (its viewer's render export) is read too: top-level
`render_width`, `render_height`, `fps`, optional `seconds` and `camera_type` ("perspective"), and
`camera_path`, a list of {"camera_to_world": 16 numbers, a row-major 4x4 OpenGL c2w, "fov":
vertical field of view in degrees}. Each entry is one frame (resampled along the same spline when
`n_frames` asks for another count). nerfstudio's world is its dataparser-normalised frame: a path
made there fits this project's scene only where the two worlds agree (otherwise apply the inverse
of its `dataparser_transforms.json` first).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..data.cameras import Cameras
from ..errors import UserError
from .files import _as_c2w, _number, _rigid, _rows4
from .frame import _F64, _cameras, _resolution
from .spline import KeyframePath


def _load_nerfstudio(data: dict, path: Path, n_frames, resolution) -> tuple[Cameras, float]:
    entries = data["camera_path"]
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        raise UserError(f"{path}: \"camera_path\" must be a non-empty list of camera objects; fix the file")
    if data.get("camera_type", "perspective") != "perspective":
        raise UserError(f"{path}: camera_type {data['camera_type']!r} is not supported; export a perspective path")
    for key in ("render_width", "render_height"):
        if key not in data:
            raise UserError(f"{path}: nerfstudio camera path has no \"{key}\"; export it again from the viewer")
    W, H = _resolution((data["render_width"], data["render_height"]))
    if "fps" in data:
        fps = _number(data["fps"], f"{path}: fps")
    elif "seconds" in data:
        fps = len(entries) / _number(data["seconds"], f"{path}: seconds")
    else:
        fps = 30.0
    c2w, fov = [], []
    for i, e in enumerate(entries):
        for key in ("camera_to_world", "fov"):
            if key not in e:
                raise UserError(f"{path}: camera_path entry {i} has no \"{key}\"; export it again from the viewer")
        c2w.append(_rigid(e["camera_to_world"], f"{path}: camera_path entry {i} camera_to_world", flat=True))
        fov.append(_number(e["fov"], f"{path}: camera_path entry {i} fov", 0.0, 180.0))
    c2w = torch.stack(c2w)  # [K, 3, 4]
    focal = 0.5 * H / torch.tan(torch.deg2rad(torch.tensor(fov, dtype=_F64)) / 2)  # [K] vertical fov → pixels
    if n_frames is not None and n_frames != len(entries):
        t = torch.linspace(0, len(entries) - 1, n_frames, dtype=_F64)
        c2w = KeyframePath(c2w, times=torch.arange(len(entries), dtype=_F64))(t)
        lo = t.floor().long().clamp(max=len(entries) - 1)
        hi = (lo + 1).clamp(max=len(entries) - 1)
        focal = focal[lo] + (t - lo) * (focal[hi] - focal[lo])
    sx, sy = 1.0, 1.0
    if resolution is not None:
        W2, H2 = _resolution(resolution)
        sx, sy, W, H = W2 / W, H2 / H, W2, H2
    return _cameras(c2w, focal * sx, focal * sy, W / 2, H / 2, W, H), fps


def save_nerfstudio_path(path, cams: Cameras, *, fps: float = 30.0) -> None:
    """Write cameras as a nerfstudio camera_path.json (one entry per frame; vertical fov from fy)."""
    c2w = _as_c2w(cams)
    fov = torch.rad2deg(2 * torch.atan(0.5 * cams.height / cams.fy.to(_F64).cpu())).tolist()
    out = {
        "camera_type": "perspective",
        "render_width": int(cams.width),
        "render_height": int(cams.height),
        "fps": fps,
        "seconds": len(c2w) / fps,
        "camera_path": [{"camera_to_world": sum(_rows4(m), []), "fov": f, "aspect": cams.width / cams.height}
                        for m, f in zip(c2w, fov)],
    }
    Path(path).write_text(json.dumps(out, indent=1))
