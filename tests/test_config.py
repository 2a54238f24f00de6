"""Config layering, coercion and validation messages."""

import pytest

from nerf_ff.config import RunConfig, apply_overrides, dump_yaml, load_yaml
from nerf_ff.errors import UserError


def test_layers_override_and_coerce():
    cfg = apply_overrides(RunConfig(), {"model": {"sigma": "12", "width": 64}, "train": {"steps": 10.0}}, "t")
    assert cfg.model.sigma == 12.0 and cfg.model.width == 64 and cfg.train.steps == 10
    assert RunConfig().model.sigma != 12.0  # defaults untouched (copies, not shared objects)
    cfg = apply_overrides(cfg, {"scene": {"aabb": "-1,-1,-1,1,1,1"}, "train": {"compile": "yes"}}, "t")
    assert cfg.scene.aabb == [-1, -1, -1, 1, 1, 1] and cfg.train.compile is True


def test_yaml_round_trip(tmp_path):
    cfg = apply_overrides(RunConfig(), {"model": {"encoding": "posenc", "posenc_levels": 6}}, "t")
    dump_yaml(cfg, tmp_path / "c.yaml")
    back = RunConfig.from_dict(load_yaml(tmp_path / "c.yaml"))
    assert back == cfg


@pytest.mark.parametrize("layer, needle", [
    ({"model": {"sigma": 0}}, "model.sigma"),
    ({"model": {"sigma": -3}}, "model.sigma"),
    ({"model": {"sigma": float("nan")}}, "model.sigma"),
    ({"train": {"steps": -5}}, "train.steps"),
    ({"model": {"encoding": "fourier"}}, "model.encoding"),
    ({"train": {"device": "tpu"}}, "train.device"),
    ({"scene": {"aabb": [1, 1, 1, 0, 0, 0]}}, "scene.aabb"),
    ({"train": {"time_budget": 0}}, "train.time_budget"),
])
def test_invalid_values_are_named(layer, needle):
    with pytest.raises(UserError, match=needle):
        RunConfig.from_dict(layer).validate()


def test_unknown_keys_and_bad_types(tmp_path):
    with pytest.raises(UserError, match="unknown key model.sigmaa"):
        RunConfig.from_dict({"model": {"sigmaa": 3}})
    with pytest.raises(UserError, match="unknown section"):
        RunConfig.from_dict({"modle": {}})
    with pytest.raises(UserError, match="train.steps"):
        RunConfig.from_dict({"train": {"steps": "many"}})
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed")
    with pytest.raises(UserError, match="not valid YAML"):
        load_yaml(bad)
    with pytest.raises(UserError, match="does not exist"):
        load_yaml(tmp_path / "missing.yaml")


def test_set_null_unsets_optional_values_only():
    from nerf_ff.config import parse_set

    cfg = apply_overrides(RunConfig(), {"train": {"time_budget": 60}, "scene": {"aabb": [-1, -1, -1, 1, 1, 1]}}, "t")
    cfg = apply_overrides(cfg, parse_set(["train.time_budget=null", "scene.aabb=None"]), "--set")
    assert cfg.train.time_budget is None and cfg.scene.aabb is None
    with pytest.raises(UserError, match="model.width"):
        apply_overrides(RunConfig(), parse_set(["model.width=null"]), "--set")
    with pytest.raises(UserError, match="not optional"):
        apply_overrides(RunConfig(), {"model": {"width": None}}, "a.yaml")
