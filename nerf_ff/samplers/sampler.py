"""One interface over both samplers, so the renderer does not care which one a config picks."""

from __future__ import annotations

import sys
from typing import Callable, Optional

import torch
from torch import Tensor, nn

from ..config import SamplerConfig
from .occupancy import OccupancyGrid, SigmaFn
from .uniform import uniform_sampling


class RaySampler(nn.Module):
    """`sample(rays) -> (ray_indices, t_starts, t_ends)`; `update(step, density_fn)` between steps."""

    def __init__(self, cfg: SamplerConfig, aabb: Tensor, near: float, far: float, levels: int = 1):
        super().__init__()
        self.cfg, self.near, self.far = cfg, float(near), float(far)
        self.grid: Optional[OccupancyGrid] = None
        if cfg.kind == "occupancy":
            self.grid = OccupancyGrid(aabb, cfg.grid_resolution, levels)
            self.step = self.grid.base_diagonal / cfg.render_steps
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
            if device.type == "cuda":
                self._marcher, reason = make_marcher(self.grid, self.step, self.cfg.cone_angle)
            if self._marcher is None:
                self.backend_note = f"torch (sampler.backend nerfacc not used: {reason})"
                print(f"nerf-ff: warning: {self.backend_note}", file=sys.stderr)
            else:
                self.backend_note = reason
        return self._marcher

    def sample(self, rays_o: Tensor, rays_d: Tensor, sigma_fn: Optional[SigmaFn], train: bool,
               gen: Optional[torch.Generator] = None) -> tuple[Tensor, Tensor, Tensor]:
        c = self.cfg
        if self.grid is None:
            return uniform_sampling(rays_o, c.n_samples, self.near, self.far, stratified=train, gen=gen)
        marcher = self._accelerated(rays_o.device)
        if marcher is not None:
            return marcher.sampling(rays_o, rays_d, self.near, self.far, self.step, c.cone_angle, train, sigma_fn,
                                    c.alpha_threshold, c.early_stop_eps)
        return self.grid.sampling(rays_o, rays_d, self.near, self.far, self.step, c.cone_angle, stratified=train,
                                  sigma_fn=sigma_fn, alpha_threshold=c.alpha_threshold,
                                  early_stop_eps=c.early_stop_eps, gen=gen)

    def update(self, step: int, density_fn: Callable[[Tensor], Tensor], gen: Optional[torch.Generator] = None) -> bool:
        """Refresh the occupancy grid every `update_every` steps; returns whether it did."""
        c = self.cfg
        if self.grid is None or step % c.update_every != 0:
            return False
        self.grid.update(step, density_fn, self.step, c.occ_threshold, c.ema_decay, c.warmup_steps, gen=gen)
        return True

    def occupied_fraction(self) -> float:
        return float(self.grid.binaries.float().mean()) if self.grid is not None else 1.0
