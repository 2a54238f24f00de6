"""Shared reading and writing helpers of the camera path files (`keyframes`, `nerfstudio`)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Union

import torch
from torch import Tensor

from ..data.cameras import Cameras
from ..errors import UserError
from .frame import _EYE3, _F64, _f64


# ---------------------------------------------------------------- path files

def _read_json(path: Path) -> dict:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read camera path file {path} ({e.__class__.__name__}); check the path") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise UserError(f"camera path file {path} is not valid JSON ({e.msg} at line {e.lineno}); "
                        "fix the file") from None
    if not isinstance(data, dict):
        raise UserError(f"camera path file {path} must hold a JSON object; "
                        "see nerf_ff/trajectories/keyframes.py for the format")
    return data


def _number(value, where: str, lo: float = 0.0, hi: float = math.inf) -> float:
    """A finite number in (lo, hi)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (lo < value < hi):
        raise UserError(f"{where} must be a number in ({lo:g}, {hi:g}), got {value!r}; fix the file")
    return float(value)


def _rigid(value, where: str, flat: bool = False) -> Tensor:
    """JSON matrix (nested 3x4 / 4x4 rows, or 16 numbers row-major if flat) → rigid c2w [3, 4] float64."""
    try:
        m = torch.tensor(value, dtype=_F64)
    except (TypeError, ValueError, RuntimeError):
        raise UserError(f"{where} must be a matrix of numbers; fix the file") from None
    if flat:
        if m.shape != (16,):
            raise UserError(f"{where} must be a list of 16 numbers (row-major 4x4); fix the file")
        m = m.view(4, 4)
    if m.shape not in ((3, 4), (4, 4)):
        raise UserError(f"{where} must be a 3x4 or 4x4 matrix, got shape {tuple(m.shape)}; fix the file")
    if not torch.isfinite(m).all():
        raise UserError(f"{where} has a non-finite value (NaN or infinity); fix the file")
    if m.shape[0] == 4 and (m[3] - torch.tensor([0, 0, 0, 1], dtype=_F64)).abs().max() > 1e-6:
        raise UserError(f"{where} has bottom row {m[3].tolist()}, not [0, 0, 0, 1]; "
                        "write a rigid camera-to-world matrix")
    R = m[:3, :3]
    err = float((R.T @ R - _EYE3).abs().max())
    if err > 1e-3:
        raise UserError(f"{where} is not a rigid camera-to-world matrix (rotation part off orthonormal by {err:.2g}, "
                        "scale or shear?); write a rotation and a translation only")
    if torch.linalg.det(R) <= 0:
        raise UserError(f"{where} is a reflection (rotation part has det -1), not a camera-to-world rotation; "
                        "flip the sign of one axis")
    U, _, Vh = torch.linalg.svd(R)  # remove rounding: nearest rotation
    return torch.cat([U @ Vh, m[:3, 3:]], 1)


def _as_c2w(keys: Union[Cameras, Tensor]) -> Tensor:
    return _f64(keys.c2w if isinstance(keys, Cameras) else keys)


def _rows4(m: Tensor) -> list[list[float]]:
    return torch.cat([m, torch.tensor([[0, 0, 0, 1]], dtype=_F64)]).tolist()
