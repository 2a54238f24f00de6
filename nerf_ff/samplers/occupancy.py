"""Occupancy grid with cascades, and ray marching that skips empty space (pure PyTorch).

The grid is a module with its state in buffers (so `state_dict` checkpoints it) and two methods:
`update(step, density_fn)` refreshes cell occupancy from the field, and `sampling(...)` marches rays
and returns packed samples `(ray_indices, t_starts, t_ends)`.

Levels: level l covers the base box scaled by 2^l about its centre, each at `resolution`^3 cells;
a point uses the finest level that contains it (instant-ngp's cascades, for `aabb_scale` > 1).

Marching: a ray is cut into steps of `step` (the base-box diagonal / render_steps); with
`cone_angle` > 0 the step grows as t * cone_angle beyond that (far space needs less detail). A
step is kept when its midpoint lies in an occupied cell. With `sigma_fn`, the kept steps are then
evaluated without gradients and those behind an opaque surface (transmittance < early_stop_eps)
or nearly transparent (alpha < alpha_threshold) are dropped, so the field is trained where it is
seen.
"""

from __future__ import annotations

import math
from typing import Callable, Optional

import torch
from torch import Tensor, nn

from ..packed import render_weights

SigmaFn = Callable[[Tensor, Tensor, Tensor], Tensor]  # (t_starts, t_ends, ray_indices) -> sigmas


def ray_aabb(rays_o: Tensor, rays_d: Tensor, aabb: Tensor) -> tuple[Tensor, Tensor]:
    """Entry and exit distances [R] of rays through a box; t_far < t_near where a ray misses."""
    inv = 1.0 / torch.where(rays_d.abs() < 1e-12, torch.full_like(rays_d, 1e-12), rays_d)
    t0 = (aabb[:3] - rays_o) * inv
    t1 = (aabb[3:] - rays_o) * inv
    t_near = torch.minimum(t0, t1).amax(-1)
    t_far = torch.maximum(t0, t1).amin(-1)
    return t_near, t_far


class _StepSchedule:
    """Map between distance t and a 'step coordinate' s in which every step has length 1.

    Constant steps of `step` up to t1 = step / cone_angle, then geometric steps t * cone_angle:
        s(t) = t / step                                  (t <= t1)
        s(t) = t1 / step + log(t / t1) / log(1 + cone)   (t >  t1)
    """

    def __init__(self, step: float, cone_angle: float):
        self.step, self.cone = step, cone_angle
        self.t1 = step / cone_angle if cone_angle > 0 else math.inf
        self.s1 = self.t1 / step if cone_angle > 0 else math.inf
        self.log1p = math.log1p(cone_angle) if cone_angle > 0 else 1.0

    def s_of_t(self, t: Tensor) -> Tensor:
        if self.cone <= 0:
            return t / self.step
        lin = t / self.step
        geo = self.s1 + torch.log(t.clamp_min(self.t1) / self.t1) / self.log1p
        return torch.where(t <= self.t1, lin, geo)

    def t_of_s(self, s: Tensor) -> Tensor:
        if self.cone <= 0:
            return s * self.step
        lin = s * self.step
        geo = self.t1 * torch.exp((s.clamp_min(self.s1) - self.s1) * self.log1p)
        return torch.where(s <= self.s1, lin, geo)


