"""Camera trajectories for novel-view videos: orbit, spiral, interpolated tours, keyframe files.

Every generator returns `Cameras` (OpenGL camera-to-world [N, 3, 4], float32, on the CPU) that the
renderer consumes directly; the geometry is computed in float64. Output cameras are ideal pinholes
(no distortion) with the intrinsics of a reference camera (the first training camera unless
`reference` is given); `resolution=(W, H)` rescales them keeping the field of view, as
`Cameras.scaled` does.

Keyframe file (JSON; `load_path_file`, `save_path_file`):

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

nerfstudio's `camera_path.json` (its viewer's render export) is read too: top-level
`render_width`, `render_height`, `fps`, optional `seconds` and `camera_type` ("perspective"), and
`camera_path`, a list of {"camera_to_world": 16 numbers, a row-major 4x4 OpenGL c2w, "fov":
vertical field of view in degrees}. Each entry is one frame (resampled along the same spline when
`n_frames` asks for another count). nerfstudio's world is its dataparser-normalised frame: a path
made there fits this project's scene only where the two worlds agree (otherwise apply the inverse
of its `dataparser_transforms.json` first).
"""

from __future__ import annotations

import json
import math
import operator
from pathlib import Path
from typing import Optional, Sequence, Union

import torch
from torch import Tensor

from nerf_ff.data.cameras import Cameras, look_at
from nerf_ff.errors import UserError

FORMAT = "nerf_ff-keyframes-v1"
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
    w, h = reference.width, reference.height
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


# ---------------------------------------------------------------- keyframe spline

def _smoothstep(u: Tensor) -> Tensor:
    return u * u * (3 - 2 * u)


def _catmull_rom(P: Tensor, u: Tensor) -> Tensor:
    """Centripetal Catmull-Rom (Barry-Goldman form) between P[:, 1] and P[:, 2] at u in [0, 1].

    P: [M, 4, 3] control points, u: [M] → [M, 3]. Knot spacing |P_{i+1} - P_i|^0.5 avoids cusps and
    self-intersections. Written as a + w (b - a) so coincident points (zero knot spacing) give
    exactly those points instead of 0/0.
    """
    dt = (P[:, 1:] - P[:, :-1]).norm(dim=-1).sqrt().clamp_min(1e-12)  # [M, 3]
    t0 = torch.zeros_like(u)
    t1 = t0 + dt[:, 0]
    t2 = t1 + dt[:, 1]
    t3 = t2 + dt[:, 2]
    t = (t1 + u * dt[:, 1])[:, None]

    def lerp(a, b, ta, tb):
        return a + (t - ta[:, None]) / (tb - ta)[:, None] * (b - a)

    p0, p1, p2, p3 = P.unbind(1)
    a1, a2, a3 = lerp(p0, p1, t0, t1), lerp(p1, p2, t1, t2), lerp(p2, p3, t2, t3)
    b1, b2 = lerp(a1, a2, t0, t2), lerp(a2, a3, t1, t3)
    return lerp(b1, b2, t1, t2)


