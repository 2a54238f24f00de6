"""One interface over both samplers, so the renderer does not care which one a config picks."""

from __future__ import annotations

import sys
from typing import Callable, Optional

import torch
from torch import Tensor, nn

from ..config import SamplerConfig
from ..space import SceneSpace
from .occupancy import OccupancyGrid, SigmaFn
from .schedule import ContractedSchedule
from .uniform import uniform_in_schedule, uniform_sampling


class RaySampler(nn.Module):
    """`sample(rays) -> (ray_indices, t_starts, t_ends)`; `update(step, density_fn)` between steps."""

    def __init__(self, cfg: SamplerConfig, aabb: Tensor, near: float, far: float, levels: int = 1,
                 space: Optional[SceneSpace] = None):
        """aabb [6]: the object's box or the unbounded scene's ROI; space: how positions are normalised
        (None: the object box)."""
        super().__init__()
        self.cfg, self.near, self.far = cfg, float(near), float(far)
        self.space = space if space is not None else SceneSpace("object", aabb)
        self.grid: Optional[OccupancyGrid] = None
        if cfg.kind == "occupancy":
            self.grid = OccupancyGrid(aabb, cfg.grid_resolution, levels, self.space)
            self.step = self.grid.base_diagonal / cfg.render_steps
        elif self.space.contracted:  # n_samples spread evenly in contracted space (schedule.py)
            self.step = float((self.space.aabb[3:] - self.space.aabb[:3]).norm()) / cfg.n_samples
        else:
            self.step = (self.far - self.near) / cfg.n_samples
        self._marcher = None  # accelerated marcher, chosen on first use on a CUDA device
        self.backend_note = "torch"

    def _accelerated(self, device: torch.device):
        if self.cfg.backend != "nerfacc" or self.grid is None:
            return None
        if self._marcher is None and self.backend_note == "torch":
            from .nerfacc_marcher import make_marcher  # noqa: PLC0415 (optional CUDA path)

            reason = "it needs a CUDA device"
            if self.space.contracted:
                reason = "its marcher has no scene contraction (unbounded scene)"
            elif device.type == "cuda":
                self._marcher, reason = make_marcher(self.grid, self.step, self.cfg.cone_angle)
            if self._marcher is None:
                self.backend_note = f"torch (sampler.backend nerfacc not used: {reason})"
                print(f"nerf-ff: warning: sampler.backend nerfacc not used ({reason}); the torch marcher runs instead",
                      file=sys.stderr)
            else:
                self.backend_note = reason
        return self._marcher

    def sample(self, rays_o: Tensor, rays_d: Tensor, sigma_fn: Optional[SigmaFn], train: bool,
               gen: Optional[torch.Generator] = None) -> tuple[Tensor, Tensor, Tensor]:
        c = self.cfg
        if self.grid is None and self.space.contracted:
            t_near = torch.full((rays_o.shape[0],), self.near, device=rays_o.device)
            sched = ContractedSchedule.for_rays(rays_o, rays_d, self.space.aabb, t_near, torch.full_like(t_near, self.far),
                                                self.step)
            return uniform_in_schedule(sched, t_near, torch.full_like(t_near, self.far), c.n_samples,
                                       stratified=train, gen=gen)
        if self.grid is None:
            return uniform_sampling(rays_o, c.n_samples, self.near, self.far, stratified=train, gen=gen)
        marcher = self._accelerated(rays_o.device)
        if marcher is not None:
            return marcher.sampling(rays_o, rays_d, self.near, self.far, self.step, c.cone_angle, train, sigma_fn,
                                    c.alpha_threshold, c.early_stop_eps)
        return self.grid.sampling(rays_o, rays_d, self.near, self.far, self.step, c.cone_angle, stratified=train,
                                  sigma_fn=sigma_fn, alpha_threshold=c.alpha_threshold,
                                  early_stop_eps=c.early_stop_eps, gen=gen)

    def spacing(self, rays_o: Tensor, rays_d: Tensor, t: Tensor, ray_indices: Tensor) -> Tensor:
        """Normalised coordinate along the ray of distances t [S] (of rays ray_indices [S]): t over the box
        diagonal for objects; for unbounded scenes the contracted-space step coordinate over the steps
        across the ROI, so the whole infinite ray spans at most ~2. Monotone in t (distortion loss)."""
        diag = float((self.space.aabb[3:] - self.space.aabb[:3]).norm())
        if not self.space.contracted:
            return t / diag
        t_near = torch.full((rays_o.shape[0],), self.near, device=rays_o.device)
        sched = ContractedSchedule.for_rays(rays_o, rays_d, self.space.aabb, t_near,
                                            torch.full_like(t_near, self.far), diag)
        return sched.s_of_t(t, ray_indices)

    def update(self, step: int, density_fn: Callable[[Tensor], Tensor], gen: Optional[torch.Generator] = None) -> bool:
        """Refresh the occupancy grid every `update_every` steps; returns whether it did."""
        c = self.cfg
        if self.grid is None or step % c.update_every != 0:
            return False
        self.grid.update(step, density_fn, self.step, c.occ_threshold, c.ema_decay, c.warmup_steps, gen=gen)
        return True

    def occupied_fraction(self) -> float:
        return float(self.grid.binaries.float().mean()) if self.grid is not None else 1.0