class OccupancyGrid(nn.Module):
    def __init__(self, aabb: Tensor, resolution: int = 128, levels: int = 1):
        super().__init__()
        aabb = aabb.detach().clone().float()
        self.resolution, self.levels = int(resolution), int(levels)
        center, half = (aabb[:3] + aabb[3:]) / 2, (aabb[3:] - aabb[:3]) / 2
        aabbs = torch.stack([torch.cat([center - half * 2**lvl, center + half * 2**lvl]) for lvl in range(levels)])
        self.register_buffer("aabbs", aabbs)  # [levels, 6]
        n = levels * resolution**3
        self.register_buffer("occs", torch.zeros(n))  # EMA of cell opacity (density * step)
        self.register_buffer("binaries", torch.ones(levels, resolution, resolution, resolution, dtype=torch.bool))

    @property
    def outer_aabb(self) -> Tensor:
        return self.aabbs[-1]

    @property
    def base_diagonal(self) -> float:
        return float((self.aabbs[0, 3:] - self.aabbs[0, :3]).norm())

    # ---------------------------------------------------------------- lookups
    def _level_and_cell(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Finest level containing each point, its flat cell index, and whether it is inside."""
        base = self.aabbs[0]
        center, half = (base[:3] + base[3:]) / 2, (base[3:] - base[:3]) / 2
        extent = ((x - center).abs() / half).amax(-1)  # [N], 1 at the base box surface
        level = torch.ceil(torch.log2(extent.clamp_min(1e-8))).clamp_min(0).long()
        inside = level < self.levels
        level = level.clamp_max(self.levels - 1)
        box = self.aabbs[level]  # [N, 6]
        u = (x - box[:, :3]) / (box[:, 3:] - box[:, :3])  # [N, 3] in [0,1]
        R = self.resolution
        ijk = (u * R).long().clamp(0, R - 1)
        flat = ((level * R + ijk[:, 0]) * R + ijk[:, 1]) * R + ijk[:, 2]
        return level, flat, inside

    def occupied(self, x: Tensor) -> Tensor:
        """bool [N]: the point lies in an occupied cell of the grid."""
        _, flat, inside = self._level_and_cell(x)
        return self.binaries.view(-1)[flat] & inside

    # ---------------------------------------------------------------- update
    def _cell_points(self, flat: Tensor, gen: Optional[torch.Generator]) -> Tensor:
        """A uniformly jittered world point inside each flat cell index [K] → [K, 3]."""
        R = self.resolution
        k = flat % R
        j = (flat // R) % R
        i = (flat // (R * R)) % R
        level = flat // (R**3)
        jitter = torch.rand(flat.shape[0], 3, device=flat.device, generator=gen)
        u = (torch.stack([i, j, k], -1).float() + jitter) / R
        box = self.aabbs[level]
        return box[:, :3] + u * (box[:, 3:] - box[:, :3])

    @torch.no_grad()
    def update(self, step: int, density_fn: Callable[[Tensor], Tensor], step_size: float, threshold: float = 0.01,
               ema_decay: float = 0.95, warmup_steps: int = 256, gen: Optional[torch.Generator] = None,
               chunk: int = 2**18) -> None:
        """Re-estimate cell opacity: every cell during warm-up, then a random quarter plus a
        quarter-sized sample of the occupied cells. occ = max(occ * decay, density * step)."""
        n = self.occs.numel()
        device = self.occs.device
        if step < warmup_steps:
            cells = torch.arange(n, device=device)
        else:
            n_pick = n // (4 * self.levels) * self.levels
            rand = torch.randint(0, n, (n_pick,), device=device, generator=gen)
            occ_idx = torch.nonzero(self.binaries.view(-1)).squeeze(-1)
            if occ_idx.numel() > n_pick:
                occ_idx = occ_idx[torch.randint(0, occ_idx.numel(), (n_pick,), device=device, generator=gen)]
            cells = torch.cat([rand, occ_idx])
        for start in range(0, cells.numel(), chunk):
            c = cells[start:start + chunk]
            x = self._cell_points(c, gen)
            level = c // self.resolution**3
            # Coarser cascades are marched with longer steps: scale the opacity estimate alike.
            opacity = density_fn(x).float() * step_size * (2.0 ** level.float())
            self.occs[c] = torch.maximum(self.occs[c] * ema_decay, opacity)
        positive = self.occs[self.occs > 0]
        mean = positive.mean() if positive.numel() else torch.zeros((), device=device)
        thre = torch.clamp(mean, max=threshold)
        self.binaries.copy_((self.occs > thre).view_as(self.binaries))

    # ---------------------------------------------------------------- marching
    @torch.no_grad()
    def sampling(self, rays_o: Tensor, rays_d: Tensor, near: float, far: float, step: float, cone_angle: float = 0.0,
                 stratified: bool = False, sigma_fn: Optional[SigmaFn] = None, alpha_threshold: float = 0.0,
                 early_stop_eps: float = 1e-4, gen: Optional[torch.Generator] = None
                 ) -> tuple[Tensor, Tensor, Tensor]:
        """March rays [R,3] through the occupied cells. Returns ray_indices [S], t_starts [S], t_ends [S]."""
        n_rays, device = rays_o.shape[0], rays_o.device
        t_near, t_far = ray_aabb(rays_o, rays_d, self.outer_aabb)
        t_near = t_near.clamp_min(near)
        t_far = t_far.clamp_max(far)
        sched = _StepSchedule(step, cone_angle)
        s_near, s_far = sched.s_of_t(t_near), sched.s_of_t(t_far)
        offset = torch.rand(n_rays, device=device, generator=gen) if stratified else torch.zeros(n_rays, device=device)
        # Step boundaries sit at s_near + offset + m (integer m); step k spans the boundaries k-1 and
        # k, clipped to [s_near, s_far]. floor(.) + 2 steps always reach s_far; empty ones drop below.
        counts = (torch.floor(s_far - s_near - offset) + 2).clamp_min(0).long()
        counts = torch.where(t_far > t_near, counts, torch.zeros_like(counts))
        total = int(counts.sum())
        if total == 0:
            empty = torch.zeros(0, device=device)
            return torch.zeros(0, dtype=torch.long, device=device), empty, empty
        ray_indices = torch.repeat_interleave(torch.arange(n_rays, device=device), counts)  # [S0]
        first = torch.cumsum(counts, 0) - counts
        k = torch.arange(total, device=device) - first[ray_indices]
        s0 = s_near[ray_indices] + (k - 1).float() + offset[ray_indices]
        s_lo = torch.maximum(s0, s_near[ray_indices])
        s_hi = torch.minimum(s0 + 1, s_far[ray_indices])
        t_starts, t_ends = sched.t_of_s(s_lo), sched.t_of_s(s_hi)
        keep = t_ends > t_starts
        mid = 0.5 * (t_starts + t_ends)
        x = rays_o[ray_indices] + rays_d[ray_indices] * mid[:, None]
        keep &= self.occupied(x)
        ray_indices, t_starts, t_ends = ray_indices[keep], t_starts[keep], t_ends[keep]
        if sigma_fn is not None and ray_indices.numel() > 0 and (early_stop_eps > 0 or alpha_threshold > 0):
            sigmas = sigma_fn(t_starts, t_ends, ray_indices).float()
            _, trans, alphas = render_weights(sigmas, t_starts, t_ends, ray_indices, n_rays)
            keep = (trans >= early_stop_eps) & (alphas >= alpha_threshold)
            ray_indices, t_starts, t_ends = ray_indices[keep], t_starts[keep], t_ends[keep]
        return ray_indices, t_starts, t_ends
