"""Running a sweep's runs on this machine: one `nerf-ff train` process per run, `jobs` at a time, each
pinned to one GPU (CUDA_VISIBLE_DEVICES) or given its share of the CPU cores (OMP_NUM_THREADS)."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from ..config import (project_root)

from .spec import ERROR_NAME, LOG_NAME, RunSpec, command


def visible_gpus() -> list[str]:
    """CUDA device ids a child may be pinned to (entries of CUDA_VISIBLE_DEVICES, or 0..n-1)."""
    try:
        import torch  # noqa: PLC0415

        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # a broken CUDA install: run on CPU rather than not at all
        n = 0
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = [s.strip() for s in env.split(",") if s.strip()] if env else [str(i) for i in range(n)]
    return ids[:n]


def _child_env(slot: int, jobs: int, gpus: list[str]) -> dict:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    root = str(project_root())
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    if gpus:
        env["CUDA_VISIBLE_DEVICES"] = gpus[slot % len(gpus)]
    if "OMP_NUM_THREADS" not in os.environ:
        # Parallel CPU jobs each with every core oversubscribe the machine (measured: 4x slower per
        # step on a busy 2-core box); split the cores instead.
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // max(1, jobs)))
    return env


def _error_from_log(log: Path, rc: int) -> tuple[str, str]:
    """(one line, full text) of a failed run: the CLI's one-line error, or the traceback."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        text = ""
    lines = [ln.split("\r")[-1] for ln in text.splitlines()]
    tb = text.rfind("Traceback (most recent call last)")
    if tb >= 0:
        full = text[tb:].strip()
        last = [ln for ln in full.splitlines() if ln.strip()]
        return (last[-1].strip() if last else "traceback"), full
    errs = [ln for ln in lines if ln.startswith("nerf-ff: error:")]
    if errs:
        return errs[-1][len("nerf-ff: error:"):].strip(), errs[-1]
    why = f"killed by signal {-rc}" if rc < 0 else f"exit status {rc}"
    tail = "\n".join(lines[-20:])
    return f"{why} (see {log})", f"{why}\n{tail}"


def _cpu_children() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


class _Stop(Exception):
    """SIGTERM to the sweep: stop like Ctrl-C."""


def execute(runs: list[RunSpec], root: Path, jobs: int, gpus: list[str], on_change=None,
            echo=print) -> dict:
    """Run every `new` / `resume` run, `jobs` at a time, each in its own process.

    Returns {"wall_seconds", "cpu_seconds", "interrupted"}. Ctrl-C / SIGTERM: the children get
    SIGTERM, save a checkpoint and exit (resumable); their runs are marked `interrupted`."""
    todo = [r for r in runs if r.status in ("new", "resume")]
    active: dict = {}  # Popen -> (run, slot, t0, log file)
    free = list(range(jobs))
    t_start, cpu_start = time.perf_counter(), _cpu_children()
    interrupted = False
    n_total, n_done = len(todo), 0

    def on_term(signum, frame):  # noqa: ARG001
        raise _Stop()

    previous = signal.signal(signal.SIGTERM, on_term) if _main_thread() else None
    try:
        while todo or active:
            while todo and free:
                r, slot = todo.pop(0), free.pop(0)
                d = r.dir(root)
                d.mkdir(parents=True, exist_ok=True)
                if r.status == "new":
                    (d / "config.yaml").write_text(yaml.safe_dump(r.config, sort_keys=False))
                (d / ERROR_NAME).unlink(missing_ok=True)  # from an earlier failed attempt
                log = open(d / LOG_NAME, "a")
                log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} nerf-ff {' '.join(command(r, root))}\n")
                log.flush()
                p = subprocess.Popen([sys.executable, "-m", "nerf_ff.cli"] + command(r, root), stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=_child_env(slot, jobs, gpus))
                active[p] = (r, slot, time.perf_counter(), log)
                gpu = f" on GPU {gpus[slot % len(gpus)]}" if gpus else ""
                echo(f"[sweep] start  {r.id}{' (resume)' if r.status == 'resume' else ''}{gpu}")
            time.sleep(0.2)
            for p in list(active):
                cpu0 = _cpu_children()
                rc = p.poll()
                if rc is None:
                    continue
                r, slot, t0, log = active.pop(p)
                log.close()
                free.append(slot)
                r.cpu_seconds = round(_cpu_children() - cpu0, 1)
                _finish(r, root, rc, time.perf_counter() - t0)
                n_done += 1
                echo(f"[sweep] {r.status:<6} {r.id} ({n_done}/{n_total}, {r.wall_seconds:.0f} s"
                     f"{', ' + r.error if r.error else ''}{_psnr_note(r, root)})")
                if on_change:
                    on_change()
    except (KeyboardInterrupt, _Stop):
        interrupted = True
        echo("[sweep] stopping: the running jobs save a checkpoint and exit (resume with the same command)")
        for p in active:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.time() + 120
        for p, (r, _slot, t0, log) in active.items():
            try:
                rc = p.wait(timeout=max(1.0, deadline - time.time()))
            except subprocess.TimeoutExpired:
                p.kill()
                rc = p.wait()
            log.close()
            _finish(r, root, rc, time.perf_counter() - t0)
        active.clear()
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if on_change:
            on_change()
    return {"wall_seconds": time.perf_counter() - t_start, "cpu_seconds": _cpu_children() - cpu_start,
            "interrupted": interrupted}


def _main_thread() -> bool:
    import threading  # noqa: PLC0415

    return threading.current_thread() is threading.main_thread()


def _finish(r: RunSpec, root: Path, rc: int, seconds: float) -> None:
    d = r.dir(root)
    r.returncode, r.wall_seconds = rc, round(seconds, 1)
    if rc == 0 and (d / "metrics.json").is_file():
        r.status, r.error = "done", None
    elif rc in (130, 143, -signal.SIGINT, -signal.SIGTERM):
        r.status, r.error = "interrupted", "stopped by a signal; checkpoint saved, rerun the sweep to resume"
    else:
        r.status = "failed"
        r.error, full = _error_from_log(d / LOG_NAME, rc)
        if rc == 0:
            r.error, full = "exited without writing metrics.json", "exit status 0 but no metrics.json"
        (d / ERROR_NAME).write_text(full + "\n")


def _psnr_note(r: RunSpec, root: Path) -> str:
    if r.status != "done":
        return ""
    try:
        m = json.loads((r.dir(root) / "metrics.json").read_text())
        return f", PSNR {m['psnr']:.2f} dB"
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def default_jobs(gpus: list[str]) -> int:
    return max(1, len(gpus))
