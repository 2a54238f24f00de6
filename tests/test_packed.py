"""Compositing math: hand-computed transmittance, packed == dense, gradients finite, median depth."""

import math

import torch

from nerf_ff.packed import composite, exclusive_sum_per_ray, median_depth, render_weights


def test_hand_computed_transmittance():
    # One ray, three unit intervals with densities 1, 2, 3.
    sig = torch.tensor([1.0, 2.0, 3.0])
    ts, te = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 2.0, 3.0])
    w, T, a = render_weights(sig, ts, te, torch.zeros(3, dtype=torch.long), 1)
    exp_T = torch.tensor([1.0, math.exp(-1), math.exp(-3)])
    exp_a = torch.tensor([1 - math.exp(-1), 1 - math.exp(-2), 1 - math.exp(-3)])
    torch.testing.assert_close(T, exp_T)
    torch.testing.assert_close(a, exp_a)
    torch.testing.assert_close(w, exp_T * exp_a)
    # Total opacity is 1 - exp(-total optical depth).
    torch.testing.assert_close(w.sum(), torch.tensor(1 - math.exp(-6)))


def _dense_reference(sig, rgb, ts, te, bg):
    """Textbook NeRF compositing on a dense [R, K] layout: T_k = prod_{j<k} (1 - alpha_j)."""
    alpha = 1 - torch.exp(-sig * (te - ts))
    T = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), 1 - alpha[:, :-1]], 1), 1)
    w = T * alpha
    acc = w.sum(1)
    return (w[..., None] * rgb).sum(1) + (1 - acc)[:, None] * bg, acc


def test_packed_equals_dense_with_uneven_rays():
    gen = torch.Generator().manual_seed(0)
    R, K = 6, 9
    sig = torch.rand(R, K, generator=gen) * 5
    rgb = torch.rand(R, K, 3, generator=gen)
    ts = torch.sort(torch.rand(R, K, generator=gen) * 4, 1).values
    te = ts + 0.1
    counts = torch.tensor([9, 0, 3, 9, 1, 5])  # rays of different lengths, one empty
    mask = torch.arange(K)[None, :] < counts[:, None]
    ray_indices = torch.arange(R)[:, None].expand(R, K)[mask]
    bg = torch.tensor([0.2, 0.5, 0.9])
    w, _, _ = render_weights(sig[mask], ts[mask], te[mask], ray_indices, R)
    out_rgb, _, out_acc = composite(w, rgb[mask], ts[mask], te[mask], ray_indices, R, bg)
    # Dense reference: zero density beyond each ray's count.
    ref_rgb, ref_acc = _dense_reference(sig * mask, rgb, ts, te, bg)
    torch.testing.assert_close(out_rgb, ref_rgb, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(out_acc, ref_acc, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(out_rgb[1], bg)  # the empty ray shows the background


def test_exclusive_sum_is_precise_after_many_samples():
    # 2 million samples before the ray of interest must not erode its small sums.
    n_before = 2_000_000
    vals = torch.cat([torch.full((n_before,), 10.0), torch.tensor([1e-3, 2e-3, 3e-3])])
    rays = torch.cat([torch.zeros(n_before, dtype=torch.long), torch.ones(3, dtype=torch.long)])
    ex = exclusive_sum_per_ray(vals, rays, 2)
    torch.testing.assert_close(ex[-3:], torch.tensor([0.0, 1e-3, 3e-3]), atol=1e-9, rtol=1e-6)


def test_gradients_finite_and_depth_expected():
    sig = torch.tensor([0.0, 50.0, 1e4], requires_grad=True)
    rgb = torch.rand(3, 3, requires_grad=True)
    ts, te = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([2.0, 3.0, 4.0])
    rays = torch.zeros(3, dtype=torch.long)
    w, _, _ = render_weights(sig, ts, te, rays, 1)
    col, depth, acc = composite(w, rgb, ts, te, rays, 1, torch.zeros(3))
    (col.sum() + depth.sum()).backward()
    assert torch.isfinite(sig.grad).all() and torch.isfinite(rgb.grad).all()
    torch.testing.assert_close(depth, torch.tensor([2.5]), atol=1e-4, rtol=0)  # the opaque second interval
    torch.testing.assert_close(acc, torch.tensor([1.0]))


def test_median_depth_at_the_surface_where_faint_layers_pull_the_mean_back():
    # A ray through a surface at t = 2 that stops 60 % of the light, then fainter fog from 2.5 to 8.
    ts = torch.cat([torch.tensor([2.0]), torch.arange(2.5, 8.0, 0.5)])
    te = ts + torch.cat([torch.tensor([0.1]), torch.full((11,), 0.5)])
    sig = torch.cat([torch.tensor([-math.log(0.4) / 0.1]), torch.full((11,), 0.1)])
    rays = torch.zeros(12, dtype=torch.long)
    w, _, _ = render_weights(sig, ts, te, rays, 1)
    _, expected, acc = composite(w, torch.zeros(12, 3), ts, te, rays, 1, torch.zeros(3))
    med = median_depth(w, ts, te, rays, 1, acc)
    # Half of the ray's weight (0.6 of about 0.77 in all) is reached inside the surface's interval:
    # linearly interpolated, at 2 + 0.1 * (0.5 * acc) / 0.6.
    torch.testing.assert_close(med, 2.0 + 0.1 * (0.5 * acc) / 0.6, atol=1e-5, rtol=0)
    assert float(expected) > 2.5  # the mean is pulled behind the surface, into the fog


def test_median_depth_matches_a_per_ray_loop():
    gen = torch.Generator().manual_seed(1)
    counts = torch.tensor([0, 1, 7, 3, 12, 5])  # an empty ray, a one-sample ray
    rays = torch.repeat_interleave(torch.arange(len(counts)), counts)
    ts = torch.cat([torch.sort(torch.rand(int(c), generator=gen) * 5).values for c in counts])
    te = ts + 0.05
    sig = torch.rand(len(rays), generator=gen) * 8 * (torch.rand(len(rays), generator=gen) > 0.3)
    w, _, _ = render_weights(sig, ts, te, rays, len(counts))
    _, _, acc = composite(w, torch.zeros(len(rays), 3), ts, te, rays, len(counts), torch.zeros(3))
    med = median_depth(w, ts, te, rays, len(counts), acc)
    for r in range(len(counts)):
        wr, a, b = w[rays == r], ts[rays == r], te[rays == r]
        want, run = 0.0, 0.0
        for k in range(len(wr)):  # the first interval whose running weight reaches half the ray's
            if wr[k] > 0 and run + wr[k] >= 0.5 * wr.sum():
                want = float(a[k] + (0.5 * wr.sum() - run) / wr[k] * (b[k] - a[k]))
                break
            run += float(wr[k])
        assert abs(float(med[r]) - want) < 1e-5, (r, float(med[r]), want)
    assert float(med[0]) == 0.0  # no samples: 0, as the expected depth
