"""fit-image: the split, the shared encodings, determinism, a tiny CLI run, and bad inputs."""

import csv
import json
import math

import imageio.v2 as imageio
import numpy as np
import pytest
import torch

from nerf_ff.cli import main
from nerf_ff.encodings import FourierFeatures, Identity, posenc_B
from nerf_ff.errors import UserError
from nerf_ff.fit_image import (FitImageConfig, Mapping, fit_mapping, load_preset, load_target_image, make_encoding,
                               parse_encodings, pixel_coords, train_mask)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny matmuls on a shared 2-core machine: one intra-op thread avoids waiting on a busy core."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _write_image(path, size=32):
    """A smooth colour ramp with a few sharp stripes, uint8 RGB."""
    y, x = np.mgrid[0:size, 0:size] / size
    img = np.stack([x, y, 0.5 + 0.5 * np.sin(12 * math.pi * x * y)], -1)
    imageio.imwrite(path, (img * 255).astype(np.uint8))
    return path


def _tiny_cfg(**kw) -> FitImageConfig:
    base = dict(size=16, steps=10, features=8, width=16, depth=2, eval_every=5, encodings="none,gaussian:10")
    return FitImageConfig(**{**base, **kw})


def test_train_grid_is_even_rows_and_columns_and_heldout_is_the_rest():
    S = 10
    train = train_mask(S)
    heldout = ~train
    for i in range(S):
        for j in range(S):
            assert bool(train[i, j]) == (i % 2 == 0 and j % 2 == 0)
    assert not (train & heldout).any()
    assert (train | heldout).all()
    assert int(train.sum()) == (S // 2) ** 2 and int(heldout.sum()) == S * S - (S // 2) ** 2


def test_pixel_coordinates_are_centres_in_unit_square():
    S = 6
    c = pixel_coords(S)  # [S, S, 2] as (x, y)
    assert c.shape == (S, S, 2)
    assert torch.allclose(c[2, 4], torch.tensor([(4 + 0.5) / S, (2 + 0.5) / S]))
    assert float(c.min()) > 0 and float(c.max()) < 1


def test_mappings_are_the_3d_field_encodings_at_in_dim_2():
    cfg = FitImageConfig(size=64, features=16)
    assert isinstance(make_encoding(Mapping("none"), cfg, 0), Identity)
    posenc = make_encoding(Mapping("posenc"), cfg, 0)
    assert isinstance(posenc, FourierFeatures) and posenc.in_dim == 2
    assert torch.equal(posenc.B, posenc_B(4, 2))  # 64 px: top level 2^3 = S/8 cycles per image
    g1, g10 = (make_encoding(Mapping("gaussian", s), cfg, seed=3) for s in (1.0, 10.0))
    assert g1.B.shape == (16, 2)
    torch.testing.assert_close(10 * g1.B, g10.B)  # one shared unit draw, scaled per sigma
    assert not torch.equal(make_encoding(Mapping("gaussian", 1.0), cfg, seed=4).B, g1.B)


def test_parse_encodings_continues_gaussian_scales():
    got = parse_encodings("none,basic,posenc,gaussian:1,10,100")
    assert [m.name for m in got] == ["none", "basic", "posenc", "gaussian-1", "gaussian-10", "gaussian-100"]
    assert [m.name for m in parse_encodings("gaussian:2.5, 7,posenc")] == ["gaussian-2.5", "gaussian-7", "posenc"]


def test_same_seed_gives_identical_curves():
    target = np.random.default_rng(0).random((16, 16, 3)).astype(np.float32)
    cfg, cpu = _tiny_cfg(), torch.device("cpu")
    runs = [fit_mapping(Mapping("gaussian", 10.0), target, cfg, cpu, "off", seed=s) for s in (1, 1, 2)]
    a, b, c = runs
    assert a.steps == [0, 5, 10]
    assert (a.train_psnr, a.test_psnr, a.heldout_psnr) == (b.train_psnr, b.test_psnr, b.heldout_psnr)
    assert np.array_equal(a.final, b.final)
    assert a.test_psnr != c.test_psnr
    assert a.train_psnr[-1] > a.train_psnr[0]  # it learns


def test_tiny_cli_run_writes_every_output(tmp_path, capsys):
    image = _write_image(tmp_path / "ramp.png")
    out = tmp_path / "out"
    rc = main(["fit-image", str(image), "--size", "32", "--steps", "20", "--encodings", "none,gaussian:10",
               "--features", "16", "--out", str(out), "--device", "cpu", "--seed", "5"])
    assert rc == 0
    for name in ("curves.png", "grid.png", "progress.mp4", "results.json", "results.csv"):
        assert (out / name).stat().st_size > 0, name
    assert imageio.imread(out / "grid.png").ndim == 3
    report = json.loads((out / "results.json").read_text())
    for key in ("image", "size", "preset", "steps", "seed", "device", "sigmas", "results", "curves", "total_seconds"):
        assert key in report, key
    assert (report["size"], report["steps"], report["seed"], report["device"]) == (32, 20, 5, "cpu")
    assert report["sigmas"] == [10.0] and report["preset"] == "quick"
    assert [r["mapping"] for r in report["results"]] == ["none", "gaussian-10"]
    for r in report["results"]:
        for key in ("train_psnr", "test_psnr", "heldout_psnr", "seconds"):
            assert math.isfinite(r[key]), (r["mapping"], key)
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["mapping"] for r in rows] == ["none", "gaussian-10"]
    assert float(rows[1]["sigma"]) == 10.0 and rows[1]["device"] == "cpu"
    with imageio.get_reader(out / "progress.mp4", format="ffmpeg") as reader:
        frames = list(reader.iter_data())
    assert frames[0].shape == (256 + 32, 3 * 256, 3)  # label strip over ground truth + two mappings
    assert len(frames) == 1 + 10  # evaluations at steps 0 and 20, the last one held for 10 frames (1 s)
    assert json.loads(capsys.readouterr().out)["out"] == str(out)


