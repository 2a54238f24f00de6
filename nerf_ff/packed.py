"""Packed-sample math in pure PyTorch (the reference every accelerated path must match).

Samples of many rays live in flat arrays sorted by ray: `ray_indices` [S] (non-decreasing),
`t_starts`, `t_ends` [S]. Per ray i with samples k = 1..K along the ray:

    tau_k   = sigma_k * (t_end_k - t_start_k)                 optical depth of the interval
    alpha_k = 1 - exp(-tau_k)                                  opacity of the interval
    T_k     = exp(-sum_{j<k} tau_j) = prod_{j<k} (1 - alpha_j) transmittance before it
    w_k     = T_k * alpha_k                                    compositing weight

The exclusive per-ray sum is a global cumulative sum minus each ray's starting offset; it is done in
float64 so that millions of samples do not erode the small per-ray sums.
"""

from __future__ import annotations

import torch
from torch import Tensor


def ray_starts(ray_indices: Tensor, n_rays: int) -> Tensor:
    """Index of each ray's first sample [n_rays] (rays without samples get the next ray's start)."""
    counts = torch.bincount(ray_indices, minlength=n_rays)
    return torch.cumsum(counts, 0) - counts


def exclusive_sum_per_ray(values: Tensor, ray_indices: Tensor, n_rays: int) -> Tensor:
    """sum_{j<k, same ray} values_j for every sample k. [S] → [S] (float64 inside)."""
    if values.numel() == 0:
        return values
    inclusive = torch.cumsum(values.double(), 0)
    exclusive = inclusive - values.double()
    first = ray_starts(ray_indices, n_rays)[ray_indices]  # [S] index of the ray's first sample
    return (exclusive - exclusive[first]).to(values.dtype)


def render_weights(sigmas: Tensor, t_starts: Tensor, t_ends: Tensor, ray_indices: Tensor, n_rays: int
                   ) -> tuple[Tensor, Tensor, Tensor]:
    """Compositing weights, transmittance and alpha per sample, each [S]."""
    tau = sigmas * (t_ends - t_starts)
    trans = torch.exp(-exclusive_sum_per_ray(tau, ray_indices, n_rays))
    alphas = 1.0 - torch.exp(-tau)
    return trans * alphas, trans, alphas


def sum_per_ray(values: Tensor, ray_indices: Tensor, n_rays: int) -> Tensor:
    """Per-ray sum of per-sample values: [S] or [S, C] → [n_rays] or [n_rays, C]."""
    out = torch.zeros((n_rays,) + values.shape[1:], dtype=values.dtype, device=values.device)
    return out.index_add_(0, ray_indices, values)


def composite(weights: Tensor, rgbs: Tensor, t_starts: Tensor, t_ends: Tensor, ray_indices: Tensor,
              n_rays: int, background: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """rgb [n_rays, 3] over `background` ([3] or [n_rays, 3]), expected depth [n_rays], opacity [n_rays]."""
    opacity = sum_per_ray(weights, ray_indices, n_rays)
    rgb = sum_per_ray(weights[:, None] * rgbs, ray_indices, n_rays)
    depth_sum = sum_per_ray(weights * 0.5 * (t_starts + t_ends), ray_indices, n_rays)
    depth = depth_sum / opacity.clamp_min(1e-10)
    rgb = rgb + (1.0 - opacity)[:, None] * background
    return rgb, depth, opacity


def median_depth(weights: Tensor, t_starts: Tensor, t_ends: Tensor, ray_indices: Tensor, n_rays: int,
                 opacity: Tensor) -> Tensor:
    """Depth [n_rays] where a ray's running weight reaches half its opacity, interpolated linearly in the
    interval where it does (so depth maps are not stepped at the sample spacing); 0 for rays without
    weight (as the expected depth). Unlike the expected depth, it is not pulled behind a surface by
    the weight of fainter layers beyond it (forward-facing captures: BENCHMARKS.md)."""
    depth = torch.zeros(n_rays, dtype=t_starts.dtype, device=t_starts.device)
    if weights.numel() == 0:
        return depth
    before = exclusive_sum_per_ray(weights, ray_indices, n_rays)  # [S] weight of the samples before
    half = 0.5 * opacity[ray_indices]
    crossed = (before + weights >= half) & (weights > 0)
    order = torch.arange(weights.numel(), device=weights.device)
    # first crossing sample of each ray (samples are packed by ray in increasing t)
    first = torch.full((n_rays,), weights.numel(), dtype=order.dtype, device=order.device)
    first.scatter_reduce_(0, ray_indices[crossed], order[crossed], "amin")
    has = first < weights.numel()
    k = first[has]
    frac = ((half[k] - before[k]) / weights[k].clamp_min(1e-12)).clamp(0.0, 1.0)
    depth[has] = t_starts[k] + frac * (t_ends[k] - t_starts[k])
    return depth
