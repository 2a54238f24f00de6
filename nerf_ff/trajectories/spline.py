"""The keyframe spline: `KeyframePath`, a smooth camera path through key poses."""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import Tensor

from ..errors import UserError
from .frame import _F64, _check_count, _f64, _quat_angle, _quat_from_rotmat, _rotmat_from_quat, _slerp


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
