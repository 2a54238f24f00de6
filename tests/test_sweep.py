"""Sweeps: expansion into named runs with per-encoding layers, resume, failure isolation, reports."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import imageio.v3 as iio
import numpy as np
import pytest
import yaml
from conftest import TINY_RUN

from nerf_ff.checkpoint import load_checkpoint
from nerf_ff.cli import main
from nerf_ff.config import RunConfig, dump_yaml, load_yaml, project_root
from nerf_ff.data import load_scene
from nerf_ff.errors import UserError
from nerf_ff.report import aggregate, best_sigmas, plot_quality_vs_sigma, write_report
from nerf_ff.sweep import _error_from_log, expand, parse_sweep, sweep_main
from nerf_ff.sweep.spec import find_sweep
from nerf_ff.trainer import Trainer


def _preset(tmp_path, **train) -> str:
    cfg = json.loads(json.dumps(TINY_RUN))
    cfg["train"].update(train)
    cfg["eval"]["max_views"] = 3
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def _sweep_file(tmp_path, data: dict):
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# --------------------------------------------------------------------------- expansion


def test_expand_names_counts_and_layers(tmp_path):
    sweep = parse_sweep({
        "preset": _preset(tmp_path),
        "scenes": ["builtin"],
        "seeds": [0, 3],
        "encodings": ["none", "basic", {"name": "gaussian", "sigmas": [2, 8.5]},
                      {"name": "learned", "sigmas": [4], "set": {"train": {"lr": 2e-3}}}],
        "overrides": {"none": {"train": {"lr": 1e-2}}, "learned": {"train": {"lr": 7e-3, "lr_final": 7e-4}}},
        "set": {"train": {"steps": 12}, "model": {"width": 24}},
    })
    runs = expand(sweep, cli_set={"eval": {"chunk": 512}})
    assert len(runs) == (1 + 1 + 2 + 1) * 2
    ids = [r.id for r in runs]
    assert ids[:4] == ["builtin/none/seed0", "builtin/none/seed3", "builtin/basic/seed0", "builtin/basic/seed3"]
    assert "builtin/gaussian-s8.5/seed3" in ids and "builtin/learned-s4/seed0" in ids
    assert len(set(ids)) == len(ids)
    by = {r.id: r.config for r in runs}
    for r in runs:
        c = r.config
        assert c["model"]["encoding"] == r.encoding and c["train"]["seed"] == r.seed
        assert c["train"]["steps"] == 12 and c["model"]["width"] == 24  # global set
        assert c["eval"]["chunk"] == 512  # command-line --set
        assert c["model"]["n_features"] == TINY_RUN["model"]["n_features"]  # the preset
        assert c["model"]["encoding_seed"] == 0  # a sigma sweep shares one draw whatever the seed
    # sigma only for gaussian / learned, and it is the run's
    assert by["builtin/gaussian-s2/seed0"]["model"]["sigma"] == 2.0
    assert by["builtin/gaussian-s8.5/seed0"]["model"]["sigma"] == 8.5
    assert all(r.sigma is None for r in runs if r.encoding in ("none", "basic"))
    # per-encoding overrides apply to their encoding only; the entry's own set wins over them
    assert by["builtin/none/seed0"]["train"]["lr"] == 1e-2
    assert by["builtin/basic/seed0"]["train"]["lr"] == TINY_RUN["train"]["lr"]
    assert by["builtin/gaussian-s2/seed3"]["train"]["lr"] == TINY_RUN["train"]["lr"]
    assert by["builtin/learned-s4/seed0"]["train"]["lr"] == 2e-3
    assert by["builtin/learned-s4/seed0"]["train"]["lr_final"] == 7e-4
    # the resolved config is a valid run config on its own
    RunConfig.from_dict(by["builtin/learned-s4/seed0"]).validate()


@pytest.mark.parametrize("bad, message", [
    ({"encodings": [{"name": "posenc", "sigmas": [2]}]}, "has no sigma"),
    ({"encodings": ["gaussian"]}, "needs sigmas"),
    ({"encodings": [{"name": "gaussian", "sigmas": [0]}]}, "positive"),
    ({"encodings": ["fourier"]}, "unknown"),
    ({"encodings": ["none"], "set": {"model": {"sigma": 3}}}, "sets model.sigma"),
    ({"encodings": ["none"], "overrides": {"none": {"train": {"seed": 1}}}}, "sets train.seed"),
    ({"encodings": ["none"], "set": {"train": {"stepz": 1}}}, "unknown key train.stepz"),
    ({"encodings": ["none"], "seeds": [0, 0]}, "distinct"),
    ({"encodings": ["none"], "jobs": 2}, "unknown key"),
])
def test_sweep_file_errors_are_one_line(bad, message):
    with pytest.raises(UserError, match=message) as err:
        parse_sweep({"scenes": ["builtin"], **bad})
    assert "\n" not in str(err.value)


def test_an_unknown_sweep_name_lists_the_shipped_ones():
    with pytest.raises(UserError, match="one of: builtin, fourfeat-table7, lego-full$"):
        find_sweep("nope")


def test_shipped_sweep_files_expand():
    for name, n_runs in (("builtin", 11), ("fourfeat-table7", 4), ("lego-full", 13)):
        path = project_root() / "configs" / f"sweep-{name}.yaml"
        runs = expand(parse_sweep(load_yaml(path)), where=str(path))
        assert len(runs) == n_runs and not any(r.config_error for r in runs)
    path = project_root() / "configs" / "sweep-fourfeat-table7.yaml"
    cfgs = {r.encoding: r.config for r in expand(parse_sweep(load_yaml(path)))}
    assert cfgs["none"]["train"]["lr"] == cfgs["none"]["train"]["lr_final"] == 1e-2
    assert cfgs["basic"]["train"]["lr"] == 5e-3 and cfgs["posenc"]["train"]["lr"] == 5e-4
    assert cfgs["gaussian"]["sampler"]["kind"] == "uniform" and not cfgs["gaussian"]["model"]["view_dependent"]
    assert cfgs["gaussian"]["scene"]["aabb"] == [-1.5, -1.5, -1.5, 1.5, 1.5, 1.5]  # the paper's box, not the hull
    # The builtin sweep's cost axis: m in {16, 64, 256} at sigma 2, folders named by m.
    path = project_root() / "configs" / "sweep-builtin.yaml"
    by_id = {r.id: r.config for r in expand(parse_sweep(load_yaml(path)), where=str(path))}
    assert {c["model"]["n_features"] for i, c in by_id.items() if i.startswith("builtin/gaussian-s2")} == {16, 64, 256}
    assert by_id["builtin/gaussian-s2-m16/seed0"]["model"]["n_features"] == 16


def test_fourfeat_preset_keeps_the_batch_at_1024_rays():
    """Uniform sampler: every ray has n_samples samples, so target_samples / n_samples rays a step."""
    preset = load_yaml(project_root() / "configs" / "fourfeat-table7.yaml")
    layer = {"sampler": preset["sampler"], "train": {**preset["train"], "steps": 3, "device": "cpu"},
             "scene": TINY_RUN["scene"], "model": {**TINY_RUN["model"], "view_dependent": False}}
    cfg = RunConfig.from_dict(layer).validate()
    trainer = Trainer(cfg, load_scene(cfg.scene), "/nonexistent-unused", progress=False)
    for _ in range(3):
        info = trainer.train_step()
        assert info["n_samples"] == 1024 * 128 and trainer.n_rays == 1024


# --------------------------------------------------------------------------- running


def test_tiny_sweep_failure_resume_and_report(tmp_path):
    """3 good runs + 2 broken ones (an invalid config, a run that fails at start-up): the broken
    ones are recorded and the rest finish; a rerun skips finished runs and resumes a checkpoint."""
    sweep = _sweep_file(tmp_path, {
        "preset": _preset(tmp_path),
        "scenes": ["builtin"],
        "seeds": [0],
        "encodings": ["none", "basic", "posenc", {"name": "gaussian", "sigmas": [1, 6]}],
        # posenc: rejected when the sweep is expanded; basic: passes validation, fails when the scene loads
        "overrides": {"posenc": {"train": {"lr": -1.0}}, "basic": {"scene": {"builtin_resolution": 4}}},
    })
    out = tmp_path / "sweep"
    lines = []
    rc = sweep_main(str(sweep), out=str(out), jobs=2, echo=lines.append)
    assert rc == 1  # some runs failed
    manifest = json.loads((out / "runs.json").read_text())
    status = {r["id"]: r["status"] for r in manifest["runs"]}
    assert status == {"builtin/none/seed0": "done", "builtin/basic/seed0": "failed", "builtin/posenc/seed0": "failed",
                      "builtin/gaussian-s1/seed0": "done", "builtin/gaussian-s6/seed0": "done"}
    errors = {r["id"]: r["error"] for r in manifest["runs"]}
    assert "builtin_resolution=4 is too small" in errors["builtin/basic/seed0"]
    assert "train.lr" in errors["builtin/posenc/seed0"]
    assert "too small" in (out / "builtin/basic/seed0/error.txt").read_text()
    assert (out / "builtin/posenc/seed0/error.txt").is_file()
    assert any("FAILED builtin/basic/seed0" in ln for ln in lines)
    for r in manifest["runs"]:  # the explicit run list: a command any dispatcher could run
        if r["status"] == "done":
            assert r["command"][:3] == ["nerf-ff", "train", "builtin"] and (out / r["id"] / "train.log").is_file()
    m = json.loads((out / "builtin/gaussian-s6/seed0/metrics.json").read_text())
    assert m["sigma"] == 6.0 and m["encoding"] == "gaussian" and m["steps"] == TINY_RUN["train"]["steps"]

    # report: CSV rows, markdown table, plots, contact sheet
    report = out / "report"
    with open(report / "runs.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 5
    done = {(r["encoding"], r["sigma"]): r for r in rows if r["status"] == "done"}
    assert set(done) == {("none", ""), ("gaussian", "1.0"), ("gaussian", "6.0")}
    g6 = done[("gaussian", "6.0")]
    assert float(g6["sigma_world"]) == pytest.approx(3.0)  # built-in box is 2 units wide
    assert float(g6["psnr"]) == pytest.approx(m["psnr"]) and int(g6["steps"]) == m["steps"]
    assert {r["status"] for r in rows if r["encoding"] in ("basic", "posenc")} == {"failed"}
    md = (report / "report.md").read_text()
    assert "| gaussian | 6 | 3 |" in md and "| none |" in md and md.count("**") >= 4
    assert "Best gaussian σ" in md and "builtin_resolution=4" in md
    for png in ("quality_vs_sigma_builtin.png", "contact_builtin.png"):
        img = iio.imread(report / png)
        assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 300 and img[..., :3].std() > 10

    # resume: finished runs are skipped; a run folder with a checkpoint and no metrics continues
    resumed = out / "builtin/gaussian-s1/seed0"
    cfg = RunConfig.from_dict(load_yaml(resumed / "config.yaml"))
    for name in ("metrics.json", "checkpoint.pt"):
        (resumed / name).unlink()
    short = RunConfig.from_dict(cfg.to_dict())
    short.train.steps = 10
    Trainer(short, load_scene(short.scene), resumed, progress=False).fit()
    assert load_checkpoint(resumed / "checkpoint.pt")["step"] == 10
    dump_yaml(cfg, resumed / "config.yaml")  # the run's own config asks for the full length
    done_log = (out / "builtin/none/seed0/train.log").read_text()
    lines.clear()
    sweep_main(str(sweep), out=str(out), jobs=2, echo=lines.append)
    assert any("1 to resume" in ln and "2 done" in ln for ln in lines)
    assert (out / "builtin/none/seed0/train.log").read_text() == done_log  # not run again
    assert "resumed at step 10" in (resumed / "train.log").read_text()
    assert json.loads((resumed / "metrics.json").read_text())["steps"] == TINY_RUN["train"]["steps"]
    # the report can be rewritten alone, from the folder
    assert main(["sweep", str(sweep), "--out", str(out), "--report-only"]) == 0


def test_dry_run_writes_nothing(tmp_path, capsys):
    sweep = _sweep_file(tmp_path, {"preset": _preset(tmp_path), "encodings": ["none", {"name": "gaussian",
                                                                                       "sigmas": [2, 4]}]})
    assert main(["sweep", str(sweep), "--out", str(tmp_path / "s"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "builtin/gaussian-s4/seed0" in out and "nerf-ff train builtin --config" in out
    assert not (tmp_path / "s").exists()


def test_interrupt_saves_and_marks_runs_resumable(tmp_path):
    """SIGINT to the sweep's process group (a terminal's Ctrl-C): the run checkpoints and is marked
    interrupted; the next sweep resumes it."""
    sweep = _sweep_file(tmp_path, {"preset": _preset(tmp_path, steps=100000, checkpoint_every=5),
                                   "encodings": ["none"]})
    out = tmp_path / "s"
    # SIGINT restored to its default in the child: a test runner started in the background (`cmd &`)
    # ignores SIGINT, and Python keeps an ignored SIGINT ignored, so Ctrl-C would never arrive.
    proc = subprocess.Popen([sys.executable, "-m", "nerf_ff.cli", "sweep", str(sweep), "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    run = out / "builtin/none/seed0"
    deadline = time.time() + 120
    while time.time() < deadline and not (run / "checkpoint.pt").exists():
        time.sleep(0.2)
    assert (run / "checkpoint.pt").exists(), "the run never wrote a checkpoint"
    os.killpg(proc.pid, signal.SIGINT)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, output
    manifest = json.loads((out / "runs.json").read_text())
    assert manifest["runs"][0]["status"] == "interrupted"
    assert load_checkpoint(run / "checkpoint.pt")["step"] >= 5 and not (run / "metrics.json").exists()
    dry = subprocess.run([sys.executable, "-m", "nerf_ff.cli", "sweep", str(sweep), "--out", str(out), "--dry-run"],
                         capture_output=True, text=True, timeout=120)
    assert "resume" in dry.stdout and "train --resume --out" in dry.stdout


# --------------------------------------------------------------------------- report pieces


def test_error_from_log_prefers_the_traceback(tmp_path):
    log = tmp_path / "train.log"
    log.write_text("scene builtin: ...\ntrain: 10%\rtrain: 20%\nTraceback (most recent call last):\n"
                   '  File "x.py", line 1, in <module>\nRuntimeError: shapes do not match\n')
    one, full = _error_from_log(log, 1)
    assert one == "RuntimeError: shapes do not match" and full.startswith("Traceback") and "x.py" in full
    log.write_text("train: 5%\nnerf-ff: error: invalid config: something; fix it\n")
    assert _error_from_log(log, 2)[0] == "invalid config: something; fix it"
    assert "signal 9" in _error_from_log(log.with_name("missing.log"), -9)[0]


def test_aggregate_best_sigma_and_plot_with_lpips(tmp_path):
    rows = []
    for seed in (0, 1):
        for sigma, psnr in ((1, 20.0), (4, 24.0), (16, 22.0)):
            rows.append({"scene": "s", "encoding": "gaussian", "sigma": float(sigma), "sigma_world": sigma / 2,
                         "seed": seed, "status": "done", "psnr": psnr + seed, "ssim": 0.8, "lpips": 0.3 - psnr / 100,
                         "train_seconds": 10.0, "steps": 100, "error": None})
        rows.append({"scene": "s", "encoding": "posenc", "sigma": None, "sigma_world": None, "seed": seed,
                     "status": "done", "psnr": 21.0, "ssim": 0.7, "lpips": 0.2, "train_seconds": 9.0,
                     "steps": 100, "error": None})
    rows.append({"scene": "s", "encoding": "none", "sigma": None, "sigma_world": None, "seed": 0,
                 "status": "failed", "psnr": None, "ssim": None, "lpips": None, "train_seconds": None,
                 "steps": None, "error": "boom"})
    groups = aggregate(rows)["s"]
    g4 = next(g for g in groups if g["sigma"] == 4.0)
    assert g4["psnr"] == pytest.approx(24.5) and g4["psnr_std"] == pytest.approx(np.std([24, 25], ddof=1))
    assert next(g for g in groups if g["encoding"] == "none")["n_done"] == 0
    best = best_sigmas(groups)["gaussian"]
    assert best["sigma"] == 4.0 and not best["at_edge"]
    ctx = {"lpips_net": "alex", "box": [2.0, 2.0, 2.0], "cubic": True, "resolution": [24, 24], "n_views": 3}
    path = plot_quality_vs_sigma("s", groups, ctx, tmp_path / "q.png")
    img = iio.imread(path)
    assert img.shape[1] > 1.5 * img.shape[0]  # two panels: PSNR and LPIPS side by side


def test_report_only_on_a_folder_without_manifest(tmp_path, tiny_run):
    """A partial sweep can be reported from whatever metrics.json files are there."""
    import shutil

    from nerf_ff.evaluate import evaluate, load_run

    run = tmp_path / "sweep" / "builtin" / "gaussian-s4" / "seed0"
    shutil.copytree(tiny_run, run)
    cfg, model, state = load_run(run)
    cfg.eval.max_views = 2
    cfg.eval.align_steps = 5  # evaluated with eval --align: the aligned PSNR gets a column of its own
    m = evaluate(run, load_scene(cfg.scene), cfg, model, state, progress=False)
    summary = write_report(tmp_path / "sweep")
    assert summary["n_done"] == 1 and summary["best"]["builtin"]["gaussian"]["sigma"] == 4.0
    assert summary["contact_sheets"] and summary["plots"]
    assert "PSNR aligned" in summary["markdown"].read_text()
    with open(summary["csv"]) as f:
        assert float(next(csv.DictReader(f))["psnr_aligned"]) == pytest.approx(m["aligned"]["psnr"])


def test_features_and_widths_are_axes(tmp_path):
    sweep = parse_sweep({"preset": _preset(tmp_path), "scenes": ["builtin"], "widths": [16, 32],
                         "encodings": ["posenc", {"name": "gaussian", "sigmas": [2], "features": [8, 24]}]})
    runs = {r.id: r for r in expand(sweep)}
    assert set(runs) == {"builtin/posenc-w16/seed0", "builtin/posenc-w32/seed0",
                         "builtin/gaussian-s2-m8-w16/seed0", "builtin/gaussian-s2-m8-w32/seed0",
                         "builtin/gaussian-s2-m24-w16/seed0", "builtin/gaussian-s2-m24-w32/seed0"}
    c = runs["builtin/gaussian-s2-m24-w16/seed0"].config["model"]
    assert c["n_features"] == 24 and c["width"] == 16
    with pytest.raises(UserError, match="only gaussian and learned take features"):
        parse_sweep({"encodings": [{"name": "posenc", "features": [8]}]})
    with pytest.raises(UserError, match="distinct positive integers"):
        parse_sweep({"encodings": ["none"], "widths": [0]})


def test_a_sweep_without_a_preset_takes_the_automatic_defaults(facing, monkeypatch):
    import torch  # noqa: PLC0415

    from nerf_ff import autoconfig  # noqa: PLC0415

    monkeypatch.setitem(autoconfig.AUTO_MAX_SIDE, "cpu", 20)  # the 48x36 capture → downscale 3
    scene = str(facing["colmap"])
    sweep = parse_sweep({"scenes": [scene], "encodings": ["posenc", {"name": "gaussian", "sigmas": [3]}],
                         "set": {"train": {"device": "cpu", "steps": 5}, "model": {"width": 40}}})
    automatic: dict = {}
    runs = expand(sweep, automatic=automatic)
    layer, _ = autoconfig.auto_layer(torch.device("cpu"), "unbounded")
    for r in runs:
        c = r.config
        assert c["scene"]["downscale"] == 3 and c["model"]["n_features"] == layer["model"]["n_features"]
        assert c["sampler"]["grid_resolution"] == layer["sampler"]["grid_resolution"]
        assert c["train"]["time_budget"] == layer["train"]["time_budget"]
        assert c["model"]["width"] == 40 and c["train"]["steps"] == 5  # the sweep's layers win
        assert c["train"]["depth_loss"] == autoconfig.AUTO_DEPTH_LOSS  # the scene's COLMAP keypoints
    assert runs[1].config["model"]["sigma"] == 3  # σ stays the sweep's axis
    assert "automatic defaults for an unbounded scene on cpu" in automatic[scene] and "48x36 / 3" in automatic[scene]


def test_a_changed_sweep_does_not_reuse_runs_of_the_old_config(tmp_path, capsys):
    """A finished run whose config the sweep now sets differently is not taken as done: the sweep stops
    and names the change; --rerun-changed trains it again and keeps the old folder under replaced/."""
    data = {"preset": _preset(tmp_path), "encodings": [{"name": "gaussian", "sigmas": [2]}]}
    sweep, out = _sweep_file(tmp_path, data), tmp_path / "s"
    assert sweep_main(str(sweep), out=str(out), echo=lambda _: None) == 0
    first = json.loads((out / "builtin/gaussian-s2/seed0/metrics.json").read_text())
    data["set"] = {"train": {"steps": 36}}
    _sweep_file(tmp_path, data)
    assert main(["sweep", str(sweep), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "1 finished run(s)" in err and "train.steps 30 → 36" in err and "--rerun-changed" in err
    assert main(["sweep", str(sweep), "--out", str(out), "--dry-run"]) == 0
    assert "changed" in capsys.readouterr().out
    lines = []
    assert sweep_main(str(sweep), out=str(out), rerun_changed=True, echo=lines.append) == 0
    assert json.loads((out / "builtin/gaussian-s2/seed0/metrics.json").read_text())["steps"] == 36
    kept = list((out / "replaced").glob("*/builtin/gaussian-s2/seed0/metrics.json"))
    assert len(kept) == 1 and json.loads(kept[0].read_text()) == first
    assert {r["steps"] for r in csv.DictReader(open(out / "report" / "runs.csv"))} == {"36"}
    assert sweep_main(str(sweep), out=str(out), echo=lines.append) == 0 and any("1 done" in ln for ln in lines)
