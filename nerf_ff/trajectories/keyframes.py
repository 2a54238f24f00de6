"""Keyframe file (JSON; `load_path_file`, `save_path_file`):

    {
      "format": "nerf_ff-keyframes-v1",
      "fps": 30,              # optional, default 30
      "frames": 120,          # output frame count; optional when every keyframe has a "time"
      "fov_x_deg": 50.0,      # optional horizontal field of view; default: the reference camera's
      "loop": false,          # optional; true closes the path back to the first keyframe
      "keyframes": [
        {"c2w": [[r00, r01, r02, tx], [r10, r11, r12, ty], [r20, r21, r22, tz]],  # 3x4 or 4x4
         "time": 0.0},        # optional seconds; on all keyframes or none, strictly increasing
        ...
      ]
    }

`c2w` is a camera-to-world matrix (rows) in this project's world frame with OpenGL axes (x right,
y up, the camera looks down -z); its rotation must be orthonormal with det +1 (to 1e-3).
Frames are interpolated between keyframes as `interpolate` does (`KeyframePath`). Without times,
keyframes are spaced by the path's length and turning; with times, the n frames are spread
uniformly from the first to the last time (a loop's closing segment lasts the mean keyframe
spacing) and a missing "frames" means round(duration * fps) + 1 (a loop: round(duration * fps)).
A path with one keyframe is a still camera.

The loader also reads nerfstudio's `camera_path.json` (see `nerfstudio`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional, Sequence, Union

import torch
from torch import Tensor

from ..data.cameras import Cameras
from ..errors import UserError
from .files import _as_c2w, _number, _read_json, _rigid, _rows4
from .frame import _cameras, _check_count, _intrinsics
from .nerfstudio import _load_nerfstudio
from .spline import KeyframePath

FORMAT = "nerf_ff-keyframes-v1"


def load_path_file(path, reference: Cameras, n_frames: Optional[int] = None, *,
                   resolution=None) -> tuple[Cameras, float]:
    """A keyframe file or a nerfstudio camera_path.json (see the module docstring) → (Cameras, fps).

    reference supplies the intrinsics of keyframe files without fov_x_deg (its first camera);
    nerfstudio paths carry their own. n_frames overrides the file's frame count.
    """
    path = Path(path)
    data = _read_json(path)
    if n_frames is not None:
        _check_count(n_frames)
    if "camera_path" in data:
        return _load_nerfstudio(data, path, n_frames, resolution)
    if data.get("format") == FORMAT:
        return _load_keyframes(data, path, reference, n_frames, resolution)
    raise UserError(f"{path} is neither a {FORMAT} keyframe file (\"format\" key) nor a nerfstudio camera_path.json "
                    "(\"camera_path\" key); see nerf_ff/trajectories/keyframes.py for the format")


def _load_keyframes(data: dict, path: Path, reference: Cameras, n_frames, resolution) -> tuple[Cameras, float]:
    fps = _number(data.get("fps", 30), f"{path}: fps")
    keys = data.get("keyframes")
    if not isinstance(keys, list) or not keys or not all(isinstance(k, dict) and "c2w" in k for k in keys):
        raise UserError(f"{path}: \"keyframes\" must be a non-empty list of objects with a \"c2w\" matrix; "
                        "fix the file")
    c2w = torch.stack([_rigid(k["c2w"], f"{path}: keyframe {i} c2w") for i, k in enumerate(keys)])
    timed = ["time" in k for k in keys]
    if any(timed) and not all(timed):
        raise UserError(f"{path}: some keyframes have a \"time\" and some do not; give every keyframe a time or none")
    times = None
    if all(timed):
        times = [_number(k["time"], f"{path}: keyframe {i} time", -math.inf) for i, k in enumerate(keys)]
        if any(t1 <= t0 for t0, t1 in zip(times, times[1:])):
            raise UserError(f"{path}: keyframe times must be strictly increasing, got {times}; fix the times")
    loop = data.get("loop", False)
    if not isinstance(loop, bool):
        raise UserError(f"{path}: \"loop\" must be true or false, got {loop!r}; fix the file")
    path_ = KeyframePath(c2w, times=times, loop=loop)
    if n_frames is None:
        if "frames" in data:
            n_frames = data["frames"]
            if isinstance(n_frames, bool) or not isinstance(n_frames, int) or n_frames < 1:
                raise UserError(f"{path}: \"frames\" must be a positive integer, got {n_frames!r}; fix the file")
        elif times is not None:
            n_frames = max(1, round((path_.end - path_.start) * fps) + (0 if path_.loop else 1))
        else:
            raise UserError(f"{path}: no \"frames\" count and no keyframe times; add \"frames\": N")
    fx, fy, cx, cy, W, H = _intrinsics(reference, resolution)
    if "fov_x_deg" in data:
        fov = _number(data["fov_x_deg"], f"{path}: fov_x_deg", 0.0, 180.0)
        fx = fy = 0.5 * W / math.tan(math.radians(fov) / 2)
        cx, cy = W / 2, H / 2
    return _cameras(path_.sample(n_frames), fx, fy, cx, cy, W, H), fps



def save_path_file(path, keys: Union[Cameras, Tensor], frames: Optional[int] = None, *, fps: float = 30.0,
                   times: Optional[Sequence[float]] = None, loop: bool = False,
                   fov_x_deg: Optional[float] = None) -> None:
    """Write a keyframe file (module docstring). keys: Cameras or c2w [K, 3, 4] / [K, 4, 4]."""
    c2w = _as_c2w(keys)
    if frames is None and times is None:
        raise UserError("a keyframe file needs a frame count or keyframe times; pass frames= or times=")
    if times is not None and len(times) != len(c2w):
        raise UserError(f"got {len(times)} times for {len(c2w)} keyframes; pass one time per keyframe")
    out = {"format": FORMAT, "fps": fps, "loop": bool(loop), "keyframes": []}
    if frames is not None:
        out["frames"] = _check_count(frames, "frames")
    if fov_x_deg is not None:
        out["fov_x_deg"] = float(fov_x_deg)
    for i, m in enumerate(c2w):
        key = {"c2w": _rows4(m)}
        if times is not None:
            key["time"] = float(times[i])
        out["keyframes"].append(key)
    Path(path).write_text(json.dumps(out, indent=1))
