"""Camera-path helpers: small helpers, rotations as unit quaternions, and the scene frame
(`focus_point`, `estimate_up`) from the training cameras."""

from __future__ import annotations

import math
import operator

import torch
from torch import Tensor

from ..data.cameras import Cameras, look_at
from ..errors import UserError

_F64 = torch.float64
_EYE3 = torch.eye(3, dtype=_F64)


# ---------------------------------------------------------------- small helpers

def _f64(c2w: Tensor) -> Tensor:
    return c2w.detach().to("cpu", _F64)[..., :3, :4]


def _unit(v: Tensor) -> Tensor:
    return v / v.norm(dim=-1, keepdim=True)


def _vec3(value, name: str) -> Tensor:
    v = torch.as_tensor(value, dtype=_F64).reshape(-1)
    if v.numel() != 3 or not torch.isfinite(v).all():
        raise UserError(f"{name} must be 3 finite numbers, got {value!r}; pass x, y, z")
    return v


def _check_count(n: int, name: str = "n_frames") -> int:
    try:
        value = operator.index(n)  # ints and numpy / torch integer scalars, not floats
    except TypeError:
        value = 0
    if isinstance(n, bool) or value < 1:
        raise UserError(f"{name} must be a positive integer, got {n!r}; pass e.g. 120")
    return value


def _intrinsics(reference: Cameras, resolution) -> tuple[float, float, float, float, int, int]:
    """fx, fy, cx, cy, W, H of reference camera 0, rescaled to `resolution` keeping the field of view."""
    fx, fy, cx, cy = (float(v[0]) for v in (reference.fx, reference.fy, reference.cx, reference.cy))
    w, h = reference.size(0)  # camera 0's own image (scenes with images of several sizes)
    if resolution is None:
        return fx, fy, cx, cy, w, h
    W, H = _resolution(resolution)
    sx, sy = W / w, H / h
    return fx * sx, fy * sy, cx * sx, cy * sy, W, H


def _resolution(resolution) -> tuple[int, int]:
    try:
        W, H = (int(v) for v in resolution)
        ok = W > 0 and H > 0 and all(float(v) == int(v) for v in resolution)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise UserError(f"resolution must be two positive integers (W, H), got {resolution!r}; pass e.g. (800, 600)")
    return W, H


def _cameras(c2w: Tensor, fx, fy, cx, cy, width: int, height: int) -> Cameras:
    """Float32 pinholes; intrinsics are scalars or [N] tensors."""
    n = c2w.shape[0]
    col = lambda v: torch.as_tensor(v, dtype=torch.float32).expand(n).clone()  # noqa: E731
    return Cameras(c2w.to(torch.float32).contiguous(), col(fx), col(fy), col(cx), col(cy), int(width), int(height))


def _look_at_all(eyes: Tensor, target: Tensor, up: Tensor) -> Tensor:
    """[N, 3] eyes → c2w [N, 3, 4] all looking at `target` [3] (or [N, 3])."""
    targets = target.expand_as(eyes)
    if (_unit(targets - eyes) @ up).abs().max() > 1 - 1e-9:
        raise UserError("a path camera would look straight along the up direction; pass a different height/up")
    return torch.stack([look_at(e, t, up) for e, t in zip(eyes, targets)])


# ---------------------------------------------------------------- rotations as unit quaternions (w, x, y, z)

def _quat_from_rotmat(R: Tensor) -> Tensor:
    """[N, 3, 3] → [N, 4]; Shepperd's method (branch on the largest diagonal term for stability)."""
    m = R
    tr = m[:, 0, 0] + m[:, 1, 1] + m[:, 2, 2]
    # s[k] = 4 q_k^2; row k of `cands` is 4 q_k q, the quaternion scaled by its pivot component k.
    s = torch.stack([1 + tr, 1 + m[:, 0, 0] - m[:, 1, 1] - m[:, 2, 2],
                     1 - m[:, 0, 0] + m[:, 1, 1] - m[:, 2, 2], 1 - m[:, 0, 0] - m[:, 1, 1] + m[:, 2, 2]], -1)
    a, b, c = m[:, 2, 1] - m[:, 1, 2], m[:, 0, 2] - m[:, 2, 0], m[:, 1, 0] - m[:, 0, 1]
    d, e, f = m[:, 0, 1] + m[:, 1, 0], m[:, 0, 2] + m[:, 2, 0], m[:, 1, 2] + m[:, 2, 1]
    cands = torch.stack([torch.stack([s[:, 0], a, b, c], -1), torch.stack([a, s[:, 1], d, e], -1),
                         torch.stack([b, d, s[:, 2], f], -1), torch.stack([c, e, f, s[:, 3]], -1)], 1)  # [N, 4, 4]
    k = s.argmax(-1)
    q = cands[torch.arange(len(R)), k]
    return _unit(q)


