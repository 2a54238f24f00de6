"""No lost work, no tracebacks, no NaN: kill-and-resume, one-line CLI errors, non-finite steps."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml
from conftest import TINY_RUN

from nerf_ff.checkpoint import load_checkpoint
from nerf_ff.cli import main
from nerf_ff.config import RunConfig
from nerf_ff.data import load_scene
from nerf_ff.errors import UserError, one_line
from nerf_ff.trainer import Trainer


def _preset(tmp_path, **train):
    cfg = json.loads(json.dumps(TINY_RUN))
    cfg["train"].update(train)
    cfg["eval"]["max_views"] = 4
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "nerf_ff.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def test_sigkill_then_resume_matches_uninterrupted(tmp_path):
    preset = _preset(tmp_path, steps=120, checkpoint_every=10)
    full = _cli("train", "builtin", "--config", str(preset), "--out", str(tmp_path / "full"), "--quiet")
    assert full.returncode == 0, full.stderr
    ref = json.loads((tmp_path / "full" / "metrics.json").read_text())

    run = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "nerf_ff.cli", "train", "builtin", "--config", str(preset),
                             "--out", str(run), "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    step = 0
    while time.time() < deadline and proc.poll() is None:
        if (run / "checkpoint.pt").exists():
            try:
                step = load_checkpoint(run / "checkpoint.pt")["step"]
            except UserError:  # never expected: writes are atomic
                raise
            if step >= 30:
                break
        time.sleep(0.2)
    assert proc.poll() is None, "training finished before it could be killed; raise steps"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = load_checkpoint(run / "checkpoint.pt")["step"]
    assert 30 <= killed_at < 120

    resumed = _cli("train", "--resume", "--out", str(run), "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed at step {killed_at}" in resumed.stderr
    got = json.loads((run / "metrics.json").read_text())
    assert got["steps"] == 120
    assert abs(got["psnr"] - ref["psnr"]) < 0.2
    assert got["psnr"] == ref["psnr"]  # on the CPU a resumed run is bit-for-bit the uninterrupted one


def test_sigterm_saves_and_says_how_to_resume(tmp_path):
    preset = _preset(tmp_path, steps=100000, checkpoint_every=100000)
    run = tmp_path / "term"
    proc = subprocess.Popen([sys.executable, "-m", "nerf_ff.cli", "train", "builtin", "--config", str(preset),
                             "--out", str(run), "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not (run / "config.yaml").exists():
        time.sleep(0.2)
    time.sleep(3)  # let it train a little
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "--resume" in err and "Traceback" not in err
    assert load_checkpoint(run / "checkpoint.pt")["step"] > 0


def _run_main(capsys, *argv):
    code = main(list(argv))
    err = capsys.readouterr().err.strip().splitlines()
    return code, err


def test_cli_errors_are_one_line(tmp_path, capsys):
    cases = [
        ("train", "builtin", "--sigma", "0", "--out", str(tmp_path / "a")),
        ("train", "builtin", "--steps", "-3", "--out", str(tmp_path / "a")),
        ("train", "builtin", "--set", "model.encoding=fourier", "--out", str(tmp_path / "a")),
        ("train", str(tmp_path / "nowhere")),
        ("train", "builtin", "--config", "no-such-preset"),
        ("eval", str(tmp_path)),
        ("train", "--resume", "--out", str(tmp_path / "empty")),
        ("train", "builtin", "--encoding", "posenc", "--sigma", "4", "--out", str(tmp_path / "a")),  # no σ to set
        ("train", "builtin", "--set", "scene.downscale=4", "--out", str(tmp_path / "a")),  # nothing to downscale
    ]
    (tmp_path / "empty").mkdir()
    for argv in cases:
        code, err = _run_main(capsys, *argv)
        assert code == 2, argv
        assert len(err) == 1 and err[0].startswith("nerf-ff: error: "), (argv, err)
    assert "builtin_resolution" in err[0] and "scene.downscale" in err[0]
    code, err = _run_main(capsys, "train", "builtin", "--set", "scene.background=red")
    assert "e.g. --set scene.background=1,1,1" in err[0]


def test_machine_failures_are_one_line(tmp_path, capsys):
    """A run folder that cannot be created (its parent is a file; root-proof, unlike permissions) exits 1
    with one line naming the path; memory running out says what to shrink; a bug keeps its traceback."""
    (tmp_path / "afile").write_text("")
    code, err = _run_main(capsys, "train", "builtin", "--steps", "2", "--out", str(tmp_path / "afile" / "run"))
    assert code == 1 and len(err) >= 1 and err[-1].startswith("nerf-ff: error: ") and "afile" in err[-1], err
    assert not any("Traceback" in line for line in err)
    message, code = one_line(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 9 GB"))
    assert code == 1 and message.startswith("out of memory") and "scene.downscale" in message
    assert one_line(ValueError("a bug"))[0] is None


def test_run_folder_without_checkpoint_and_incompatible_checkpoint(tmp_path, capsys, tiny_run):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text((tiny_run / "config.yaml").read_text())
    code, err = _run_main(capsys, "eval", str(run))
    assert code == 2 and "no checkpoint" in err[0]
    # Same checkpoint, but a config with another width: a clear mismatch message, no traceback.
    (run / "checkpoint.pt").write_bytes((tiny_run / "checkpoint.pt").read_bytes())
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["model"]["width"] = 48
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    code, err = _run_main(capsys, "eval", str(run))
    assert code == 2 and "does not match" in err[0]
    # A foreign / newer checkpoint version.
    state = torch.load(tiny_run / "checkpoint.pt", weights_only=True)
    state["version"] = 99
    torch.save(state, run / "checkpoint.pt")
    code, err = _run_main(capsys, "eval", str(run))
    assert code == 2 and "version 99" in err[0]


def test_existing_run_is_not_overwritten(tmp_path, capsys, tiny_run):
    before = (tiny_run / "checkpoint.pt").read_bytes()
    code, err = _run_main(capsys, "train", "builtin", "--out", str(tiny_run))
    assert code == 2 and "--resume" in err[0]
    assert (tiny_run / "checkpoint.pt").read_bytes() == before


def _tiny_trainer(tmp_path, **train):
    cfg = RunConfig.from_dict(TINY_RUN)
    for k, v in train.items():
        setattr(cfg.train, k, v)
    cfg.validate()
    return Trainer(cfg, load_scene(cfg.scene), tmp_path, progress=False)


def test_non_finite_steps_are_skipped_then_stop(tmp_path, monkeypatch):
    trainer = _tiny_trainer(tmp_path, steps=12)
    field = trainer.model.field
    real_forward = field.forward
    calls = {"n": 0}

    def sometimes_nan(x, d):
        calls["n"] += 1
        rgb, sigma = real_forward(x, d)
        return (rgb * float("nan"), sigma) if calls["n"] in (3, 4) else (rgb, sigma)

    monkeypatch.setattr(field, "forward", sometimes_nan)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    summary = trainer.fit()
    assert summary["steps"] == 12 and trainer.skipped_steps == 2  # two steps skipped, training went on
    for k, v in trainer.model.state_dict().items():
        assert torch.isfinite(v.float()).all(), k
    assert any(not torch.equal(before[k], v) for k, v in trainer.model.state_dict().items())

    stopper = _tiny_trainer(tmp_path / "stop", steps=12, nan_policy="stop")
    real = stopper.model.field.forward
    monkeypatch.setattr(stopper.model.field, "forward", lambda x, d: tuple(v * float("nan") for v in real(x, d)))
    with pytest.raises(UserError, match="diverged"):
        stopper.fit()
    saved = load_checkpoint(tmp_path / "stop" / "checkpoint.pt")
    assert saved["step"] == 1 and saved["skipped_steps"] == 1
    for k, v in saved["model"].items():  # the parameters of before the bad step
        assert torch.isfinite(v.float()).all(), k


def test_extreme_sigma_stays_finite(tmp_path):
    for sigma in (1e-4, 1e5):
        cfg = RunConfig.from_dict(TINY_RUN)
        cfg.model.sigma = sigma
        cfg.train.steps = 5
        trainer = Trainer(cfg.validate(), load_scene(cfg.scene), tmp_path / str(sigma), progress=False)
        trainer.fit()
        assert all(torch.isfinite(torch.tensor(h["loss"])) for h in trainer.history) or not trainer.history
        assert trainer.bad_steps == 0
        for k, v in trainer.model.state_dict().items():
            assert torch.isfinite(v.float()).all(), (sigma, k)


def _stopped_at(trainer: Trainer, step: int) -> Trainer:
    """`trainer` with a stop signal (as SIGTERM sets it) raised once it reaches `step`."""
    real = trainer.train_step

    def step_then_stop():
        out = real()
        if trainer.step == step:
            trainer._stop_signal = "SIGTERM"
        return out

    trainer.train_step = step_then_stop
    return trainer


def test_stopped_run_resumed_equals_the_uninterrupted_one_and_its_logged_loss(tmp_path):
    full = _tiny_trainer(tmp_path / "full", steps=40)
    full.fit()
    stopped = _stopped_at(_tiny_trainer(tmp_path / "run", steps=40), 17)
    assert stopped.fit()["stopped"] == "SIGTERM"
    resumed = _tiny_trainer(tmp_path / "run", steps=40)
    resumed.resume()
    resumed.fit()
    for k, v in full.model.state_dict().items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k
    assert resumed.history[-1]["loss"] == full.history[-1]["loss"]  # the smoothed loss does not restart


def test_resumed_time_budget_run_continues_its_schedule(tmp_path, monkeypatch):
    """A run under a time budget is scheduled by its pace; a resumed process starts with the pace saved in the
    checkpoint (it restarted at the full learning rate, with the high frequencies faded out again: the
    default CPU run, resumed, fell from 22.8 to 14.7 dB)."""
    import nerf_ff.trainer  # noqa: PLC0415

    monkeypatch.setattr(nerf_ff.trainer, "TIME_WARMUP", 0.0)  # the pace counts from the first timed step
    run = tmp_path / "run"
    trainer = _stopped_at(_tiny_trainer(run, steps=100000, time_budget=30.0, anneal_frequencies=0.3), 40)
    assert trainer.fit()["stopped"] == "SIGTERM"
    before = trainer.progress_fraction()
    assert before > 10 * 40 / 100000  # paced by time, not by the 100000-step ceiling
    resumed = _tiny_trainer(run, steps=100000, time_budget=30.0, anneal_frequencies=0.3)
    resumed.resume()
    assert resumed.progress_fraction() == pytest.approx(before)
    assert resumed.learning_rate() == pytest.approx(trainer.learning_rate())


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA for the refused --device cuda")
def test_a_refused_resume_leaves_the_runs_config(tmp_path, capsys, tiny_run):
    import shutil  # noqa: PLC0415

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    config = (run / "config.yaml").read_bytes()
    code, err = _run_main(capsys, "train", "--resume", "--out", str(run), "--device", "cuda", "--no-eval")
    assert code == 2 and "no CUDA GPU" in err[-1]
    assert (run / "config.yaml").read_bytes() == config  # it said device: cuda, and every later command failed
    # A --steps the run is already past: said, and config.yaml keeps the run's own steps
    code, err = _run_main(capsys, "train", "--resume", "--out", str(run), "--steps", "5", "--no-eval", "--quiet")
    assert code == 0 and any("nothing to train; pass a larger --steps" in line for line in err), err
    assert (run / "config.yaml").read_bytes() == config


def test_bad_device_seed_and_ignored_flags_are_one_line(tmp_path, capsys, tiny_run):
    for argv in (("eval", str(tiny_run), "--device", "foo"), ("render", str(tiny_run), "--device", "foo"),
                 ("train", "builtin", "--data", str(tmp_path), "--steps", "2", "--out", str(tmp_path / "d")),
                 ("train", "--resume", "--out", str(tiny_run), "--sigma", "auto"),
                 ("train", "builtin", "--seed", "99999999999999999999", "--out", str(tmp_path / "s"))):
        code, err = _run_main(capsys, *argv)
        assert code == 2 and len(err) == 1 and err[0].startswith("nerf-ff: error: "), (argv, err)
    assert "train.seed=99999999999999999999" in err[0]
    assert not (tmp_path / "s").exists() and not (tmp_path / "d").exists()
