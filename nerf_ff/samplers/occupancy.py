"""Occupancy grid with cascades, and ray marching that skips empty space (pure PyTorch).

The grid is a module with its state in buffers (so `state_dict` checkpoints it) and two methods:
`update(step, density_fn)` refreshes cell occupancy from the field, and `sampling(...)` marches rays
and returns packed samples `(ray_indices, t_starts, t_ends)`.

Levels (object scenes): level l covers the base box scaled by 2^l about its centre, each at
`resolution`^3 cells; a point uses the finest level that contains it (instant-ngp's cascades).
Unbounded scenes: one level over the contracted unit cube of `SceneSpace` (space.py), which holds all
of space; cells far out cover huge world volumes, and a marching step there is as long (schedule.py).

Marching: a ray is cut into steps of `step` (the base-box diagonal / render_steps); with
`cone_angle` > 0 the step grows as t * cone_angle beyond that (far space needs less detail), and in
contracted space it grows outside the region of interest as the contraction shrinks space. A
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

from ..backends import max_field_samples
from ..packed import exclusive_sum_per_ray
from ..space import SceneSpace
from .schedule import ContractedSchedule, StepSchedule, ray_aabb

SigmaFn = Callable[[Tensor, Tensor, Tensor], Tensor]  # (t_starts, t_ends, ray_indices) -> sigmas


class OccupancyGrid(nn.Module):
    def __init__(self, aabb: Tensor, resolution: int = 128, levels: int = 1, space: Optional[SceneSpace] = None):
        """aabb [6]: the object's box (level 0), or the ROI of an unbounded `space` (one level)."""
        super().__init__()
        aabb = aabb.detach().clone().float()
        self.space = space if space is not None and space.contracted else None  # None: world-space cascades
        if self.space is not None:
            levels = 1
        self.resolution, self.levels = int(resolution), int(levels)
        center, half = (aabb[:3] + aabb[3:]) / 2, (aabb[3:] - aabb[:3]) / 2
        aabbs = torch.stack([torch.cat([center - half * 2**lvl, center + half * 2**lvl]) for lvl in range(levels)])
        self.register_buffer("aabbs", aabbs)  # [levels, 6]
        n = levels * resolution**3
        self.register_buffer("occs", torch.zeros(n))  # EMA of cell opacity (density * step)
        self.register_buffer("binaries", torch.ones(levels, resolution, resolution, resolution, dtype=torch.bool))
        # Coarse copy of level 0 for skipping runs of empty steps: cells of `_pool`^3 fine cells.
        self._pool = max(1, resolution // 16)
        self._coarse_cell = float((aabbs[0, 3:] - aabbs[0, :3]).min()) * self._pool / resolution
        self._coarse: Optional[Tensor] = None
        self._version, self._coarse_version = 0, -1

    def _apply(self, fn, *args, **kwargs):
        self._coarse, self._version = None, self._version + 1  # e.g. moved to another device
        return super()._apply(fn, *args, **kwargs)

    def _load_from_state_dict(self, *args, **kwargs):
        super()._load_from_state_dict(*args, **kwargs)
        self._version += 1  # binaries changed under the cached coarse grid

    @property
    def outer_aabb(self) -> Tensor:
        return self.aabbs[-1]

    @property
    def base_diagonal(self) -> float:
        return float((self.aabbs[0, 3:] - self.aabbs[0, :3]).norm())

    # ---------------------------------------------------------------- lookups
    def _level_and_cell(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Finest level containing each point, its flat cell index, and whether it is inside."""
        R = self.resolution
        base = self.aabbs[0]
        if self.space is not None:  # contracted: every point is inside the unit cube
            ijk = (self.space.to_unit(x) * R).long().clamp(0, R - 1)
            flat = (ijk[:, 0] * R + ijk[:, 1]) * R + ijk[:, 2]
            return torch.zeros_like(flat), flat, torch.ones_like(flat, dtype=torch.bool)
        if self.levels == 1:  # common case, no level search
            u = (x - base[:3]) / (base[3:] - base[:3])
            inside = ((u >= 0) & (u <= 1)).all(-1)
            ijk = (u * R).long().clamp(0, R - 1)
            flat = (ijk[:, 0] * R + ijk[:, 1]) * R + ijk[:, 2]
            return torch.zeros_like(flat), flat, inside
        center, half = (base[:3] + base[3:]) / 2, (base[3:] - base[:3]) / 2
        extent = ((x - center).abs() / half).amax(-1)  # [N], 1 at the base box surface
        level = torch.ceil(torch.log2(extent.clamp_min(1e-8))).clamp_min(0).long()
        inside = level < self.levels
        level = level.clamp_max(self.levels - 1)
        box = self.aabbs[level]  # [N, 6]
        u = (x - box[:, :3]) / (box[:, 3:] - box[:, :3])  # [N, 3] in [0,1]
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
        if self.space is not None:
            return self.space.from_unit(u)
        box = self.aabbs[level]
        return box[:, :3] + u * (box[:, 3:] - box[:, :3])

    @torch.no_grad()
    def update(self, step: int, density_fn: Callable[[Tensor], Tensor], step_size: float, threshold: float = 0.01,
               ema_decay: float = 0.95, warmup_steps: int = 256, gen: Optional[torch.Generator] = None,
               chunk: Optional[int] = None) -> None:
        """Re-estimate cell opacity: every cell during warm-up, then a random quarter plus a
        quarter-sized sample of the occupied cells. occ = max(occ * decay, density * step)."""
        n = self.occs.numel()
        device = self.occs.device
        chunk = chunk or max_field_samples(device)
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
            # Coarser cascades, and contracted space beyond the ROI, are marched with longer steps:
            # scale the opacity estimate alike.
            if self.space is not None:
                scale = self.space.step_scale(x)
            else:
                scale = 2.0 ** (c // self.resolution**3).float()
            opacity = density_fn(x).float() * step_size * scale
            self.occs[c] = torch.maximum(self.occs[c] * ema_decay, opacity)
        positive = self.occs[self.occs > 0]
        mean = positive.mean() if positive.numel() else torch.zeros((), device=device)
        thre = torch.clamp(mean, max=threshold)
        self.binaries.copy_((self.occs > thre).view_as(self.binaries))
        self._version += 1

    # ---------------------------------------------------------------- marching
    def _coarse_segment_occupied(self, x0: Tensor, x1: Tensor) -> Tensor:
        """bool [N]: the segment x0 → x1 (no longer than a coarse cell) touches an occupied cell.

        Coarse cells pool `_pool`^3 fine cells of level 0. A segment shorter than a cell crosses at most
        one cell boundary per axis, so every cell it touches has, per axis, the index of one of its two
        end cells: testing those 8 combinations is exact or conservative, never optimistic."""
        if self._coarse is None or self._coarse_version != self._version:
            P = self._pool
            self._coarse = torch.nn.functional.max_pool3d(self.binaries[:1].float(), P, P)[0].bool()
            self._coarse_version = self._version
        base = self.aabbs[0]
        Rc = self._coarse.shape[0]
        scale = Rc / (base[3:] - base[:3])
        a = ((x0 - base[:3]) * scale).long().clamp(0, Rc - 1)  # [N, 3] end cells
        b = ((x1 - base[:3]) * scale).long().clamp(0, Rc - 1)
        flat = self._coarse.view(-1)
        hit = torch.zeros(x0.shape[0], dtype=torch.bool, device=x0.device)
        for cx in (a[:, 0], b[:, 0]):
            for cy in (a[:, 1], b[:, 1]):
                for cz in (a[:, 2], b[:, 2]):
                    hit |= flat[(cx * Rc + cy) * Rc + cz]
        return hit

    @torch.no_grad()
    def sampling(self, rays_o: Tensor, rays_d: Tensor, near: float, far: float, step: float, cone_angle: float = 0.0,
                 stratified: bool = False, sigma_fn: Optional[SigmaFn] = None, alpha_threshold: float = 0.0,
                 early_stop_eps: float = 1e-4, gen: Optional[torch.Generator] = None, coarse: bool = True
                 ) -> tuple[Tensor, Tensor, Tensor]:
        """March rays [R,3] through the occupied cells. Returns ray_indices [S], t_starts [S], t_ends [S].

        Step boundaries sit at s_near + offset + m (integer m, s the step coordinate of the schedule, schedule.py);
        step k spans boundaries k-1 and k, clipped to [s_near, s_far]. With `coarse`, groups of F steps
        that lie wholly in empty coarse cells are dropped before the per-step test (same result, fewer
        candidates); `sigma_fn` then removes samples hidden behind opaque ones (`visible_samples`)."""
        n_rays, device = rays_o.shape[0], rays_o.device
        rays = torch.arange(n_rays, device=device)
        if self.space is not None:  # contracted: the whole ray, steps growing outside the ROI
            t_near = torch.full((n_rays,), float(near), device=device)
            t_far = torch.full((n_rays,), float(far), device=device)
            sched = ContractedSchedule.for_rays(rays_o, rays_d, self.aabbs[0], t_near, t_far, step)
        else:
            t_near, t_far = ray_aabb(rays_o, rays_d, self.outer_aabb)
            t_near = t_near.clamp_min(near)
            t_far = t_far.clamp_max(far)
            sched = StepSchedule(step, cone_angle)
        s_near, s_far = sched.s_of_t(t_near, rays), sched.s_of_t(t_far, rays)
        offset = torch.rand(n_rays, device=device, generator=gen) if stratified else torch.zeros(n_rays, device=device)
        counts = (torch.floor(s_far - s_near - offset) + 2).clamp_min(0).long()  # always reaches s_far
        counts = torch.where(t_far > t_near, counts, torch.zeros_like(counts))

        def spans(ray: Tensor, k_lo: Tensor, k_hi: Tensor) -> tuple[Tensor, Tensor]:
            """t range covered by steps k_lo .. k_hi - 1 of each ray (clipped)."""
            lo = torch.maximum(s_near[ray] + offset[ray] + (k_lo - 1).float(), s_near[ray])
            hi = torch.minimum(s_near[ray] + offset[ray] + (k_hi - 1).float(), s_far[ray])
            return sched.t_of_s(lo, ray), sched.t_of_s(hi, ray)

        F = int(self._coarse_cell / step) if (coarse and self.levels == 1 and self.space is None) else 1
        if F >= 3:
            # Coarse pass: groups of F steps (at most one coarse cell long), kept when their segment
            # touches an occupied coarse cell; groups that cone-grown steps made longer are kept as is.
            g_counts = (counts + F - 1) // F
            g_ray = torch.repeat_interleave(rays, g_counts)
            g = torch.arange(int(g_counts.sum()), device=device) - (torch.cumsum(g_counts, 0) - g_counts)[g_ray]
            t_lo, t_hi = spans(g_ray, g * F, g * F + F)
            o, d = rays_o[g_ray], rays_d[g_ray]
            x0, x1 = o + d * t_lo[:, None], o + d * t_hi[:, None]
            keep = (t_hi > t_lo) & ((t_hi - t_lo > self._coarse_cell) | self._coarse_segment_occupied(x0, x1))
            g_ray, g = g_ray[keep], g[keep]
            n_fine = torch.minimum(counts[g_ray] - g * F, torch.full_like(g, F))
            ray_indices = torch.repeat_interleave(g_ray, n_fine)  # [S0], still sorted by ray
            first = torch.cumsum(n_fine, 0) - n_fine
            k = torch.repeat_interleave(g * F, n_fine) + torch.arange(ray_indices.numel(), device=device) \
                - torch.repeat_interleave(first, n_fine)
        else:
            ray_indices = torch.repeat_interleave(rays, counts)  # [S0]
            k = torch.arange(ray_indices.numel(), device=device) - (torch.cumsum(counts, 0) - counts)[ray_indices]
        t_starts, t_ends = spans(ray_indices, k, k + 1)
        mid = 0.5 * (t_starts + t_ends)
        x = rays_o[ray_indices] + rays_d[ray_indices] * mid[:, None]
        keep = (t_ends > t_starts) & self.occupied(x)
        ray_indices, t_starts, t_ends = ray_indices[keep], t_starts[keep], t_ends[keep]
        if sigma_fn is not None and ray_indices.numel() > 0 and (early_stop_eps > 0 or alpha_threshold > 0):
            keep = visible_samples(sigma_fn, ray_indices, t_starts, t_ends, n_rays, early_stop_eps, alpha_threshold)
            ray_indices, t_starts, t_ends = ray_indices[keep], t_starts[keep], t_ends[keep]
        return ray_indices, t_starts, t_ends


@torch.no_grad()
def visible_samples(sigma_fn: SigmaFn, ray_indices: Tensor, t_starts: Tensor, t_ends: Tensor, n_rays: int,
                    early_stop_eps: float, alpha_threshold: float, first_wave: int = 4) -> Tensor:
    """bool [S]: samples in front of the point where transmittance drops below `early_stop_eps`,
    and at least `alpha_threshold` opaque.

    Densities are evaluated in waves along the rays (the first 4 samples of every ray, then the next
    8, 16, ...), and a ray leaves the waves once it is opaque: samples behind surfaces are never
    evaluated, which is most of them once the field has converged."""
    S = ray_indices.numel()
    device = ray_indices.device
    counts = torch.bincount(ray_indices, minlength=n_rays)
    first = torch.cumsum(counts, 0) - counts
    rank = torch.arange(S, device=device) - first[ray_indices]  # [S] position along its ray
    keep = torch.zeros(S, dtype=torch.bool, device=device)
    depth_before = torch.zeros(n_rays, device=device)  # optical depth of the waves done so far
    alive = torch.ones(n_rays, dtype=torch.bool, device=device)
    log_eps = -math.log(early_stop_eps) if early_stop_eps > 0 else math.inf
    start, size = 0, first_wave
    max_rank = int(counts.max())
    while start < max_rank:
        idx = torch.nonzero((rank >= start) & (rank < start + size) & alive[ray_indices]).squeeze(-1)
        if idx.numel() == 0:
            break
        ri, ts, te = ray_indices[idx], t_starts[idx], t_ends[idx]
        tau = sigma_fn(ts, te, ri).float() * (te - ts)  # [s] optical depth of each interval
        depth = depth_before[ri] + exclusive_sum_per_ray(tau, ri, n_rays)
        keep[idx] = kept = (depth <= log_eps) & (1 - torch.exp(-tau) >= alpha_threshold)
        if hasattr(sigma_fn, "kept"):  # a sigma_fn that keeps what it computed for the samples kept (render.py)
            sigma_fn.kept(idx, kept)
        depth_before.index_add_(0, ri, tau)
        alive = depth_before <= log_eps
        start, size = start + size, size * 2
    return keep
