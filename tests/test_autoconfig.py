"""Automatic defaults: picked for the device and scene kind when no preset is given, printed, and
always below the scene YAML, flags and --set."""

import pytest
import torch

from nerf_ff import autoconfig
from nerf_ff.cli import build_config, main, make_parser, with_auto_defaults
from nerf_ff.config import SceneConfig
from nerf_ff.data import load_scene


@pytest.fixture(scope="module")
def builtin():
    return load_scene(SceneConfig(name="builtin", format="builtin"))


def _args(*argv):
    return make_parser().parse_args(["train", *argv])


def test_no_preset_takes_the_cpu_object_layer_and_sigma_from_resolution(builtin):
    cfg, note = with_auto_defaults(_args("builtin", "--device", "cpu"), builtin)
    layer, path = autoconfig.auto_layer(torch.device("cpu"), "object")
    assert path.name == "cpu-object.yaml" and note and "cpu-object.yaml" in note
    assert cfg.model.width == layer["model"]["width"] and cfg.sampler.grid_resolution == layer["sampler"]["grid_resolution"]
    assert cfg.train.time_budget == layer["train"]["time_budget"]
    # The built-in scene at 64x64: its box spans ~55 px, sigma ~2 (the argmax of its sweep).
    sigma, pixels = autoconfig.auto_sigma(builtin)
    assert 40 < pixels < 70 and 1.5 <= sigma <= 3 and cfg.model.sigma == sigma and "σ=" in note


def test_flags_set_and_presets_win(builtin):
    cfg, _ = with_auto_defaults(_args("builtin", "--device", "cpu", "--sigma", "5", "--set", "model.width=48",
                                      "--time-budget", "30"), builtin)
    assert cfg.model.sigma == 5 and cfg.model.width == 48 and cfg.train.time_budget == 30
    args = _args("builtin", "--config", "demo", "--device", "cpu")
    cfg, note = with_auto_defaults(args, builtin)
    assert note is None and cfg == build_config(args)  # a preset is an exact protocol: no automatic layer


def test_scene_yaml_wins_over_automatic_defaults(builtin, tmp_path):
    yaml_path = tmp_path / "mine.yaml"
    yaml_path.write_text("scene: {name: mine, format: builtin}\nmodel: {width: 40}\n")
    cfg, note = with_auto_defaults(_args(str(yaml_path), "--device", "cpu"), builtin)
    assert cfg.model.width == 40 and note


def test_every_layer_file_is_valid():
    for dev in ("cpu", "cuda"):
        for kind in ("object", "unbounded"):
            layer, path = autoconfig.auto_layer(torch.device(dev), kind)
            assert path.is_file() and set(layer) <= {"scene", "model", "sampler", "train", "eval"}
    unbounded, _ = autoconfig.auto_layer(torch.device("cpu"), "unbounded")
    assert unbounded["train"]["anneal_frequencies"] > 0  # the fog remedy measured on fox


def test_train_prints_what_it_picked(tmp_path, capsys):
    rc = main(["train", "builtin", "--device", "cpu", "--steps", "3", "--out", str(tmp_path / "r"), "--no-eval",
               "--quiet", "--set", "scene.builtin_resolution=16", "--set", "scene.builtin_views=4"])
    assert rc == 0
    err = capsys.readouterr().err
    assert "automatic defaults for an object scene on cpu" in err and "MLP 3x64" in err
    assert "width: 64" in (tmp_path / "r" / "config.yaml").read_text()


def test_scenes_with_sfm_keypoints_get_the_depth_loss(builtin, tmp_path):
    import dataclasses  # noqa: PLC0415

    train = builtin.train
    with_kp = dataclasses.replace(builtin, splits={**builtin.splits, "train": dataclasses.replace(
        train, keypoints=torch.tensor([[0.0, 10.0, 10.0, 3.0]]))})
    cfg, note = with_auto_defaults(_args("builtin", "--device", "cpu"), with_kp)
    assert cfg.train.depth_loss == autoconfig.AUTO_DEPTH_LOSS and "depth loss 0.01 on 1 SfM keypoints" in note
    cfg, note = with_auto_defaults(_args("builtin", "--device", "cpu"), builtin)  # no keypoints: off
    assert cfg.train.depth_loss == 0 and "depth loss" not in note
    cfg, note = with_auto_defaults(_args("builtin", "--device", "cpu", "--set", "train.depth_loss=0"), with_kp)
    assert cfg.train.depth_loss == 0 and "depth loss" not in note  # a layer that sets it wins
