"""Test-time camera alignment (align.py): a camera put off its pose is brought back by the photometric fit
against the frozen field, and evaluation reports the aligned scores beside the given-pose ones."""

import dataclasses
import json
import math
import shutil

import pytest
import torch

from conftest import TINY_RUN

from nerf_ff.align import align_camera, left_half
from nerf_ff.cli import main
from nerf_ff.config import RunConfig, dump_yaml
from nerf_ff.data import load_scene
from nerf_ff.errors import UserError
from nerf_ff.evaluate import evaluate, load_run
from nerf_ff.metrics import psnr
from nerf_ff.poses import _log_rotations, _rotations
from nerf_ff.render import eval_background, render_image
from nerf_ff.trainer import Trainer


def _angle_deg(a, b):
    return math.degrees(float(_log_rotations(a[:, :, :3].transpose(1, 2) @ b[:, :, :3]).norm()))


@pytest.mark.parametrize("masked", [False, True])
def test_alignment_brings_a_turned_camera_back_and_leaves_the_field_alone(tiny_run, masked):
    cfg, model, _ = load_run(tiny_run)
    scene = load_scene(cfg.scene)
    data = scene.splits["test"]
    bg = eval_background(model.field, scene.background.float(), opaque=not data.has_alpha)
    cams = data.cameras[[1]]
    target = render_image(model.field, model.sampler, cams, 0, bg)["rgb"]  # the field's own view: an exact fit exists
    c2w = cams.c2w.clone()
    axis = torch.tensor([[0.3, -0.8, 0.5]])
    c2w[0, :, :3] = c2w[0, :, :3] @ _rotations(axis / axis.norm() * math.radians(2))[0]  # turned by 2 degrees
    turned = dataclasses.replace(cams, c2w=c2w)
    box = float((scene.aabb[3:] - scene.aabb[:3]).max())
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    used = None
    if masked:  # masked-out pixels hold nonsense: the fit must not look at them
        used = torch.zeros(target.shape[:2], dtype=torch.bool)
        used[:, target.shape[1] // 3:] = True
        target = torch.where(used[..., None], target, torch.rand(target.shape, generator=torch.Generator().manual_seed(0)))
    fitted, moved, _ = align_camera(model.field, model.sampler, turned, 0, target, used, bg, steps=150, n_rays=256,
                                 box_size=box)
    assert _angle_deg(fitted.c2w, cams.c2w) < 0.5 * _angle_deg(turned.c2w, cams.c2w)
    score = lambda c: psnr(render_image(model.field, model.sampler, c, 0, bg)["rgb"], target, used)  # noqa: E731
    assert score(fitted) > score(turned) + 3
    assert moved["align_rot_deg"] > 0.5
    # frozen: no weight changed and none collected a gradient
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())


def test_evaluation_reports_aligned_scores_beside_the_given_ones(tiny_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    cfg, model, state = load_run(run)
    scene = load_scene(cfg.scene)
    cfg.eval.max_views = 2
    plain = evaluate(run, scene, cfg, model, state, progress=False)
    assert plain["aligned"] is None and "psnr_aligned" not in plain["per_view"][0]
    cfg.eval.align_steps = 20
    m = evaluate(run, scene, cfg, model, state, progress=False)
    assert m["psnr"] == plain["psnr"] and m["ssim"] == plain["ssim"]  # the given-pose figures stay what they were
    a = m["aligned"]
    assert a["steps"] == 20 and math.isfinite(a["psnr"]) and 0 < a["ssim"] <= 1 and a["rotation_deg_mean"] >= 0
    assert a["psnr"] == pytest.approx(sum(r["psnr_aligned"] for r in m["per_view"]) / 2)
    assert (run / "eval" / "000_aligned.png").is_file()
    assert "psnr_aligned" in (run / "eval" / "per_view.csv").read_text().splitlines()[0]
    # the command line: --align STEPS
    assert main(["eval", str(run), "--align", "5", "--max-views", "1", "--quiet"]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["aligned"]["steps"] == 5 and printed["n_views"] == 1


@pytest.mark.parametrize("key, value", [("align_steps", -1), ("align_rays", 0)])
def test_alignment_settings_are_checked(key, value):
    with pytest.raises(UserError, match=f"eval.{key}"):
        RunConfig.from_dict({"eval": {key: value}}).validate()


def test_appearance_code_is_fitted_on_the_left_half_and_scored_on_the_right(tmp_path):
    d = json.loads(json.dumps(TINY_RUN))
    d["model"]["appearance_dim"] = 4
    cfg = RunConfig.from_dict(d).validate()
    dump_yaml(cfg, tmp_path / "config.yaml")
    scene = load_scene(cfg.scene)
    Trainer(cfg, scene, tmp_path, progress=False).fit()
    cfg, model, state = load_run(tmp_path)
    data = scene.splits["test"]
    bg = eval_background(model.field, scene.background.float(), opaque=not data.has_alpha)
    cams = data.cameras[[0]]
    first = next(m for m in model.field.head.modules() if isinstance(m, torch.nn.Linear))
    with torch.no_grad():  # a field whose colours hang on the code (a few seconds of training hardly tie them)
        first.weight[:, -4:] *= 10
    # the target: this view under an appearance code of its own (another exposure than the mean's)
    wanted = model.field.appearance.weight.detach().mean(0) + torch.tensor([0.3, -0.2, 0.15, -0.25])
    target = render_image(model.field, model.sampler, cams, 0, bg, code=wanted)["rgb"]
    _, _, code = align_camera(model.field, model.sampler, cams, 0, target, None, bg, steps=100, n_rays=256,
                              box_size=float((scene.aabb[3:] - scene.aabb[:3]).max()))
    right = ~left_half(target.shape[1], torch.arange(target.shape[1])).expand(target.shape[:2])
    score = lambda c: psnr(render_image(model.field, model.sampler, cams, 0, bg, code=c)["rgb"], target, right)  # noqa: E731
    assert score(code) > score(None) + 3  # the code learned on the left half carries over to the right
    # evaluation says so, and scores the right half
    cfg.eval.align_steps, cfg.eval.max_views = 10, 1
    m = evaluate(tmp_path, scene, cfg, model, state, progress=False)
    assert "right half" in m["aligned"]["note"] and math.isfinite(m["aligned"]["psnr"])
