"""Regularisers on packed samples (the photometric loss is the trainer's MSE).

Distortion loss (mip-NeRF 360, eq. 15), per ray over its samples i with weights w_i and normalised
intervals [s_i, s_i'] (midpoints m_i, lengths d_i):

    L = sum_ij w_i w_j |m_i - m_j|  +  1/3 sum_i w_i^2 d_i

It is small only when a ray's weight sits in one short interval: fog and floaters spread weight and
are penalised. With samples sorted along each ray the double sum is linear in the samples:
sum_ij w_i w_j |m_i - m_j| = 2 sum_i w_i (m_i W_i - M_i), W_i and M_i the exclusive per-ray sums of
w and w m.
"""

from __future__ import annotations

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
