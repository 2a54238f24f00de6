"""Ray marching: samples stay in [near, far] and the box, empty space is skipped, grid updates."""

import math

import torch

from nerf_ff.samplers import OccupancyGrid, ray_aabb, uniform_sampling
from nerf_ff.samplers.schedule import StepSchedule

BOX = torch.tensor([-1.0, -1.0, -1.0, 1.0, 1.0, 1.0])


def _rays(n, seed=0):
    gen = torch.Generator().manual_seed(seed)
    o = torch.randn(n, 3, generator=gen)
    o = 3.5 * o / o.norm(dim=-1, keepdim=True)
    target = torch.rand(n, 3, generator=gen) * 1.2 - 0.6
    d = target - o
    return o, d / d.norm(dim=-1, keepdim=True)


def test_ray_aabb_hand_case():
    o = torch.tensor([[0.0, 0.0, 5.0], [5.0, 5.0, 5.0]])
    d = torch.tensor([[0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
    tn, tf = ray_aabb(o, d, BOX)
    assert math.isclose(tn[0].item(), 4.0) and math.isclose(tf[0].item(), 6.0)
    assert tf[1] < tn[1]  # misses


def test_full_grid_tiles_the_box_and_respects_near_far():
    grid = OccupancyGrid(BOX, resolution=16)
    o, d = _rays(64)
    near, far = 2.0, 4.2
    ri, ts, te = grid.sampling(o, d, near, far, step=0.02, stratified=True, gen=torch.Generator().manual_seed(1))
    assert (ts >= near - 1e-5).all() and (te <= far + 1e-5).all() and (te > ts).all()
    x = o[ri] + d[ri] * ((ts + te) / 2)[:, None]
    assert (x.abs() <= 1 + 1e-4).all()
    # Every occupied grid → intervals cover [max(near, entry), min(far, exit)] without gaps.
    tn, tf = ray_aabb(o, d, BOX)
    length = (tf.clamp(max=far) - tn.clamp(min=near)).clamp(min=0)
    covered = torch.zeros(64).index_add_(0, ri, te - ts)
    torch.testing.assert_close(covered, length, atol=1e-4, rtol=1e-4)
    assert (ri[1:] >= ri[:-1]).all()  # packed: sorted by ray


def test_empty_cells_are_skipped():
    grid = OccupancyGrid(BOX, resolution=32)
    # Occupancy: only a ball of radius 0.3 at the origin.
    grid.update(0, lambda x: (x.norm(dim=-1) < 0.3).float() * 100.0, step_size=0.01, warmup_steps=10)
    frac = grid.binaries.float().mean().item()
    assert 0.005 < frac < 0.03  # ball volume / box volume = 0.0141 (plus boundary cells)
    o, d = _rays(200, seed=2)
    ri, ts, te = grid.sampling(o, d, 0.0, 10.0, step=0.01)
    x = o[ri] + d[ri] * ((ts + te) / 2)[:, None]
    assert x.norm(dim=-1).max() < 0.3 + 2 * math.sqrt(3) * 2 / 32  # within a cell diagonal of the ball
    # Rays that miss the ball get no samples.
    closest = (o + d * (-(o * d).sum(-1, keepdim=True))).norm(dim=-1)
    missed = closest > 0.3 + 0.2
    assert not torch.isin(torch.nonzero(missed).squeeze(-1), ri).any()


def test_early_termination_drops_samples_behind_surfaces():
    grid = OccupancyGrid(BOX, resolution=16)  # all occupied
    o = torch.tensor([[0.0, 0.0, 3.0]])
    d = torch.tensor([[0.0, 0.0, -1.0]])
    # Opaque slab at z < 0.5: samples behind it (further than t = 2.6 or so) must be dropped.
    sigma_fn = lambda ts, te, ri: torch.where(o[ri, 2] + d[ri, 2] * (ts + te) / 2 < 0.5, 1e3, 0.0)  # noqa: E731
    ri, ts, te = grid.sampling(o, d, 0.0, 10.0, step=0.01, sigma_fn=sigma_fn, early_stop_eps=1e-4)
    assert te.max() < 2.5 + 0.05 and ts.min() < 2.1
    ri2, _, _ = grid.sampling(o, d, 0.0, 10.0, step=0.01)
    assert ri.numel() < ri2.numel() / 3


def test_cascade_levels_cover_larger_box():
    grid = OccupancyGrid(BOX, resolution=8, levels=3)  # outer box is [-4, 4]^3
    assert torch.equal(grid.outer_aabb, torch.tensor([-4.0, -4, -4, 4, 4, 4]))
    level, _, inside = grid._level_and_cell(torch.tensor([[0.5, 0, 0], [1.5, 0, 0], [3.9, 0, 0], [4.5, 0, 0]]))
    assert level.tolist()[:3] == [0, 1, 2] and inside.tolist() == [True, True, True, False]
    grid.update(0, lambda x: (x[:, 0] > 2.5).float() * 100, step_size=0.01, warmup_steps=10)
    assert grid.occupied(torch.tensor([[3.0, 0.0, 0.0]])).item()
    assert not grid.occupied(torch.tensor([[0.0, 0.0, 0.0]])).item()


def test_cone_schedule_is_monotone_and_inverts():
    s = StepSchedule(0.01, 0.05)
    t = torch.linspace(0.01, 50, 1000)
    torch.testing.assert_close(s.t_of_s(s.s_of_t(t)), t, rtol=1e-5, atol=1e-6)
    steps = s.t_of_s(torch.arange(0.0, 300.0) + 1) - s.t_of_s(torch.arange(0.0, 300.0))
    assert (steps[1:] >= steps[:-1] - 1e-6).all()  # steps only grow with distance
    torch.testing.assert_close(steps[-1] / s.t_of_s(torch.tensor(299.0)), torch.tensor(0.05), rtol=1e-3, atol=0)


def test_uniform_sampler_bins():
    o = torch.zeros(4, 3)
    ri, ts, te = uniform_sampling(o, 8, 2.0, 6.0, stratified=True, gen=torch.Generator().manual_seed(0))
    assert ri.tolist() == sorted(ri.tolist()) and ri.numel() == 32
    mid = ((ts + te) / 2).view(4, 8)
    lo = 2.0 + 0.5 * torch.arange(8)
    assert ((mid >= lo) & (mid <= lo + 0.5)).all()  # one jittered sample per bin


def test_coarse_skipping_gives_the_same_samples():
    """The coarse pass only removes steps the fine test would remove: identical packed samples."""
    for levels, cone in ((1, 0.0), (1, 0.02)):
        grid = OccupancyGrid(BOX, resolution=32, levels=levels)
        gen = torch.Generator().manual_seed(5)
        blobs = torch.rand(6, 3, generator=gen) * 1.6 - 0.8
        grid.update(0, lambda x: ((x[:, None] - blobs).norm(dim=-1).min(-1).values < 0.15).float() * 100,
                    step_size=0.01, warmup_steps=10)
        o, d = _rays(300, seed=3)
        fast = grid.sampling(o, d, 0.5, 8.0, step=0.01, cone_angle=cone, stratified=True,
                             gen=torch.Generator().manual_seed(9))
        plain = grid.sampling(o, d, 0.5, 8.0, step=0.01, cone_angle=cone, stratified=True,
                              gen=torch.Generator().manual_seed(9), coarse=False)
        assert fast[0].numel() > 0
        for a, b in zip(fast, plain):
            assert torch.equal(a, b)


def test_nerfacc_requested_on_cpu_is_a_recorded_fallback(capsys):
    from nerf_ff.config import SamplerConfig
    from nerf_ff.samplers import RaySampler

    ref = RaySampler(SamplerConfig(grid_resolution=16), BOX, 0.5, 8.0)
    acc = RaySampler(SamplerConfig(grid_resolution=16, backend="nerfacc"), BOX, 0.5, 8.0)
    o, d = _rays(50)
    got = acc.sample(o, d, None, train=False)
    for a, b in zip(got, ref.sample(o, d, None, train=False)):
        assert torch.equal(a, b)
    assert "not used" in acc.backend_note and "CUDA" in acc.backend_note
    assert "warning" in capsys.readouterr().err


def test_inference_reuses_the_density_pass_with_the_same_result():
    """At inference the colour pass takes the trunk outputs the sampler's density pass computed for the
    samples it kept (render._DensityPass); it must give what evaluating the field again gives."""
    from nerf_ff.config import ModelConfig, SamplerConfig
    from nerf_ff.fields import RadianceField
    from nerf_ff.render import render_rays
    from nerf_ff.samplers import RaySampler

    torch.manual_seed(0)
    field = RadianceField(ModelConfig(encoding="gaussian", sigma=3.0, n_features=32, width=32, depth=2), BOX)
    with torch.no_grad():  # dense enough that rays stop early and faint samples are dropped
        field.trunk.net[-1].bias[0] = 1.5
    sampler = RaySampler(SamplerConfig(grid_resolution=16, alpha_threshold=0.03), BOX, 0.5, 8.0)
    o, d = _rays(300, seed=4)
    bg = torch.ones(3)
    rows = []  # samples the trunk evaluates
    field.trunk.register_forward_hook(lambda module, args, out: rows.append(args[0].shape[0]))
    with torch.no_grad():
        reused = render_rays(field, sampler, o, d, bg, max_samples=777)  # slices that do not align with waves
    reused_rows, rows[:] = sum(rows), []
    with torch.enable_grad():  # the training path evaluates the field again on the kept samples
        full = render_rays(field, sampler, o, d, bg)
    assert torch.equal(reused["ray_indices"], full["ray_indices"])
    assert sum(rows) == reused_rows + full["ray_indices"].numel()  # the trunk ran once per sample, not twice
    marched = sampler.sample(o, d, None, train=False)[0].numel()  # before the density pass drops any
    assert 0 < reused["ray_indices"].numel() < 0.85 * marched
    for key in ("rgb", "depth", "opacity", "weights"):
        torch.testing.assert_close(reused[key], full[key].detach(), atol=1e-5, rtol=1e-5)
