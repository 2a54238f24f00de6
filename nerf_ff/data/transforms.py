"""Shared checks for `transforms*.json` files (Blender / NeRF-synthetic and instant-ngp / nerfstudio).

Every problem becomes a one-line UserError naming the file (and frame) and what to do.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..errors import UserError
from .images import IMAGE_SUFFIXES

ROTATION_TOL = 1e-3
"""Largest accepted |R^T R - I| entry; exporters writing float32 or 6 printed digits stay far below."""


def read_transforms(path: Path) -> dict:
    """Parse a transforms file and check it has a non-empty `frames` list of mappings."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {path} ({getattr(exc, 'strerror', None) or exc}); check the file") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        msg = f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}); fix or re-export the file"
        raise UserError(msg) from None
    if not isinstance(data, dict):
        raise UserError(f"{path} must hold a JSON object with a 'frames' list, not a {type(data).__name__}; "
                        "re-export it")
    frames = data.get("frames")
    if not isinstance(frames, list) or not frames:
        raise UserError(f"{path} has no 'frames' list (or it is empty); it needs one entry per image with "
                        "file_path and transform_matrix")
    for i, frame in enumerate(frames):
        if not isinstance(frame, dict):
            raise UserError(f"{path} frame {i} is not a JSON object; each frame needs file_path and transform_matrix")
        for key in ("file_path", "transform_matrix"):
            if key not in frame:
                raise UserError(f"{path} frame {i} lacks '{key}'; every frame needs file_path and transform_matrix")
    return data


def number(value: Any, key: str, where: str, positive: bool = False) -> float:
    """A finite float from JSON, or a UserError naming the key."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (positive and value <= 0):
        kind = "a positive number" if positive else "a finite number"
        raise UserError(f"{where}: '{key}' is {value!r} but must be {kind}; fix the file")
    return float(value)


def parse_pose(matrix: Any, where: str) -> np.ndarray:
    """A camera-to-world matrix (4x4 or 3x4 nested lists) → [3, 4] float64, checked to be rigid.

    Scaled rotations (some exporters write them) are rejected rather than silently normalised:
    a scale in the pose would change ray lengths and the scene box, so it has to be fixed upstream.
    """
    try:
        m = np.asarray(matrix, dtype=np.float64)
    except (TypeError, ValueError):
        raise UserError(f"{where}: transform_matrix is not a 4x4 array of numbers; fix the file") from None
    if m.shape not in ((4, 4), (3, 4)):
        raise UserError(f"{where}: transform_matrix has shape {list(m.shape)}, expected 4x4; fix the file")
    if not np.isfinite(m).all():
        raise UserError(f"{where}: transform_matrix contains NaN or inf; drop the frame or re-export the poses")
    if m.shape == (4, 4) and np.abs(m[3] - [0, 0, 0, 1]).max() > ROTATION_TOL:
        raise UserError(f"{where}: transform_matrix bottom row is {m[3].tolist()}, expected [0, 0, 0, 1]; "
                        "it must be a rigid camera-to-world matrix")
    rot = m[:3, :3]
    norms = np.linalg.norm(rot, axis=0)  # column lengths
    if np.abs(norms - 1).max() > ROTATION_TOL:
        if np.ptp(norms) <= ROTATION_TOL * norms.mean():
            raise UserError(f"{where}: transform_matrix rotation is scaled by {norms.mean():.4g}; "
                            "re-export the poses without scale (rigid camera-to-world matrices)")
        raise UserError(f"{where}: transform_matrix rotation columns have lengths {np.round(norms, 4).tolist()}, "
                        "not 1; re-export rigid camera-to-world matrices")
    if np.abs(rot.T @ rot - np.eye(3)).max() > ROTATION_TOL:
        raise UserError(f"{where}: transform_matrix rotation is not orthonormal; "
                        "re-export rigid camera-to-world matrices")
    if np.linalg.det(rot) < 0:
        raise UserError(f"{where}: transform_matrix rotation has determinant -1 (a mirror); "
                        "re-export right-handed camera-to-world matrices")
    return m[:3, :4].copy()


def frame_image_path(root: Path, file_path: Any, where: str, default_suffix: Optional[str] = None,
                     key: str = "file_path") -> Path:
    """Resolve a frame's `file_path` against the scene folder; it must stay inside that folder.

    Checked lexically (`..` and absolute paths), so images symlinked from elsewhere still work.
    `default_suffix` is appended when the name has no image extension (NeRF-synthetic omits '.png').
    """
    if not isinstance(file_path, str) or not file_path.strip():
        raise UserError(f"{where}: {key} is {file_path!r}, expected a relative image path; fix the file")
    root_abs = Path(os.path.normpath(Path(root).absolute()))
    full = Path(os.path.normpath(root_abs / file_path.replace("\\", "/")))
    if full != root_abs and root_abs not in full.parents:
        raise UserError(f"{where}: {key} {file_path!r} points outside the scene folder {root_abs}; "
                        "keep the images inside the dataset folder and use relative paths")
    if default_suffix and full.suffix.lower() not in IMAGE_SUFFIXES:
        full = full.with_name(full.name + default_suffix)
    return full
