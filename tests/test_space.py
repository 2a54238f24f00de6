"""Scene space (box and contraction) and the contracted step schedule: property tests."""

import math

import pytest
import torch

from nerf_ff.samplers.schedule import OUTER_SCALE, ContractedSchedule, StepSchedule
from nerf_ff.space import SceneSpace, contract, uncontract

ROI = torch.tensor([-1.0, -2.0, 0.0, 3.0, 2.0, 4.0])  # a cube of half-size 2 around (1, 0, 2)


def test_contraction_is_identity_inside_bounded_and_inverted():
    gen = torch.Generator().manual_seed(0)
    y = torch.randn(5000, 3, generator=gen) * torch.logspace(-2, 4, 5000)[:, None]
    z = contract(y)
    inside = y.abs().amax(-1) <= 1
    assert torch.equal(z[inside], y[inside])
    assert z.abs().max() < 2
    far = y.abs().amax(-1) < 1e3  # beyond that float32 cannot tell 2 - 1/r from 2
    assert torch.allclose(uncontract(z[far]), y[far], rtol=1e-3, atol=1e-5)
    # Continuous at the ROI boundary, and the L∞ radius maps to 2 - 1/r.
    r = torch.tensor([[1.0, 0.3, -0.2], [2.0, 0.0, 0.0], [0.0, -10.0, 1.0]])
    assert torch.allclose(contract(r).abs().amax(-1), torch.tensor([1.0, 1.5, 1.9]))


def test_unbounded_space_maps_everything_into_the_unit_cube():
    space = SceneSpace("unbounded", ROI)
    x = torch.randn(2000, 3, generator=torch.Generator().manual_seed(1)) * 1e4
    u = space.to_unit(x)
    assert u.min() >= 0 and u.max() <= 1
    # The ROI is the central half of each axis; its corners land on 0.25 / 0.75.
    corners = torch.stack([ROI[:3], ROI[3:]])
    assert torch.allclose(space.to_unit(corners), torch.tensor([[0.25] * 3, [0.75] * 3]))
    pts = torch.rand(100, 3, generator=torch.Generator().manual_seed(2)) * 0.98 + 0.01
    assert torch.allclose(space.to_unit(space.from_unit(pts)), pts, atol=1e-5)
    assert torch.allclose(space.step_scale(torch.tensor([[1.0, 0.0, 2.0], [9.0, 0.0, 2.0]])), torch.tensor([1.0, 16.0]))


def test_object_space_is_the_box_normalisation():
    space = SceneSpace("object", ROI)
    x = torch.tensor([[-1.0, -2.0, 0.0], [3.0, 2.0, 4.0], [1.0, 0.0, 2.0]])
    assert torch.allclose(space.to_unit(x), torch.tensor([[0.0] * 3, [1.0] * 3, [0.5] * 3]))
    assert torch.allclose(space.from_unit(space.to_unit(x)), x)


def _rays(n=400, seed=0, spread=6.0):
    gen = torch.Generator().manual_seed(seed)
    o = torch.tensor([1.0, 0.0, 2.0]) + (torch.rand(n, 3, generator=gen) - 0.5) * 2 * spread
    d = torch.nn.functional.normalize(torch.randn(n, 3, generator=gen), dim=-1)
    return o, d


def test_contracted_schedule_is_monotone_invertible_and_finite_to_infinity():
    o, d = _rays()
    step = 0.05
    near, far = torch.full((400,), 0.1), torch.full((400,), 1e6)
    sched = ContractedSchedule.for_rays(o, d, ROI, near, far, step)
    t = torch.logspace(-1, 6, 200)[None].expand(400, -1).contiguous()  # [R, 200]
    ray = torch.arange(400)[:, None].expand(-1, 200)
    s = sched.s_of_t(t.reshape(-1), ray.reshape(-1)).view(400, 200)
    assert (s[:, 1:] >= s[:, :-1] - 1e-4).all()
    back = sched.t_of_s(s.reshape(-1), ray.reshape(-1)).view(400, 200)
    ok = t < 1e3  # float32 disparity resolves far distances only roughly (1 - u ~ rho / t)
    assert torch.allclose(back[ok], t[ok], rtol=1e-3, atol=1e-3)
    # At most 2 L / step steps outside the ROI, plus the path through it.
    rho = OUTER_SCALE * 2.0
    inside = sched.t_hi - sched.t_lo
    assert (s[:, -1] <= inside / step + 2 * rho / step + 1e-3).all()


def test_contracted_steps_stay_short_in_contracted_space():
    """Step boundaries mapped through the contraction: inside the ROI half a cell of a 64^3 grid; out to
    infinity, on rays that cross the ROI (what cameras framing it cast), under two cells and 99% under one:
    steps grow like the contraction shrinks space (schedule.py)."""
    space = SceneSpace("unbounded", ROI)
    o, d = _rays(400, seed=3, spread=2.0)  # cameras inside and around the ROI
    step = 4 * math.sqrt(3) / 128  # ROI diagonal / 128
    near, far = torch.full((400,), 0.05), torch.full((400,), 1e4)
    sched = ContractedSchedule.for_rays(o, d, ROI, near, far, step)
    s0, s1 = sched.s_of_t(near), sched.s_of_t(far)
    assert (s1 - s0).max() < 4 * math.sqrt(3) / step + 2 * OUTER_SCALE * 2.0 / step  # through the ROI + 2 L / step
    k = torch.arange(0, 400, dtype=torch.float32)
    s = torch.minimum(s0[:, None] + k[None], s1[:, None])  # [R, 400]
    ray = torch.arange(400)[:, None].expand_as(s)
    t = sched.t_of_s(s.reshape(-1), ray.reshape(-1)).view(400, 400)
    x = o[:, None] + d[:, None] * t[..., None]
    u = space.to_unit(x.view(-1, 3)).view(400, 400, 3)
    jump = (u[:, 1:] - u[:, :-1]).norm(dim=-1)  # [R, 399]
    cell = 1 / 64
    inside = ((x[:, 1:] - space.centre) / space.half_size).abs().amax(-1) < 1
    crosses = sched.t_hi > sched.t_lo
    assert jump[inside].max() < 0.5 * cell
    assert jump[crosses].max() < 2 * cell, jump[crosses].max()
    assert (jump[crosses] < cell).float().mean() > 0.99


def test_object_schedule_unchanged():
    sched = StepSchedule(0.01, 0.0)
    t = torch.linspace(0, 5, 11)
    assert torch.allclose(sched.t_of_s(sched.s_of_t(t)), t)


@pytest.mark.parametrize("stratified", [False, True])
def test_uniform_sampler_in_contracted_space_tiles_the_ray(stratified):
    from nerf_ff.config import SamplerConfig
    from nerf_ff.samplers import RaySampler

    space = SceneSpace("unbounded", ROI)
    sampler = RaySampler(SamplerConfig(kind="uniform", n_samples=64), ROI, 0.1, 1e4, space=space)
    o, d = _rays(50, seed=4, spread=1.0)
    ri, ts, te = sampler.sample(o, d, None, train=stratified, gen=torch.Generator().manual_seed(0))
    assert ri.numel() == 50 * 64 and (te > ts).all() and ts.min() >= 0.1 - 1e-5 and te.max() <= 1e4 * (1 + 1e-3)
    if not stratified:  # bins tile [near, far] exactly
        ts, te = ts.view(50, 64), te.view(50, 64)
        assert torch.allclose(ts[:, 1:], te[:, :-1], rtol=1e-4)
