"""The Fourier-feature convention of DESIGN.md, checked against hand-written formulas."""

import math

import pytest
import torch

from nerf_ff.config import ModelConfig
from nerf_ff.encodings import (FourierFeatures, SphericalHarmonics, gaussian_B, make_direction_encoding,
                               make_position_encoding, posenc_B)


def test_layout_is_sin_block_then_cos_block_then_input():
    B = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.5]])
    x = torch.rand(5, 3)
    out = FourierFeatures(B, include_input=True)(x)
    proj = 2 * math.pi * x @ B.t()
    assert out.shape == (5, 2 * 2 + 3)
    torch.testing.assert_close(out[:, :2], torch.sin(proj))
    torch.testing.assert_close(out[:, 2:4], torch.cos(proj))
    torch.testing.assert_close(out[:, 4:], x)


def test_posenc_equals_nerf_formula_up_to_phase():
    """NeRF: sin(2^l pi p), p in [-1,1]; ours with x01 = (p+1)/2 differs by the phase 2^l pi."""
    L = 6
    enc = make_position_encoding(ModelConfig(encoding="posenc", posenc_levels=L, include_input=False))
    p = torch.rand(100, 3) * 2 - 1
    out = enc((p + 1) / 2)
    sins = []
    for level in range(L):
        for k in range(3):
            sins.append(torch.sin(2**level * math.pi * p[:, k] + 2**level * math.pi))
    torch.testing.assert_close(out[:, : 3 * L], torch.stack(sins, -1), atol=2e-5, rtol=0)
    # And it is exactly FourierFeatures with an axis-aligned power-of-two B.
    ref = FourierFeatures(posenc_B(L), include_input=False)((p + 1) / 2)
    torch.testing.assert_close(out, ref)
    assert posenc_B(L)[3 * 2 + 1].tolist() == [0.0, 4.0, 0.0]  # level 2, y axis


def test_gaussian_draw_is_seeded_and_shared_across_sigma():
    a = gaussian_B(64, 1.0, seed=3)
    b = gaussian_B(64, 10.0, seed=3)
    torch.testing.assert_close(b, 10 * a)
    assert not torch.equal(gaussian_B(64, 1.0, seed=4), a)
    enc = make_position_encoding(ModelConfig(encoding="gaussian", sigma=5.0, n_features=64, encoding_seed=3))
    torch.testing.assert_close(enc.B, 5 * a)
    assert enc.out_dim == 2 * 64 + 3
    assert not enc.B.requires_grad and "B" in dict(enc.named_buffers())


def test_learned_has_same_init_and_trains():
    g = make_position_encoding(ModelConfig(encoding="gaussian", sigma=4.0, n_features=16))
    lrn = make_position_encoding(ModelConfig(encoding="learned", sigma=4.0, n_features=16))
    torch.testing.assert_close(lrn.B.detach(), g.B)
    assert lrn.B.requires_grad
    lrn(torch.rand(10, 3)).sum().backward()
    assert lrn.B.grad is not None and torch.isfinite(lrn.B.grad).all()


def test_none_and_basic():
    x = torch.rand(7, 3)
    torch.testing.assert_close(make_position_encoding(ModelConfig(encoding="none"))(x), x)
    basic = make_position_encoding(ModelConfig(encoding="basic", include_input=False))(x)
    torch.testing.assert_close(basic, torch.cat([torch.sin(2 * math.pi * x), torch.cos(2 * math.pi * x)], -1))


def test_phase_stays_float32_under_autocast():
    enc = FourierFeatures(gaussian_B(32, 200.0, seed=0), include_input=False)
    x = torch.rand(50, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = enc(x)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, enc(x))


@pytest.mark.parametrize("degree", [1, 2, 3, 4, 5])
def test_spherical_harmonics_are_orthonormal(degree):
    gen = torch.Generator().manual_seed(0)
    d = torch.randn(400_000, 3, generator=gen, dtype=torch.float64)
    d = d / d.norm(dim=-1, keepdim=True)
    Y = SphericalHarmonics(degree)(d).double()
    gram = 4 * math.pi * (Y.t() @ Y) / d.shape[0]  # Monte-Carlo integral over the sphere
    torch.testing.assert_close(gram, torch.eye(degree * degree, dtype=torch.float64), atol=0.03, rtol=0)


def test_direction_encodings_dims():
    assert make_direction_encoding(ModelConfig(dir_encoding="sh", dir_degree=4)).out_dim == 16
    assert make_direction_encoding(ModelConfig(dir_encoding="posenc", dir_degree=3)).out_dim == 2 * 9 + 3
