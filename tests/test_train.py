"""End-to-end training on a tiny generated scene: the loss falls, outputs are written, resume and
seeds are exact on the CPU."""

import json
import shutil

import numpy as np
import pytest
import torch
from conftest import TINY_RUN

from nerf_ff.config import RunConfig, dump_yaml
from nerf_ff.data import load_scene
from nerf_ff.evaluate import evaluate, load_run
from nerf_ff.trainer import Trainer

# The shared tiny run, with sigma 1: low frequencies fit the coarse shape within a few dozen steps.
TINY = json.loads(json.dumps(TINY_RUN))
TINY["model"]["sigma"] = 1.0
TINY["train"].update(steps=60, checkpoint_every=25)
TINY["eval"]["max_views"] = 3


def tiny_cfg(**train) -> RunConfig:
    cfg = RunConfig.from_dict(TINY)
    for k, v in train.items():
        setattr(cfg.train, k, v)
    return cfg.validate()


@pytest.fixture(scope="module")
def scene():
    return load_scene(RunConfig.from_dict(TINY).scene)


def test_loss_falls_and_outputs_written(tmp_path, scene):
    cfg = tiny_cfg()
    trainer = Trainer(cfg, scene, tmp_path, progress=False)
    summary = trainer.fit()
    assert summary["steps"] == 60 and (tmp_path / "checkpoint.pt").is_file()
    losses = [h["loss"] for h in trainer.history]
    assert losses[-1] < 0.6 * losses[0], losses
    assert trainer.model.sampler.occupied_fraction() < 1.0  # the grid learned some empty space
    metrics = evaluate(tmp_path, scene, cfg, trainer.model.eval(), trainer.state(), progress=False)
    assert metrics["n_views"] == 3 and 5 < metrics["psnr"] < 60 and 0 < metrics["ssim"] <= 1
    assert metrics["lpips"] is None and metrics["sigma"] == 1.0 and metrics["steps"] == 60
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    assert on_disk["psnr"] == metrics["psnr"] and len(on_disk["per_view"]) == 3
    assert len(list((tmp_path / "eval").glob("[0-9][0-9][0-9].png"))) == 3
    assert (tmp_path / "eval" / "per_view.csv").is_file()
    # Depth beside the RGB: a picture and the numbers, on the objects' side of the scene (cameras at
    # radius 3.6 around objects within ~1 of the origin).
    assert len(list((tmp_path / "eval").glob("*_depth.png"))) == 3
    depth = np.load(tmp_path / "eval" / "000_depth.npy")
    assert depth.shape == (24, 24) and depth.dtype == np.float16
    assert all(r["depth_median"] is None or 2.0 < r["depth_median"] < 5.5 for r in metrics["per_view"])


def test_same_seed_same_bits_and_resume_is_exact(tmp_path, scene):
    a = Trainer(tiny_cfg(steps=40), scene, tmp_path / "a", progress=False)
    a.fit()
    b = Trainer(tiny_cfg(steps=40), scene, tmp_path / "b", progress=False)
    b.fit()
    for (k, va), vb in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(va, vb), k
    # Interrupted at step 25 (its checkpoint), resumed in a fresh trainer, run to 40.
    c = Trainer(tiny_cfg(steps=40), scene, tmp_path / "c", progress=False)
    for _ in range(25):
        c.train_step()
    c.save()
    del c
    c2 = Trainer(tiny_cfg(steps=40), scene, tmp_path / "c", progress=False)
    c2.resume()
    assert c2.step == 25
    c2.fit()
    for (k, va), vc in zip(a.model.state_dict().items(), c2.model.state_dict().values()):
        assert torch.equal(va, vc), k
    # A different seed gives a different model.
    d = Trainer(tiny_cfg(steps=5, seed=1), scene, tmp_path / "d", progress=False)
    d.fit()
    e = Trainer(tiny_cfg(steps=5), scene, tmp_path / "e", progress=False)
    e.fit()
    assert not torch.equal(d.model.field.trunk.net[0].weight, e.model.field.trunk.net[0].weight)


