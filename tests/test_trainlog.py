"""Training you can watch, and what a run costs (issue #14): log.csv rows, preview renders, the cost
block of metrics.json, TensorBoard as an optional backend, and the sweep report's cost figures."""

import builtins
import csv
import json

import numpy as np
import pytest
from conftest import TINY_RUN

from nerf_ff.config import RunConfig
from nerf_ff.data import load_scene
from nerf_ff.errors import UserError
from nerf_ff.evaluate import evaluate
from nerf_ff.report_cost import plot_quality_vs_cost, plot_training_curves
from nerf_ff.trainer import Trainer
from nerf_ff.trainlog import COLUMNS, TrainLog, read_log


def _cfg(**train) -> RunConfig:
    d = json.loads(json.dumps(TINY_RUN))
    d["train"].update({"steps": 40, "log_every": 10, "preview_every": 20, "checkpoint_every": 20, **train})
    d["eval"]["max_views"] = 2
    return RunConfig.from_dict(d).validate()


@pytest.fixture(scope="module")
def scene():
    return load_scene(_cfg().scene)


def test_log_csv_preview_and_cost(tmp_path, scene):
    cfg = _cfg()
    trainer = Trainer(cfg, scene, tmp_path, progress=False)
    trainer.fit()
    rows = read_log(tmp_path)
    assert [r["step"] for r in rows] == [10, 20, 30, 40]
    with open(tmp_path / "log.csv", newline="") as f:
        assert tuple(csv.DictReader(f).fieldnames) == COLUMNS
    for r in rows:
        assert r["loss"] > 0 and r["n_rays"] > 0 and r["n_samples"] >= r["n_rays"] and 0 < r["occupied"] <= 1
        assert r["lr"] > 0 and r["b_norm_mean"] is None  # a Gaussian B is fixed: no σ statistics
    assert rows[-1]["elapsed"] >= rows[0]["elapsed"] > 0
    # The preview renders: a PSNR in the row and a picture, at the preview steps only.
    assert [r["step"] for r in rows if r["preview_psnr"] is not None] == [20, 40]
    assert sorted(p.name for p in (tmp_path / "preview").iterdir()) == ["step_0000020.png", "step_0000040.png"]

    metrics = evaluate(tmp_path, scene, cfg, trainer.model.eval(), trainer.state(), progress=False)
    cost = metrics["cost"]
    assert cost["params"] == sum(p.numel() for p in trainer.model.parameters())
    assert cost["n_features"] == 16 and cost["width"] == 32
    assert cost["train_samples_per_s"] == round(trainer.samples_total / trainer.state()["elapsed"])
    assert cost["render_resolution"] == [32, 32] and cost["render_ms"] > 0 and cost["peak_mem_mb"] > 0
    # Samples per ray of that frame: the same frame rendered again takes the same samples (eval mode).
    from nerf_ff.render import render_image  # noqa: PLC0415

    model = trainer.model.eval()
    cams = scene.test.cameras[0].scaled(32 / max(scene.test.cameras.width, scene.test.cameras.height))
    again = render_image(model.field, model.sampler, cams, 0, scene.background, chunk=cfg.eval.chunk)
    assert cost["render_samples_per_ray"] == round(again["n_samples"] / (32 * 32), 2) > 0


def test_resumed_run_continues_its_own_log(tmp_path, scene):
    Trainer(_cfg(steps=20), scene, tmp_path, progress=False).fit()
    # A killed run may have logged past its last checkpoint: those rows are dropped on resume.
    with open(tmp_path / "log.csv", "a", newline="") as f:
        csv.DictWriter(f, fieldnames=COLUMNS).writerow({"step": 30, "loss": 1.0})
    trainer = Trainer(_cfg(steps=40), scene, tmp_path, progress=False)
    trainer.resume()
    assert trainer.step == 20
    trainer.fit()
    assert [r["step"] for r in read_log(tmp_path)] == [10, 20, 30, 40]
    assert read_log(tmp_path)[2]["loss"] != 1.0


def test_learned_b_logs_its_frequencies(tmp_path, scene):
    d = json.loads(json.dumps(TINY_RUN))
    d["model"]["encoding"] = "learned"
    d["train"].update(steps=20, log_every=10)
    cfg = RunConfig.from_dict(d).validate()
    Trainer(cfg, scene, tmp_path, progress=False).fit()
    rows = read_log(tmp_path)
    assert all(r["b_norm_mean"] > 0 and r["b_norm_max"] >= r["b_norm_mean"] for r in rows)


def test_tensorboard_missing_is_a_one_line_error(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_tb(name, *args, **kwargs):
        if name.startswith("torch.utils.tensorboard") or name.startswith("tensorboard"):
            raise ImportError("no tensorboard")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tb)
    with pytest.raises(UserError, match="pip install tensorboard"):
        TrainLog(tmp_path, "tensorboard")


def test_tensorboard_writes_events(tmp_path):
    pytest.importorskip("tensorboard", reason="TensorBoard is an optional extra")
    log = TrainLog(tmp_path, "tensorboard")
    log.row({"step": 10, "loss": 0.1, "psnr": 10.0})
    log.close()
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))


def _row(tmp_path, encoding, sigma, m, psnr, ms, steps=(10, 20)):
    run = tmp_path / "s" / f"{encoding}-{m}" / "seed0"
    run.mkdir(parents=True)
    log = TrainLog(run)
    for i, s in enumerate(steps):
        log.row({"step": s, "psnr": psnr - 5 + i})
    log.close()
    return {"scene": "builtin", "status": "done", "encoding": encoding, "sigma": sigma, "psnr": psnr, "_dir": str(run),
            "_metrics": {"n_features": m, "cost": {"render_ms": ms, "render_resolution": [400, 400]}}}


def test_cost_and_training_curve_figures(tmp_path):
    rows = [_row(tmp_path, "gaussian", 2.0, m, 25 + i, 100 * (i + 1)) for i, m in enumerate((16, 64, 256))]
    rows.append(_row(tmp_path, "none", None, None, 20.0, 50))
    out = plot_quality_vs_cost("builtin", rows, tmp_path / "q.png")
    assert out is not None and out.stat().st_size > 10_000
    assert plot_training_curves(rows, tmp_path / "c.png").stat().st_size > 10_000
    # The data are drawn: each encoding's colour (gaussian C0 blue, none C1 orange) on the cost plot,
    # one colour per run on the curves.
    import imageio.v3 as iio

    def pixels(path, rgb):
        img = iio.imread(path)[..., :3].astype(int)
        return int((np.abs(img - np.array(rgb)).sum(-1) < 30).sum())

    assert pixels(tmp_path / "q.png", (31, 119, 180)) > 200 and pixels(tmp_path / "q.png", (255, 127, 14)) > 20
    tab10 = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40)]
    assert all(pixels(tmp_path / "c.png", c) > 150 for c in tab10)
    # Runs without cost figures (older runs) give no plot rather than an empty one.
    for r in rows:
        r["_metrics"]["cost"] = {}
    assert plot_quality_vs_cost("builtin", rows, tmp_path / "q2.png") is None
