"""Camera path generators: orbit, spiral, interpolated tours of the training poses, held-out views."""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor

from ..data.cameras import Cameras
from ..errors import UserError
from .frame import (_EYE3, _F64, _cameras, _check_count, _f64, _intrinsics, _look_at_all, _unit, _vec3, estimate_up,
                    focus_point)
from .spline import KeyframePath


# ---------------------------------------------------------------- generators

def orbit(train: Cameras, n_frames: int, center=None, radius: Optional[float] = None,
          height: Optional[float] = None, up=None, *, turns: float = 1.0,
          reference: Optional[Cameras] = None, resolution=None) -> Cameras:
    """A circle around the scene centre, every frame looking at it.

    Defaults come from the training cameras: `up` (`estimate_up`), `center` (`focus_point`),
    `radius` = median camera distance to the centre, `height` (offset along up from the centre) =
    radius * sin(median camera elevation). The orbit starts at the first camera's azimuth and turns
    counter-clockwise seen from above; frames are spaced so that a 1-turn video loops seamlessly.
    """
    _check_count(n_frames)
    c2w = _f64(train.c2w)
    up = estimate_up(c2w) if up is None else _unit(_vec3(up, "up"))
    center = focus_point(c2w) if center is None else _vec3(center, "center")
    rel = c2w[:, :, 3] - center  # [N, 3]
    dist = rel.norm(dim=-1)
    radius = float(dist.median()) if radius is None else float(radius)
    if not (math.isfinite(radius) and radius > 0):
        raise UserError(f"orbit radius must be a positive number, got {radius}; pass radius=")
    if height is None:
        elevation = torch.asin((rel @ up / dist.clamp_min(1e-12)).clamp(-1, 1)).median()
        height = radius * float(torch.sin(elevation))
    height = float(height)
    if not abs(height) < radius * (1 - 1e-6):
        raise UserError(f"orbit height {height:.4g} must be smaller than the radius {radius:.4g}; "
                        "pass a smaller height")
    ring = math.sqrt(radius ** 2 - height ** 2)
    # In-plane basis starting at the first camera's azimuth.
    e1 = rel[0] - (rel[0] @ up) * up
    if e1.norm() < 1e-9 * radius:  # first camera straight above: any horizontal direction will do
        e1 = torch.linalg.cross(up, _EYE3[int(up.abs().argmin())])
    e1 = _unit(e1)
    e2 = torch.linalg.cross(up, e1)
    theta = 2 * math.pi * turns * torch.arange(n_frames, dtype=_F64) / n_frames
    eyes = center + height * up + ring * (torch.cos(theta)[:, None] * e1 + torch.sin(theta)[:, None] * e2)
    return _cameras(_look_at_all(eyes, center, up), *_intrinsics(reference or train, resolution))


def spiral(train: Cameras, n_frames: int, *, rots: float = 2.0, zrate: float = 0.5, percentile: float = 90.0,
           focus_depth: Optional[float] = None, radii=None,
           reference: Optional[Cameras] = None, resolution=None) -> Cameras:
    """LLFF-style spiral for forward-facing captures.

    Around the mean pose (mean centre; mean back and up axes, orthonormalised) the camera traces
    (rx cos t, ry sin t, rz sin(zrate t)) in that pose's (right, up, back) frame for t in
    [0, 2 pi rots), always looking at the focus target, the point `focus_depth` in front of the mean
    pose. Radii default to the `percentile` of |camera offsets| per axis; focus_depth defaults to the
    depth of `focus_point` along the mean viewing direction.
    """
    _check_count(n_frames)
    c2w = _f64(train.c2w)
    pos = c2w[:, :, 3]
    mean_pos = pos.mean(0)
    back = _unit(c2w[:, :, 2].mean(0))
    right = torch.linalg.cross(c2w[:, :, 1].mean(0), back)
    if right.norm() < 1e-6:
        raise UserError("the cameras' mean up and viewing axes are parallel, so no mean pose exists; use another path")
    right = _unit(right)
    up = torch.linalg.cross(back, right)
    frame = torch.stack([right, up, back], -1)  # [3, 3] columns = mean pose axes
    if focus_depth is None:
        focus_depth = float((focus_point(c2w) - mean_pos) @ -back)
        if not focus_depth > 0:
            raise UserError("the cameras' focus point lies behind them; pass focus_depth= (distance to the subject)")
    focus_depth = float(focus_depth)
    if not (math.isfinite(focus_depth) and focus_depth > 0):
        raise UserError(f"focus_depth must be a positive number, got {focus_depth}; pass the distance to the subject")
    target = mean_pos - focus_depth * back
    if radii is None:
        if not 0 <= percentile <= 100:
            raise UserError(f"percentile must be in [0, 100], got {percentile}; pass e.g. 90")
        local = (pos - mean_pos) @ frame  # [N, 3] offsets in the mean pose frame
        radii = torch.quantile(local.abs(), percentile / 100.0, dim=0)
    radii = _vec3(radii, "radii")
    t = torch.linspace(0, 2 * math.pi * rots, n_frames + 1, dtype=_F64)[:-1]
    offsets = torch.stack([torch.cos(t), torch.sin(t), torch.sin(zrate * t)], -1) * radii  # [n, 3]
    eyes = mean_pos + offsets @ frame.T
    return _cameras(_look_at_all(eyes, target, up), *_intrinsics(reference or train, resolution))


def nearest_tour(positions: Tensor) -> Tensor:
    """Greedy nearest-neighbour visiting order [N] (long) starting at index 0. positions: [N, 3]."""
    n = positions.shape[0]
    dist = torch.cdist(positions.to(_F64), positions.to(_F64))
    visited = torch.zeros(n, dtype=torch.bool)
    order = [0]
    visited[0] = True
    for _ in range(n - 1):
        d = dist[order[-1]].masked_fill(visited, float("inf"))
        nxt = int(d.argmin())
        order.append(nxt)
        visited[nxt] = True
    return torch.tensor(order, dtype=torch.long)


def interpolate(train: Cameras, n_frames: int, order: str = "nearest", *, max_keys: Optional[int] = None,
                loop: bool = False, reference: Optional[Cameras] = None, resolution=None) -> Cameras:
    """A smooth path through the training poses (see `KeyframePath`).

    order: "nearest" (greedy nearest-neighbour tour from the first camera) or "given".
    max_keys: keep at most this many key poses, evenly spaced along that order.
    """
    _check_count(n_frames)
    keys = _f64(train.c2w)
    if order == "nearest":
        idx = nearest_tour(keys[:, :, 3])
    elif order == "given":
        idx = torch.arange(len(keys))
    else:
        raise UserError(f"unknown interpolation order {order!r}; use 'nearest' or 'given'")
    if max_keys is not None and _check_count(max_keys, "max_keys") < len(idx):
        pick = torch.linspace(0, len(idx) - (0 if loop else 1), max_keys + (1 if loop else 0), dtype=_F64)
        idx = idx[pick[: max_keys].round().long()]
    path = KeyframePath(keys[idx], loop=loop)
    return _cameras(path.sample(n_frames), *_intrinsics(reference or train, resolution))


def held_out_views(test: Cameras) -> Cameras:
    """The held-out test cameras, unchanged (renders comparable to the evaluation images)."""
    return test