def test_load_run_restores_model(tmp_path, scene):
    cfg = tiny_cfg(steps=10)
    trainer = Trainer(cfg, scene, tmp_path, progress=False)
    trainer.fit()
    from nerf_ff.config import dump_yaml

    dump_yaml(cfg, tmp_path / "config.yaml")
    cfg2, model, state = load_run(tmp_path)
    assert state["step"] == 10 and cfg2 == cfg
    for (k, va), vb in zip(trainer.model.state_dict().items(), model.state_dict().values()):
        assert torch.equal(va, vb), k


def test_appearance_codes_train_and_evaluate_with_the_mean(tmp_path, scene):
    cfg = tiny_cfg(steps=20)
    cfg.model.appearance_dim = 4
    trainer = Trainer(cfg, scene, tmp_path, progress=False)
    trainer.fit()
    codes = trainer.model.field.appearance.weight
    assert codes.shape == (len(scene.train), 4) and codes.abs().sum() > 0  # learned from zero
    from nerf_ff.config import dump_yaml

    dump_yaml(cfg, tmp_path / "config.yaml")
    _, model, _ = load_run(tmp_path)
    x = torch.rand(8, 3) * 2 - 1
    d = torch.nn.functional.normalize(torch.randn(8, 3), dim=-1)
    with torch.no_grad():
        rgb_mean, _ = model.field(x, d)  # a novel camera: the mean code
        mean_idx = torch.full((8,), 0)
        model.field.appearance.weight[0] = model.field.appearance.weight.mean(0)
        rgb_0, _ = model.field(x, d, mean_idx)
    torch.testing.assert_close(rgb_mean, rgb_0)
    metrics = evaluate(tmp_path, scene, cfg, model, trainer.state(), progress=False)
    assert "mean code" in metrics["appearance_note"]


def test_a_binding_budget_paces_the_schedule_by_the_steps_it_will_allow(tmp_path, scene):
    t = Trainer(tiny_cfg(steps=1000, time_budget=100.0), scene, tmp_path, progress=False)
    t.step, t._startup_s, t._step_s = 20, 1.5, 0.25
    t.elapsed = 3.0  # 1.5 s after the startup steps: under 2 % of the budget, the steps pace
    assert t.progress_fraction() == pytest.approx(0.02)
    t.elapsed = 6.5  # 93.5 s left at 0.25 s a step allow 374 steps more: the budget binds
    assert t.progress_fraction() == pytest.approx(20 / 394)
    t._step_s = 0.01  # faster now: 9350 more would pass the 1000 steps, the steps pace
    assert t.progress_fraction() == pytest.approx(0.02)
    t.step = 900
    assert t.progress_fraction() == pytest.approx(0.9)
    t.elapsed = 200.0
    assert t.progress_fraction() == 1.0


def test_a_slow_stretch_does_not_spend_the_schedule(tmp_path, scene, monkeypatch):
    """Steps timed by a fake clock: the first 60 take 0.5 s (another program on the CPU), the rest
    0.01 s, so the 40 s budget allows 1060 steps. Paced by the share of time spent, the schedule
    would be 0.75 through at step 560; paced by the steps the budget allows it is about half through
    there, and it ends at lr_final."""
    import nerf_ff.trainer as trainer_mod

    clock = [0.0]
    monkeypatch.setattr(trainer_mod.time, "perf_counter", lambda: clock[0])
    cfg = tiny_cfg(steps=100000, time_budget=40.0, warmup=1, lr=1e-2, lr_final=1e-4, log_every=10**6,
                   checkpoint_every=10**6)
    t = Trainer(cfg, scene, tmp_path, progress=False)
    lrs = []

    def step() -> dict:
        lrs.append(t.learning_rate())
        t.step += 1
        clock[0] += 0.5 if t.step <= 60 else 0.01
        return {"ok": True, "loss": 0.01, "n_samples": 1}

    monkeypatch.setattr(t, "train_step", step)
    summary = t.fit()
    assert summary["stopped"] == "time_budget" and 1055 <= summary["steps"] <= 1061
    decay = lambda p: cfg.train.lr * (cfg.train.lr_final / cfg.train.lr) ** p  # noqa: E731
    assert lrs[560] > decay(0.6)  # 0.53 through; by the share of time spent, 0.75
    assert lrs[-1] == pytest.approx(cfg.train.lr_final, rel=0.1)


