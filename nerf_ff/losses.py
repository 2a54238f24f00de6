"""Regularisers on packed samples (the photometric loss is the trainer's MSE).

Distortion loss (mip-NeRF 360, eq. 15), per ray over its samples i with weights w_i and normalised
intervals [s_i, s_i'] (midpoints m_i, lengths d_i):

    L = sum_ij w_i w_j |m_i - m_j|  +  1/3 sum_i w_i^2 d_i

It is small only when a ray's weight sits in one short interval: fog and floaters spread weight and
are penalised. With samples sorted along each ray the double sum is linear in the samples:
sum_ij w_i w_j |m_i - m_j| = 2 sum_i w_i (m_i W_i - M_i), W_i and M_i the exclusive per-ray sums of
w and w m.

Depth loss (SfM keypoints, data/keypoints.py), per keypoint ray with known depth d: the ray's weight
should all lie in the window [d (1 - e), d (1 + e)] around the keypoint's 3D point:

    L = (1 - W)^2,   W = sum_i w_i |[t_i, t_i'] ∩ window| / (t_i' - t_i)

(each interval's weight counted by the part of it inside the window). W is the transmittance at the
window's near end minus that at its far end, so the loss empties space before the point and makes the
point opaque, without caring about the ray's weight after it (bounded, unlike DS-NeRF's log-likelihood,
so an outlier point costs at most 1).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .packed import exclusive_sum_per_ray, sum_per_ray


def distortion_loss(weights: Tensor, s_starts: Tensor, s_ends: Tensor, ray_indices: Tensor, n_rays: int) -> Tensor:
    """Mean over rays of the distortion loss. All inputs [S] (sorted by ray, then along it)."""
    if weights.numel() == 0:
        return weights.sum()
    mid, length = 0.5 * (s_starts + s_ends), s_ends - s_starts
    w_before = exclusive_sum_per_ray(weights, ray_indices, n_rays)
    wm_before = exclusive_sum_per_ray(weights * mid, ray_indices, n_rays)
    inter = 2 * weights * (mid * w_before - wm_before)
    intra = weights**2 * length / 3
    return sum_per_ray(inter + intra, ray_indices, n_rays).mean()


def depth_window_loss(weights: Tensor, t_starts: Tensor, t_ends: Tensor, ray_indices: Tensor, depth: Tensor,
                      window: float, n_rays: int) -> Tensor:
    """Mean over the supervised rays (depth > 0) of (1 - the ray's weight inside depth · [1 - window,
    1 + window])². Samples [S] sorted by ray; depth [n_rays] along unit rays, 0 for rays without a
    keypoint (they ride in the same batch; no boolean indexing, so no host sync)."""
    supervised = (depth > 0).to(weights.dtype)
    if weights.numel() == 0:
        return weights.sum() + 1.0
    d = depth[ray_indices]
    lo, hi = d * (1 - window), d * (1 + window)
    inside = (torch.minimum(t_ends, hi) - torch.maximum(t_starts, lo)).clamp(min=0)
    frac = inside / (t_ends - t_starts).clamp(min=1e-12)
    w_in = sum_per_ray(weights * frac, ray_indices, n_rays)
    return ((1 - w_in) ** 2 * supervised).sum() / supervised.sum().clamp(min=1)
