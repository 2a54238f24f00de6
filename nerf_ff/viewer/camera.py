"""Between the browser's camera (viser: OpenCV axes, x right, y down, looking down +z; vertical field
of view) and ours (Cameras: OpenGL axes, x right, y up, looking down -z)."""

from __future__ import annotations

import math

import numpy as np
import torch

from ..data.cameras import Cameras

_FLIP = np.diag([1.0, -1.0, -1.0])  # OpenCV <-> OpenGL camera axes (its own inverse)


def quat_wxyz(R: np.ndarray) -> np.ndarray:
    """Rotation [3, 3] → unit quaternion (w, x, y, z), Shepperd's method."""
    m = np.asarray(R, np.float64)
    tr = np.trace(m)
    if tr > 0:
        s = 2.0 * math.sqrt(tr + 1.0)
        q = [0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s]
    else:
        i = int(np.argmax(np.diag(m)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * math.sqrt(max(1e-12, 1.0 + m[i, i] - m[j, j] - m[k, k]))
        q = [0.0] * 4
        q[0] = (m[k, j] - m[j, k]) / s
        q[1 + i] = 0.25 * s
        q[1 + j] = (m[j, i] + m[i, j]) / s
        q[1 + k] = (m[k, i] + m[i, k]) / s
    q = np.asarray(q)
    return q / np.linalg.norm(q)


def rotmat(wxyz) -> np.ndarray:
    w, x, y, z = (float(v) for v in np.asarray(wxyz, np.float64) / np.linalg.norm(wxyz))
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                     [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                     [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


def c2w_to_viser(c2w) -> tuple[np.ndarray, np.ndarray]:
    """Our c2w [3, 4] (OpenGL) → viser (wxyz, position)."""
    m = np.asarray(c2w, np.float64)
    return quat_wxyz(m[:3, :3] @ _FLIP), m[:3, 3].copy()


def viser_to_c2w(wxyz, position) -> np.ndarray:
    """viser (wxyz, position) → our c2w [3, 4] (OpenGL)."""
    return np.concatenate([rotmat(wxyz) @ _FLIP, np.asarray(position, np.float64)[:, None]], 1)


def camera(wxyz, position, fov_y: float, aspect: float, height: int) -> Cameras:
    """A pinhole of `height` rows and round(height * aspect) columns with vertical field of view fov_y."""
    width = max(1, round(height * aspect))
    f = 0.5 * height / math.tan(0.5 * fov_y)
    c2w = torch.tensor(viser_to_c2w(wxyz, position), dtype=torch.float32)[None]
    one = torch.ones(1)
    return Cameras(c2w, one * f, one * f, one * width / 2, one * height / 2, width, height)


def fov_y(cams: Cameras, i: int = 0) -> float:
    return 2.0 * math.atan(0.5 * cams.height / float(cams.fy[i]))
