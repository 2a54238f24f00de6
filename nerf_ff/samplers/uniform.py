"""Stratified uniform sampling between near and far: the baseline (and the Fourier-features paper's
simplified NeRF protocol: 128 samples between near 2 and far 6, no hierarchical sampling)."""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor


def uniform_sampling(rays_o: Tensor, n_samples: int, near: float, far: float, stratified: bool = False,
                     gen: Optional[torch.Generator] = None) -> tuple[Tensor, Tensor, Tensor]:
    """n_samples bins per ray over [near, far], one sample per bin (jittered when stratified).

    Returns packed ray_indices [R*n], t_starts [R*n], t_ends [R*n]; each sample is an interval
    of one bin width centred on its (jittered) position, so the intervals tile [near, far] on average.
    """
    n_rays, device = rays_o.shape[0], rays_o.device
    width = (far - near) / n_samples
    bins = near + width * torch.arange(n_samples, device=device, dtype=torch.float32)  # [n]
    u = torch.rand(n_rays, n_samples, device=device, generator=gen) if stratified else torch.full(
        (n_rays, n_samples), 0.5, device=device)
    t_mid = bins[None, :] + u * width  # [R, n]
    t_starts = (t_mid - 0.5 * width).reshape(-1)
    t_ends = (t_mid + 0.5 * width).reshape(-1)
    ray_indices = torch.arange(n_rays, device=device).repeat_interleave(n_samples)
    return ray_indices, t_starts, t_ends


def uniform_in_schedule(sched, t_near: Tensor, t_far: Tensor, n_samples: int, stratified: bool = False,
                        gen: Optional[torch.Generator] = None) -> tuple[Tensor, Tensor, Tensor]:
    """n_samples bins per ray, evenly spaced in a schedule's step coordinate s (schedule.py) between
    t_near and t_far [R]: for contracted space, evenly spaced in contracted distance, out to infinity.
    As in `uniform_sampling`, each sample is one bin wide around its (jittered) position."""
    n_rays, device = t_near.shape[0], t_near.device
    s0, s1 = sched.s_of_t(t_near), sched.s_of_t(t_far)  # [R]
    k = torch.arange(n_samples, device=device, dtype=torch.float32)
    u = torch.rand(n_rays, n_samples, device=device, generator=gen) if stratified else torch.full(
        (n_rays, n_samples), 0.5, device=device)
    width = ((s1 - s0) / n_samples)[:, None]  # [R, 1]
    mid = s0[:, None] + (k[None] + u) * width  # [R, n]
    lo = torch.maximum(mid - 0.5 * width, s0[:, None]).reshape(-1)
    hi = torch.minimum(mid + 0.5 * width, s1[:, None]).reshape(-1)
    ray = torch.arange(n_rays, device=device).repeat_interleave(n_samples)
    return ray, sched.t_of_s(lo, ray), sched.t_of_s(hi, ray)
