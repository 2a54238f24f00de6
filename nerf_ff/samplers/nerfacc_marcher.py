"""Optional CUDA marcher: nerfacc's grid traversal over *our* occupancy grid.

The grid (its EMA update and thresholds) stays the PyTorch reference in occupancy.py; nerfacc only
replaces the ray marching, reading our `binaries` and `aabbs` (same layout: [levels, R, R, R], x-major,
level l = base box scaled by 2^l). It is used only after `self_check` agreed with the reference on
random rays; otherwise the sampler falls back to PyTorch and records why (metrics.json backends).
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from ..backends import load_nerfacc
from .occupancy import OccupancyGrid, SigmaFn


class NerfaccMarcher:
    def __init__(self, nerfacc, grid: OccupancyGrid):
        self.grid = grid
        box = grid.aabbs[0]
        self.estimator = nerfacc.OccGridEstimator(box.tolist(), grid.resolution, grid.levels).to(box.device)

    def sampling(self, rays_o: Tensor, rays_d: Tensor, near: float, far: float, step: float, cone_angle: float,
                 stratified: bool, sigma_fn: Optional[SigmaFn], alpha_threshold: float, early_stop_eps: float
                 ) -> tuple[Tensor, Tensor, Tensor]:
        est = self.estimator
        est.binaries = self.grid.binaries  # share, do not copy: the grid updates in place
        est.occs = self.grid.occs
        ri, ts, te = est.sampling(rays_o, rays_d, sigma_fn=sigma_fn, near_plane=near, far_plane=far,
                                  render_step_size=step, early_stop_eps=early_stop_eps, alpha_thre=alpha_threshold,
                                  stratified=stratified, cone_angle=cone_angle)
        return ri.long(), ts, te


@torch.no_grad()
def self_check(marcher: NerfaccMarcher, step: float, cone_angle: float, n_rays: int = 4096) -> Optional[str]:
    """None when nerfacc marches the grid like the reference, else what differs.

    Both are given the same rays over a grid of random blobs. Sample positions differ by design (each
    starts its steps differently), so compare per-ray coverage: the total length of occupied intervals
    per ray must agree within two steps for 99% of rays."""
    grid = marcher.grid
    device = grid.aabbs.device
    saved = (grid.binaries.clone(), grid.occs.clone())
    try:
        gen = torch.Generator(device=device).manual_seed(0)
        box = grid.aabbs[0]
        centre, half = (box[:3] + box[3:]) / 2, (box[3:] - box[:3]) / 2
        blobs = centre + (torch.rand(8, 3, device=device, generator=gen) * 2 - 1) * half * 0.8
        grid.update(0, lambda x: ((x[:, None] - blobs).norm(dim=-1).min(-1).values < 0.2 * half.min()).float() * 1e3,
                    step_size=step, warmup_steps=1)
        o = centre + torch.nn.functional.normalize(torch.randn(n_rays, 3, device=device, generator=gen), dim=-1) \
            * 3 * half.max()
        d = torch.nn.functional.normalize(centre + (torch.rand(n_rays, 3, device=device, generator=gen) - 0.5)
                                          * half - o, dim=-1)
        ref = grid.sampling(o, d, 0.0, 1e4, step, cone_angle, stratified=False, early_stop_eps=0.0)
        got = marcher.sampling(o, d, 0.0, 1e4, step, cone_angle, stratified=False, sigma_fn=None, alpha_threshold=0.0,
                               early_stop_eps=0.0)
        cover = [torch.zeros(n_rays, device=device).index_add_(0, ri, te - ts) for ri, ts, te in (ref, got)]
        bad = ((cover[0] - cover[1]).abs() > 2 * step * (1 + 50 * cone_angle)).float().mean().item()
        if bad > 0.01:
            return f"nerfacc marching disagrees with the reference on {100 * bad:.1f}% of rays"
        return None
    finally:
        grid.binaries.copy_(saved[0])
        grid.occs.copy_(saved[1])
        grid._version += 1


def make_marcher(grid: OccupancyGrid, step: float, cone_angle: float) -> tuple[Optional[NerfaccMarcher], str]:
    """(marcher, note): a checked nerfacc marcher, or None and the reason the reference is used."""
    nerfacc, reason = load_nerfacc()
    if nerfacc is None:
        return None, reason
    marcher = NerfaccMarcher(nerfacc, grid)
    problem = self_check(marcher, step, cone_angle)
    if problem:
        return None, problem
    return marcher, "nerfacc 0.5.3 grid traversal (passed the parity self-check)"