def test_a_budget_too_short_for_the_pace_is_warned(scene, tmp_path, capsys):
    trainer = Trainer(tiny_cfg(steps=20000, time_budget=300), scene, tmp_path, progress=False)
    # A GPU preset on a CPU: 6.5 s a step leaves ~46 steps in 300 s.
    assert "about 46 of 20000 steps, too few to converge" in trainer.pace_warning(6.5)
    assert trainer.pace_warning(0.01) is None  # 30000 steps: fine
    assert Trainer(tiny_cfg(steps=20), scene, tmp_path / "b", progress=False).pace_warning(6.5) is None  # no budget
    # fit() says it once the startup steps are timed, and still trains to the budget.
    summary = Trainer(tiny_cfg(steps=20000, time_budget=0.4), scene, tmp_path / "c", progress=False).fit()
    assert summary["stopped"] == "time_budget" and capsys.readouterr().err.count("too few to converge") == 1
    # A budget spent within the startup steps (a loaded machine) is the extreme case: still said, once.
    summary = Trainer(tiny_cfg(steps=20000, time_budget=1e-6), scene, tmp_path / "d", progress=False).fit()
    assert summary["steps"] == 1 and capsys.readouterr().err.count("too few to converge") == 1


@pytest.mark.skipif(not any(shutil.which(c) for c in ("g++", "c++", "clang++")), reason="no C++ compiler for inductor")
def test_train_compile_compiles_the_field_and_says_so(tmp_path, scene):
    """train.compile is real: the trunk is a compiled function, it computes what the eager one does,
    training runs, and metrics.json says so (and only then)."""
    cfg = tiny_cfg(steps=4, compile=True)
    trainer = Trainer(cfg, scene, tmp_path, progress=False)
    field = trainer.model.field
    assert field.compiled and "_trunk" in vars(field)  # the instance's compiled trunk shadows the method
    x = torch.rand(300, 3) * 2 - 1
    with torch.no_grad():
        eager = torch.exp(type(field)._trunk(field, x)[:, 0].float().clamp(max=15.0))
        torch.testing.assert_close(field.density(x), eager, rtol=1e-4, atol=1e-5)
    trainer.fit()
    metrics = evaluate(tmp_path, scene, cfg, trainer.model, trainer.state(), progress=False)
    assert metrics["device"]["field"] == "torch + torch.compile" and np.isfinite(metrics["psnr"])
    dump_yaml(cfg, tmp_path / "config.yaml")
    _, model, _ = load_run(tmp_path)  # a reloaded run is not compiled, and its report would not claim it
    assert not model.field.compiled


def test_near_grad_scales_the_gradients_of_samples_near_the_camera(tmp_path, scene):
    """train.near_grad leaves the rendered values alone and scales each sample's gradient by
    (distance / near_grad)², capped at 1: nothing changes when every sample is beyond it, and the field's
    gradients shrink when every sample is within it."""
    t = Trainer(tiny_cfg(steps=1), scene, tmp_path, progress=False)
    rays_o, rays_d, target, _ = t.sample_batch(256)
    bg = target[:, 3:]

    def grads(near: float):
        t.model.zero_grad()
        out = t.model(rays_o, rays_d, bg, near_grad=near)
        ((out["rgb"] - target[:, :3]) ** 2).mean().backward()
        g = torch.cat([p.grad.flatten() for p in t.model.field.parameters() if p.grad is not None])
        return out, g

    plain, g0 = grads(0.0)
    t_mid = 0.5 * (plain["t_starts"] + plain["t_ends"])
    assert t_mid.numel() > 0
    beyond, g_beyond = grads(0.99 * float(t_mid.min()))
    within, g_within = grads(2.0 * float(t_mid.max()))
    for out in (beyond, within):
        torch.testing.assert_close(out["rgb"], plain["rgb"])
    torch.testing.assert_close(g_beyond, g0)
    assert g0.norm() > 0 and g_within.norm() < 0.25 * g0.norm()  # every sample's scale is at most 1/4