def _rotmat_from_quat(q: Tensor) -> Tensor:
    """[N, 4] unit quaternions → [N, 3, 3]."""
    w, x, y, z = _unit(q).unbind(-1)
    return torch.stack([
        torch.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        torch.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        torch.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1)], -2)


def _quat_angle(q0: Tensor, q1: Tensor) -> Tensor:
    """Rotation angle between unit quaternions [N, 4]; chord form is accurate for small angles."""
    chord = torch.minimum((q0 - q1).norm(dim=-1), (q0 + q1).norm(dim=-1))
    return 4 * torch.asin((chord / 2).clamp(max=1.0))


def _slerp(q0: Tensor, q1: Tensor, u: Tensor) -> Tensor:
    """Shortest-arc slerp of [N, 4] pairs at fractions u [N]."""
    dot = (q0 * q1).sum(-1)
    q1 = torch.where(dot[:, None] < 0, -q1, q1)
    dot = dot.abs().clamp(max=1.0)
    theta = torch.acos(dot)
    sin = torch.sin(theta)
    near = sin < 1e-6  # almost equal: linear blend is exact to first order
    safe = torch.where(near, torch.ones_like(sin), sin)
    w0 = torch.where(near, 1 - u, torch.sin((1 - u) * theta) / safe)
    w1 = torch.where(near, u, torch.sin(u * theta) / safe)
    return _unit(w0[:, None] * q0 + w1[:, None] * q1)


# ---------------------------------------------------------------- scene frame from the training cameras

def focus_point(c2w: Tensor) -> Tensor:
    """The point closest, in least squares, to every camera's optical axis (-z through its centre).

    Solves min_p sum_i |(I - d_i d_i^T)(p - o_i)|^2. c2w: [N, 3, 4] → [3] float64.
    """
    c2w = _f64(c2w)
    o, d = c2w[:, :, 3], _unit(-c2w[:, :, 2])  # [N, 3]
    proj = _EYE3 - d[:, :, None] * d[:, None, :]  # [N, 3, 3] projector onto the plane normal to each axis
    A, b = proj.sum(0), (proj @ o[:, :, None]).sum(0)[:, 0]
    if torch.linalg.eigvalsh(A)[0] < 1e-6 * len(c2w):
        raise UserError("the cameras' optical axes are (nearly) parallel, so they have no common focus point; "
                        "pass center= (orbit) or focus_depth= (spiral)")
    return torch.linalg.solve(A, b)


def estimate_up(c2w: Tensor) -> Tensor:
    """World up direction [3] (float64, unit) from camera poses [N, 3, 4]: the first rule that applies.

    1. Camera centres close to a plane that the cameras look across (a phone orbit, a turntable
       ring; out-of-plane spread < 0.05 of the in-plane variance): the plane's normal, which
       camera roll does not disturb.
    2. Cameras facing many directions and held level (a sphere or hemisphere rig like
       NeRF-synthetic, a walk-around capture; rms roll < 5 degrees): the direction perpendicular to
       all camera x axes. The mean up axis would lean with the cameras' elevations.
    3. Centres roughly in a plane the cameras look across (variance ratio < 0.3): its normal.
    4. Otherwise (a forward-facing capture): the mean of the cameras' up axes.
    Signs follow the mean up axis or, when that is ambiguous, point away from where the cameras
    look (cameras look down on a subject).
    """
    c2w = _f64(c2w)
    n_cams = len(c2w)
    mean_up, mean_fwd = c2w[:, :, 1].mean(0), -c2w[:, :, 2].mean(0)

    def oriented(v: Tensor) -> Tensor:
        if (v @ mean_up).abs() > 0.05:
            return v * torch.sign(v @ mean_up)
        return -v if v @ mean_fwd > 0 else v

    flatness, normal = math.inf, None
    if n_cams >= 3:
        pos = c2w[:, :, 3]
        centred = pos - pos.mean(0)
        evals, evecs = torch.linalg.eigh(centred.T @ centred)  # ascending
        normal = evecs[:, 0]
        looks_across = (_unit(-c2w[:, :, 2]) @ normal).abs().mean() < 0.8
        if evals[1] > 1e-6 * evals[2] and looks_across:
            flatness = float(evals[0] / evals[1])
    if flatness < 0.05:
        return oriented(normal)
    right = c2w[:, :, 0]  # [N, 3]
    evals, evecs = torch.linalg.eigh(right.T @ right / n_cams)  # mean (x . v)^2 along each eigenvector v
    level = oriented(evecs[:, 0])
    if evals[0] < math.sin(math.radians(5)) ** 2 and evals[1] > 0.05 and level @ _unit(mean_up) > 0.7:
        return level
    if flatness < 0.3:
        return oriented(normal)
    if mean_up.norm() < 1e-3:
        raise UserError("cannot tell the up direction: the cameras' up axes cancel out; pass up=(x, y, z)")
    return _unit(mean_up)