class KeyframePath:
    """A smooth camera path through key poses.

    Positions follow a centripetal Catmull-Rom spline through the key centres; rotations are
    quaternion slerps between consecutive keys with smoothstep easing (zero angular velocity at the
    keys, so turning never starts or stops abruptly). The path is parameterised by time and key k
    sits exactly at `key_times[k]`.

    Timing: without `times`, segment i lasts sqrt(L_i^2 + (w A_i)^2) (L_i its length, A_i its
    rotation angle, w = total length / total angle), so that turning takes time even where the
    camera hardly moves; `times` ([K] strictly increasing) set the durations instead. Within a
    segment the camera moves along the curve (arc-length parameter s in [0, 1]) with s a cubic
    Hermite function of time whose end slopes give the same speed on both sides of every key (the
    harmonic mean of the two segments' mean speeds), so the velocity never jumps; a segment whose
    neighbours move as fast as it does is travelled at constant speed.

    key_c2w: [K, 3, 4] or [K, 4, 4]; loop closes the path from the last key back to the first.
    """

    def __init__(self, key_c2w: Tensor, times: Optional[Sequence[float]] = None, loop: bool = False,
                 table_size: int = 1024):
        c2w = _f64(key_c2w)
        K = c2w.shape[0]
        if K == 0:
            raise UserError("a keyframe path needs at least one key pose; add keyframes")
        self.keys = c2w
        self.loop = bool(loop) and K >= 2
        quat = _quat_from_rotmat(c2w[:, :, :3])  # [K, 4]
        pos = c2w[:, :, 3]  # [K, 3]
        S = K if self.loop else K - 1  # segments
        self.n_segments = S
        if times is not None:
            tk = torch.as_tensor(times, dtype=_F64).reshape(-1)
            if tk.numel() != K or not torch.isfinite(tk).all() or (K > 1 and (tk.diff() <= 0).any()):
                raise UserError(f"keyframe times must be {K} finite, strictly increasing numbers; fix the times")
        if S == 0:
            self.bounds = torch.zeros(1, dtype=_F64) if times is None else tk[:1]
            self.key_times = self.bounds.clone()
            return
        # Control points with an extra point at each end: wrapped for a loop, mirrored for an open path.
        if self.loop:
            ext = torch.cat([pos[-1:], pos, pos[:2]])
        else:
            ext = torch.cat([2 * pos[:1] - pos[1:2], pos, 2 * pos[-1:] - pos[-2:-1]])
        i = torch.arange(S)
        self.ctrl = torch.stack([ext[i], ext[i + 1], ext[i + 2], ext[i + 3]], 1)  # [S, 4, 3]
        self.q0, self.q1 = quat[i], quat[(i + 1) % K]  # [S, 4]
        angle = _quat_angle(self.q0, self.q1)  # [S]
        # Arc-length tables: fraction of each segment's length at spline parameter u = j / table_size.
        T = table_size
        u = torch.linspace(0, 1, T + 1, dtype=_F64)
        dense = _catmull_rom(self.ctrl.repeat_interleave(T + 1, 0), u.repeat(S)).view(S, T + 1, 3)
        cum = torch.cat([torch.zeros(S, 1, dtype=_F64), (dense[:, 1:] - dense[:, :-1]).norm(dim=-1).cumsum(1)], 1)
        length = cum[:, -1]  # [S]
        moving = length > 1e-9 * max(float(length.max()), 1e-300)
        self.frac = torch.where(moving[:, None], cum / length.clamp_min(1e-300)[:, None], u)  # [S, T + 1]
        if times is None:
            total_len, total_angle = float(length.sum()), float(angle.sum())
            w = total_len / total_angle if total_len > 1e-12 and total_angle > 1e-12 else 1.0
            durations = torch.sqrt(length ** 2 + (w * angle) ** 2)
            if float(durations.sum()) <= 1e-12:  # every key the same pose
                durations = torch.ones(S, dtype=_F64)
            start = 0.0
        else:
            durations = tk.diff()
            if self.loop:
                durations = torch.cat([durations, durations.mean().reshape(1)])
            start = float(tk[0])
        self.bounds = torch.cat([torch.zeros(1, dtype=_F64), durations.cumsum(0)]) + start  # [S + 1]
        self.key_times = self.bounds[:K].clone()
        # Speed at each segment boundary: harmonic mean of the adjacent segments' mean speeds
        # (zero next to a pause; at most twice either, so the Hermite slopes below stay in [0, 2]
        # and s(t) is monotone).
        mean_speed = torch.where(durations > 0, length / durations.clamp_min(1e-300), torch.nan)  # [S]
        before = torch.cat([mean_speed[-1:] if self.loop else mean_speed[:1], mean_speed])  # [S + 1]
        after = torch.cat([mean_speed, mean_speed[:1] if self.loop else mean_speed[-1:]])
        harmonic = 2 * before * after / (before + after).clamp_min(1e-300)
        boundary = torch.where(before.isnan(), after, torch.where(after.isnan(), before, harmonic)).nan_to_num(0.0)
        ok = moving & (durations > 0)
        scale = torch.where(ok, durations / length.clamp_min(1e-300), torch.zeros_like(length))
        self.slope0 = torch.where(ok, boundary[:-1] * scale, torch.ones_like(length))  # ds/dphi at phi = 0, [S]
        self.slope1 = torch.where(ok, boundary[1:] * scale, torch.ones_like(length))  # at phi = 1

    @property
    def start(self) -> float:
        return float(self.bounds[0])

    @property
    def end(self) -> float:
        return float(self.bounds[-1])

    def __call__(self, t) -> Tensor:
        """Poses at times t [M] (clamped to the path) → c2w [M, 3, 4] float64."""
        t = torch.as_tensor(t, dtype=_F64).reshape(-1)
        if self.n_segments == 0:
            return self.keys[:1].expand(len(t), 3, 4).clone()
        seg = (torch.searchsorted(self.bounds, t, right=True) - 1).clamp(0, self.n_segments - 1)
        t0, dur = self.bounds[seg], self.bounds[seg + 1] - self.bounds[seg]
        phi = torch.where(dur > 0, (t - t0) / dur.clamp_min(1e-300), torch.zeros_like(t)).clamp(0, 1)
        # Time fraction phi → arc-length fraction s (cubic Hermite, s(0) = 0, s(1) = 1).
        m0, m1 = self.slope0[seg], self.slope1[seg]
        p2, p3 = phi * phi, phi * phi * phi
        s = (p3 - 2 * p2 + phi) * m0 + (3 * p2 - 2 * p3) + (p3 - p2) * m1
        s = s.clamp(0, 1)
        # Arc-length fraction → spline parameter u, by inverting the segment's table.
        rows = self.frac[seg]  # [M, T + 1]
        T = rows.shape[1] - 1
        j = torch.searchsorted(rows, s[:, None]).clamp(1, T)  # [M, 1]
        lo, hi = rows.gather(1, j - 1)[:, 0], rows.gather(1, j)[:, 0]
        within = torch.where(hi > lo, (s - lo) / (hi - lo).clamp_min(1e-300), torch.zeros_like(s))
        u = ((j[:, 0] - 1 + within) / T).clamp(0, 1)
        pos = _catmull_rom(self.ctrl[seg], u)  # [M, 3]
        rot = _rotmat_from_quat(_slerp(self.q0[seg], self.q1[seg], _smoothstep(s)))  # [M, 3, 3]
        return torch.cat([rot, pos[:, :, None]], -1)

    def sample(self, n_frames: int) -> Tensor:
        """n_frames poses evenly spaced in time; a loop leaves out the end (it equals the start)."""
        _check_count(n_frames)
        if self.loop:
            t = self.start + (self.end - self.start) * torch.arange(n_frames, dtype=_F64) / n_frames
        else:
            t = torch.linspace(self.start, self.end, n_frames, dtype=_F64)
        return self(t)


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
        raise UserError(f"camera path file {path} must hold a JSON object; see nerf_ff/trajectories.py for the format")
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
                    "(\"camera_path\" key); see nerf_ff/trajectories.py for the format")


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


def _as_c2w(keys: Union[Cameras, Tensor]) -> Tensor:
    return _f64(keys.c2w if isinstance(keys, Cameras) else keys)


def _rows4(m: Tensor) -> list[list[float]]:
    return torch.cat([m, torch.tensor([[0, 0, 0, 1]], dtype=_F64)]).tolist()


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
