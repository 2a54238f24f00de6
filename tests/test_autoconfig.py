"""Automatic defaults: picked for the device and scene kind when no preset is given, printed, and
always below the scene YAML, flags and --set."""

import pytest
import torch

from nerf_ff import autoconfig
from nerf_ff.cli import _layers, build_config, main, make_parser, with_auto_defaults
from nerf_ff.config import RunConfig, SceneConfig, load_yaml
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
    layer, _ = autoconfig.auto_layer(torch.device("cpu"), "object")
    width = layer["model"]["width"]
    assert "automatic defaults for an object scene on cpu" in err and f"MLP 3x{width}" in err
    assert f"width: {width}" in (tmp_path / "r" / "config.yaml").read_text()


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


def test_full_size_is_read_without_decoding_the_images(facing, tmp_path):
    from nerf_ff.data import full_size  # noqa: PLC0415

    from test_loaders import H, W, write_blender, write_ngp  # noqa: PLC0415

    for layout in ("llff", "colmap", "ngp"):
        assert full_size(SceneConfig(name="f", path=str(facing[layout]))) == (48, 36), layout
    assert full_size(SceneConfig(name="b", path=str(write_blender(tmp_path / "b")))) == (W, H)
    no_wh = write_ngp(tmp_path / "n", n=3, w=20, h=12, top={"w": None, "h": None})  # from the first image's header
    assert full_size(SceneConfig(name="n", path=str(no_wh))) == (20, 12)
    assert full_size(SceneConfig(name="builtin", format="builtin")) is None
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "transforms.json").write_text("{not json")
    assert full_size(SceneConfig(name="x", path=str(tmp_path / "broken"))) is None  # load_scene says what is wrong


def test_automatic_resolution_keeps_the_long_side_under_the_device_cap(facing, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(autoconfig.AUTO_MAX_SIDE, "cpu", 20)  # the 48x36 capture → ceil(48 / 20) = 3 → 16x12
    common = ["train", str(facing["ngp"]), "--device", "cpu", "--steps", "2", "--no-eval", "--quiet"]
    assert main([*common, "--out", str(tmp_path / "auto")]) == 0
    err = capsys.readouterr().err
    assert "16x12 (48x36 / 3: long side ≤ 20 px on cpu" in err
    cfg = RunConfig.from_dict(load_yaml(tmp_path / "auto" / "config.yaml"))
    assert cfg.scene.downscale == 3  # recorded, so eval, render and --resume see the same images
    # A layer that sets it wins; a preset is an exact protocol (no automatic downscale).
    assert main([*common, "--out", str(tmp_path / "set"), "--set", "scene.downscale=2"]) == 0
    err = capsys.readouterr().err
    assert "24x18" in err and "long side" not in err
    assert main([*common, "--out", str(tmp_path / "preset"), "--config", "demo"]) == 0
    assert RunConfig.from_dict(load_yaml(tmp_path / "preset" / "config.yaml")).scene.downscale == 1
    monkeypatch.setitem(autoconfig.AUTO_MAX_SIDE, "cpu", 256)  # small images stay as they are
    args = _args(str(facing["ngp"]), "--device", "cpu")
    assert autoconfig.pick_downscale(_layers(args, True)[0], build_config(args))["downscale"] == 1


@pytest.mark.parametrize("device,size,want", [
    ("cpu", (1080, 1920), 8),   # fox: 135x240
    ("cpu", (400, 400), 2), ("cpu", (800, 800), 4), ("cpu", (256, 100), 1), ("cpu", (64, 64), 1),
    ("cuda", (1080, 1920), 2),  # a phone video: halved
    ("cuda", (800, 800), 1), ("cuda", (5187, 3361), 4),  # NeRF-synthetic as is; mip-NeRF 360 → its images_4
])
def test_downscale_rule(monkeypatch, device, size, want):
    monkeypatch.setattr("nerf_ff.data.full_size", lambda cfg: size)
    monkeypatch.setattr(autoconfig, "resolve_device", lambda name: torch.device(device))
    picked = autoconfig.pick_downscale([], RunConfig())
    assert picked["downscale"] == want and picked["device"] == device
    cap = autoconfig.AUTO_MAX_SIDE[device]
    assert max(size) / want <= cap and (want == 1 or max(size) / (want - 1) > cap)  # the smallest that fits


def test_near_grad_is_on_for_a_common_focus_and_off_for_a_forward_facing_rig(facing, tmp_path):
    import dataclasses  # noqa: PLC0415

    from nerf_ff.data.outdoor import ring_cameras  # noqa: PLC0415

    scene = load_scene(SceneConfig(name="facing", path=str(facing["llff"])))
    cfg, note = with_auto_defaults(_args(str(facing["llff"]), "--device", "cpu"), scene)
    assert scene.kind == "unbounded" and cfg.train.near_grad == 0 and "near_grad" not in note
    # The same scene with the cameras on a ring looking inwards (a walk around): on, and said.
    ring = ring_cameras(len(scene.train), scene.train.cameras.width, scene.train.cameras.height)
    around = dataclasses.replace(scene, splits={**scene.splits, "train": dataclasses.replace(scene.train, cameras=ring)})
    cfg, note = with_auto_defaults(_args(str(facing["llff"]), "--device", "cpu"), around)
    assert cfg.train.near_grad == autoconfig.AUTO_NEAR_GRAD and "near_grad 1" in note
    cfg, _ = with_auto_defaults(_args(str(facing["llff"]), "--device", "cpu", "--set", "train.near_grad=0"), around)
    assert cfg.train.near_grad == 0  # a layer that sets it wins


def test_hash_grid_on_a_cpu_takes_the_smaller_table_and_says_so(tmp_path, capsys):
    rc = main(["train", "builtin", "--device", "cpu", "--encoding", "hashgrid", "--steps", "2", "--out", str(tmp_path / "r"),
               "--no-eval", "--quiet", "--set", "scene.builtin_resolution=16", "--set", "scene.builtin_views=4"])
    assert rc == 0
    assert "hashgrid (16 levels of 2^16 entries)" in capsys.readouterr().err
    assert "hashgrid_log2_size: 16" in (tmp_path / "r" / "config.yaml").read_text()
    # A layer that sets it wins
    rc = main(["train", "builtin", "--device", "cpu", "--encoding", "hashgrid", "--steps", "2", "--out", str(tmp_path / "s"),
               "--no-eval", "--quiet", "--set", "scene.builtin_resolution=16", "--set", "scene.builtin_views=4",
               "--set", "model.hashgrid_log2_size=12"])
    assert rc == 0 and "2^12 entries" in capsys.readouterr().err
