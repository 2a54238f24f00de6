"""Between the browser's camera (viser: OpenCV axes, x right, y down, looking down +z; vertical field
of view) and ours (Cameras: OpenGL axes, x right, y up, looking down -z)."""

from __future__ import annotations

import math

import numpy as np
import torch

from ..data.cameras import Cameras
from ..trajectories.frame import _quat_from_rotmat, _rotmat_from_quat

_FLIP = np.diag([1.0, -1.0, -1.0])  # OpenCV <-> OpenGL camera axes (its own inverse)


def c2w_to_viser(c2w) -> tuple[np.ndarray, np.ndarray]:
    """Our c2w [3, 4] (OpenGL) → viser (wxyz, position)."""
    m = np.asarray(c2w, np.float64)
    return _quat_from_rotmat(torch.from_numpy(m[None, :3, :3] @ _FLIP))[0].numpy(), m[:3, 3].copy()


def viser_to_c2w(wxyz, position) -> np.ndarray:
    """viser (wxyz, position) → our c2w [3, 4] (OpenGL)."""
    rot = _rotmat_from_quat(torch.as_tensor(np.asarray(wxyz, np.float64))[None])[0].numpy()
    return np.concatenate([rot @ _FLIP, np.asarray(position, np.float64)[:, None]], 1)


def camera(wxyz, position, fov_y: float, aspect: float, height: int) -> Cameras:
    """A pinhole of `height` rows and round(height * aspect) columns with vertical field of view fov_y."""
    width = max(1, round(height * aspect))
    f = 0.5 * height / math.tan(0.5 * fov_y)
    c2w = torch.tensor(viser_to_c2w(wxyz, position), dtype=torch.float32)[None]
    one = torch.ones(1)
    return Cameras(c2w, one * f, one * f, one * width / 2, one * height / 2, width, height)


def fov_y(cams: Cameras, i: int = 0) -> float:
    return 2.0 * math.atan(0.5 * cams.size(i)[1] / float(cams.fy[i]))