@pytest.mark.parametrize("spec", ["gaussian:", "gaussian:-1", "foo", "gaussian", "10,none", "gaussian:nan",
                                  "none,none", "none,,basic"])
def test_bad_encodings_spec_is_a_one_line_user_error(spec):
    with pytest.raises(UserError) as e:
        parse_encodings(spec)
    assert "\n" not in str(e.value) and str(e.value)


def test_missing_and_unreadable_images_are_one_line_user_errors(tmp_path, capsys):
    with pytest.raises(UserError, match="does not exist"):
        load_target_image(tmp_path / "nope.png", 32)
    junk = tmp_path / "junk.png"
    junk.write_text("this is not a png\n" * 10)
    with pytest.raises(UserError) as e:
        load_target_image(junk, 32)
    assert "\n" not in str(e.value)
    assert main(["fit-image", str(tmp_path / "nope.png"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err


def test_presets_load_and_unknown_keys_are_rejected(tmp_path):
    quick, paper = load_preset("quick"), load_preset("paper")
    assert quick.size < paper.size
    # the paper's setting: 512^2 image, 4x256 ReLU MLP, 256 features, 2000 steps, lr 1e-3 (1e-2 none/basic)
    assert (paper.size, paper.depth, paper.width, paper.features, paper.steps) == (512, 4, 256, 256, 2000)
    assert paper.lr == 1e-3 and paper.lr_by_mapping == {"none": 1e-2, "basic": 1e-2}
    bad = tmp_path / "bad.yaml"
    bad.write_text("fit_image:\n  size: 64\n  widht: 32\n")
    with pytest.raises(UserError, match="widht"):
        load_preset(str(bad))
    bad.write_text("fit_image:\n  size: 63\n")
    with pytest.raises(UserError, match="even"):
        load_preset(str(bad))
    with pytest.raises(UserError, match="not found"):
        load_preset("no-such-preset")
