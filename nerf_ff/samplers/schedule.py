"""Step schedules: where along a ray the marching steps fall.

A schedule maps distance t to a 'step coordinate' s in which every step has length 1; samplers place
step boundaries at integer s (plus a random offset when stratified) and map them back with t_of_s.

StepSchedule (object scenes): constant steps of `step` up to t1 = step / cone_angle, then geometric
steps t * cone_angle (instant-ngp's cone marching):
    s(t) = t / step                                  (t <= t1)
    s(t) = t1 / step + log(t / t1) / log(1 + cone)   (t >  t1)

ContractedSchedule (unbounded scenes, per ray): a ray meets the region of interest (ROI, half-size ρ)
on [t_lo, t_hi]; inside it the steps are `step`; outside they grow as (1 + D/L)² with D the distance
to the ROI along the ray and L = OUTER_SCALE ρ: the scene contraction (space.py) shrinks space
radially like 1/D², so the steps stay about as long in contracted space as inside the ROI (mip-NeRF
360's disparity spacing). Before the ROI (cameras outside it):
    s(t) = (L/step) [1/(1 + (t_lo - t)/L) - 1/(1 + (t_lo - t0)/L)]                  t0 <= t < t_lo
inside it s grows by 1/step per unit, and beyond it
    s(t) = B + (L/step) [1 - 1/(1 + (t - t_hi)/L)]                                  t > t_hi
so a ray out to infinity costs at most 2L/step steps more than its path through the ROI. Rays that
miss the ROI use their closest approach as t_lo = t_hi. OUTER_SCALE 2 rather than 1: rays also move
across the contracted shell (most of all along the L∞ cube's edges); with 2, a step spans at most
~2 cells of a grid whose ROI cells are two steps wide (99% under one cell; tests/test_space.py).
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor

OUTER_SCALE = 2.0


def ray_aabb(rays_o: Tensor, rays_d: Tensor, aabb: Tensor) -> tuple[Tensor, Tensor]:
    """Entry and exit distances [R] of rays through a box; t_far < t_near where a ray misses."""
    inv = 1.0 / torch.where(rays_d.abs() < 1e-12, torch.full_like(rays_d, 1e-12), rays_d)
    t0 = (aabb[:3] - rays_o) * inv
    t1 = (aabb[3:] - rays_o) * inv
    t_near = torch.minimum(t0, t1).amax(-1)
    t_far = torch.maximum(t0, t1).amin(-1)
    return t_near, t_far


class StepSchedule:
    """Constant steps, geometric beyond t1 (see the module docstring). `ray` arguments are ignored."""

    def __init__(self, step: float, cone_angle: float):
        self.step, self.cone = step, cone_angle
        self.t1 = step / cone_angle if cone_angle > 0 else math.inf
        self.s1 = self.t1 / step if cone_angle > 0 else math.inf
        self.log1p = math.log1p(cone_angle) if cone_angle > 0 else 1.0

    def s_of_t(self, t: Tensor, ray: Optional[Tensor] = None) -> Tensor:
        if self.cone <= 0:
            return t / self.step
        lin = t / self.step
        geo = self.s1 + torch.log(t.clamp_min(self.t1) / self.t1) / self.log1p
        return torch.where(t <= self.t1, lin, geo)

    def t_of_s(self, s: Tensor, ray: Optional[Tensor] = None) -> Tensor:
        if self.cone <= 0:
            return s * self.step
        lin = s * self.step
        geo = self.t1 * torch.exp((s.clamp_min(self.s1) - self.s1) * self.log1p)
        return torch.where(s <= self.s1, lin, geo)


class ContractedSchedule:
    """Per-ray schedule for contracted space (see the module docstring). Tensors are [R]; `ray`
    indexes them (None: the inputs are aligned with the rays)."""

    def __init__(self, step: float, rho: float, t0: Tensor, t_lo: Tensor, t_hi: Tensor):
        """rho: the growth length L of the steps outside [t_lo, t_hi] (OUTER_SCALE x the ROI half-size)."""
        self.step, self.rho = step, rho
        self.t0, self.t_lo, self.t_hi = t0, t_lo, t_hi
        self.inv0 = 1.0 / (1.0 + (t_lo - t0).clamp_min(0) / rho)
        self.A = (rho / step) * (1.0 - self.inv0)  # s at t_lo
        self.B = self.A + (t_hi - t_lo) / step  # s at t_hi

    @staticmethod
    def for_rays(rays_o: Tensor, rays_d: Tensor, roi: Tensor, t_near: Tensor, t_far: Tensor,
                 step: float) -> "ContractedSchedule":
        """The schedule of rays [R, 3] through the ROI box roi [6], clipped to [t_near, t_far] [R]."""
        t_in, t_out = ray_aabb(rays_o, rays_d, roi)
        centre = (roi[:3] + roi[3:]) / 2
        closest = ((centre - rays_o) * rays_d).sum(-1)  # rays that miss: their closest approach
        miss = t_out < t_in
        t_in = torch.where(miss, closest, t_in)
        t_out = torch.where(miss, closest, t_out)
        t_lo = torch.minimum(torch.maximum(t_in, t_near), t_far)
        t_hi = torch.minimum(torch.maximum(t_out, t_lo), t_far)
        rho = float((roi[3:] - roi[:3]).mean()) / 2
        return ContractedSchedule(step, OUTER_SCALE * rho, t_near, t_lo, t_hi)

    def _per_ray(self, ray: Optional[Tensor]):
        vals = (self.t_lo, self.t_hi, self.inv0, self.A, self.B)
        return vals if ray is None else tuple(v[ray] for v in vals)

    def s_of_t(self, t: Tensor, ray: Optional[Tensor] = None) -> Tensor:
        lo, hi, inv0, A, B = self._per_ray(ray)
        k = self.rho / self.step
        before = k * (1.0 / (1.0 + (lo - t).clamp_min(0) / self.rho) - inv0)
        inside = A + (t - lo) / self.step
        after = B + k * (1.0 - 1.0 / (1.0 + (t - hi).clamp_min(0) / self.rho))
        return torch.where(t < lo, before, torch.where(t <= hi, inside, after))

    def t_of_s(self, s: Tensor, ray: Optional[Tensor] = None) -> Tensor:
        lo, hi, inv0, A, B = self._per_ray(ray)
        q = (s * self.step / self.rho + inv0).clamp_min(1e-12)
        before = lo - self.rho * (1.0 / q - 1.0)
        inside = lo + (s - A) * self.step
        u = ((s - B) * self.step / self.rho).clamp(0.0, 1.0 - 1e-7)
        after = hi + self.rho * (1.0 / (1.0 - u) - 1.0)
        return torch.where(s < A, before, torch.where(s <= B, inside, after))
