"""Regularisers and coarse-to-fine annealing: golden comparisons with brute force, and switches."""

import math

import torch

from nerf_ff.encodings import FourierFeatures, gaussian_B
from nerf_ff.losses import depth_window_loss, distortion_loss


def _packed(gen, n_rays=7, max_k=9):
    counts = torch.randint(0, max_k, (n_rays,), generator=gen)
    ray_indices = torch.repeat_interleave(torch.arange(n_rays), counts)
    edges = [torch.sort(torch.rand(int(c) + 1, generator=gen)).values for c in counts]
    starts = torch.cat([e[:-1] for e in edges])
    ends = torch.cat([e[1:] for e in edges])
    weights = torch.rand(ray_indices.numel(), generator=gen) / 3
    return weights, starts, ends, ray_indices, n_rays


def test_distortion_loss_equals_the_double_sum():
    gen = torch.Generator().manual_seed(0)
    w, s0, s1, ri, n = _packed(gen)
    got = distortion_loss(w, s0, s1, ri, n)
    total = 0.0
    for r in range(n):
        m = ri == r
        wr, mid, length = w[m].double(), (0.5 * (s0[m] + s1[m])).double(), (s1[m] - s0[m]).double()
        total += (wr[:, None] * wr[None] * (mid[:, None] - mid[None]).abs()).sum() + (wr**2 * length).sum() / 3
    assert torch.allclose(got.double(), total / n, rtol=1e-5)


def test_distortion_loss_prefers_one_compact_interval_and_has_finite_gradients():
    ri = torch.zeros(4, dtype=torch.long)
    s0, s1 = torch.tensor([0.0, 0.25, 0.5, 0.75]), torch.tensor([0.25, 0.5, 0.75, 1.0])
    spread = distortion_loss(torch.full((4,), 0.25), s0, s1, ri, 1)
    compact = distortion_loss(torch.tensor([0.0, 1.0, 0.0, 0.0]), s0, s1, ri, 1)
    assert compact < spread
    w = torch.rand(4, requires_grad=True)
    distortion_loss(w, s0, s1, ri, 1).backward()
    assert torch.isfinite(w.grad).all()


def test_annealing_fades_frequencies_in_lowest_first():
    B = gaussian_B(32, 8.0, seed=0)
    enc = FourierFeatures(B, include_input=True)
    x = torch.rand(50, 3)
    full = enc(x)
    enc.set_anneal(0.0)
    zero = enc(x)
    assert torch.count_nonzero(zero[:, :64]) == 0 and torch.equal(zero[:, 64:], x)  # only x01 passes
    enc.set_anneal(0.5)
    w = enc.window
    norms = B.norm(dim=1)
    low, high = norms < norms.median(), norms >= norms.median()
    assert w[low].mean() > w[high].mean() and w.min() >= 0 and w.max() <= 1
    proj = 2 * math.pi * x @ B.t()  # the windowed features, written in place or built with autograd
    expected = torch.cat([torch.sin(proj) * w, torch.cos(proj) * w, x], dim=-1)
    torch.testing.assert_close(enc(x), expected)
    torch.testing.assert_close(enc(x.clone().requires_grad_()), expected)
    assert enc(x[:0]).shape == (0, 67)
    enc.set_anneal(1.0)
    assert enc.window is None and torch.equal(enc(x), full)
    enc.set_anneal(None)
    assert torch.equal(enc(x), full)


def test_depth_window_loss_against_a_per_ray_loop():
    gen = torch.Generator().manual_seed(1)
    w, s0, s1, ri, n = _packed(gen)
    depth = torch.rand(n, generator=gen) * 0.8 + 0.1
    got = depth_window_loss(w, s0, s1, ri, depth, 0.2, n)
    total = 0.0
    for r in range(n):
        lo, hi = float(depth[r]) * 0.8, float(depth[r]) * 1.2
        inside = sum(float(wi) * max(0.0, min(float(b), hi) - max(float(a), lo)) / float(b - a)
                     for wi, a, b in zip(w[ri == r], s0[ri == r], s1[ri == r]))
        total += (1 - inside) ** 2
    assert abs(float(got) - total / n) < 1e-5


def test_depth_window_loss_wants_the_weight_at_the_point():
    """One ray, intervals of 0.1 on [0, 1], the point at 0.55: all weight in its interval costs 0, weight
    in front of it or fog along the ray cost more; the gradient raises the weight in the window, in
    proportion to how much of each interval lies in it, and leaves the rest alone."""
    edges = torch.linspace(0, 1, 11)
    s0, s1, ri = edges[:-1], edges[1:], torch.zeros(10, dtype=torch.long)
    depth = torch.tensor([0.55])

    def loss(w):
        return float(depth_window_loss(w, s0, s1, ri, depth, 0.1, 1))  # window [0.495, 0.605]

    at = torch.zeros(10)
    at[5] = 1.0
    before = torch.zeros(10)
    before[2] = 1.0
    assert loss(at) < 1e-6 and abs(loss(before) - 1.0) < 1e-6
    assert 0 < loss(torch.full((10,), 0.1)) < 1
    w = torch.full((10,), 0.05, requires_grad=True)
    depth_window_loss(w, s0, s1, ri, depth, 0.1, 1).backward()
    assert w.grad[5] < w.grad[4] < 0 and torch.isclose(w.grad[4], w.grad[6])  # edges: 0.005 of 0.1 inside
    assert torch.all(w.grad[:4] == 0) and torch.all(w.grad[7:] == 0)
    assert float(depth_window_loss(torch.zeros(0), torch.zeros(0), torch.zeros(0), torch.zeros(0, dtype=torch.long),
                                   depth, 0.05, 1)) == 1.0  # a ray with no samples


def test_depth_window_loss_ignores_rays_without_a_keypoint():
    """Rays of depth 0 (the photometric rays of a batch) count for nothing: the mean is over the rest."""
    gen = torch.Generator().manual_seed(2)
    w, s0, s1, ri, n = _packed(gen)
    depth = torch.rand(n, generator=gen) * 0.8 + 0.1
    alone = depth_window_loss(w, s0, s1, ri, depth, 0.2, n)
    extra = torch.rand(3, generator=gen) / 3  # one more ray in front, three samples, no keypoint
    both = depth_window_loss(torch.cat([extra, w]), torch.cat([torch.tensor([0.1, 0.2, 0.3]), s0]),
                             torch.cat([torch.tensor([0.2, 0.3, 0.4]), s1]), torch.cat([torch.zeros(3, dtype=torch.long), ri + 1]),
                             torch.cat([torch.zeros(1), depth]), 0.2, n + 1)
    torch.testing.assert_close(both, alone)
