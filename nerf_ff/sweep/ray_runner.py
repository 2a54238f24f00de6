"""Running a sweep's runs as Ray tasks, on a Ray started here or on an existing cluster.

    nerf-ff sweep FILE --ray                 a local Ray, started for the sweep and stopped after it
    nerf-ff sweep FILE --ray auto            the cluster this machine belongs to (`ray start` was run)
    nerf-ff sweep FILE --ray ray://HOST:10001   a remote cluster through Ray Client

Each run is one task asking for its resources (`--gpus-per-run`, default 1 where the cluster has
GPUs; `--cpus-per-run`, default 1), retried never: a run that fails is recorded, not re-run blindly.
The task starts exactly the command a local sweep would (`nerf-ff train ... --out RUN`, see spec.py)
in a child process with OMP_NUM_THREADS = its CPUs, which dies with the task (SIGTERM, so it saves a
checkpoint: a killed node leaves its runs resumable). Each node must have nerf_ff and its data.

Shared disk or not. The driver writes a random token to SWEEP/.sweep-token; a task that finds the
same token at the run folder's path works there directly (a shared file system, or one machine). A
task that does not runs in a private temporary folder: the driver sends it the run's inputs
(config.yaml, and checkpoint.pt to resume) and the task sends back everything the run wrote
(metrics.json, config.yaml, checkpoint.pt, eval/ with per_view.csv and images, logs), which the driver
writes into the sweep folder, so the report is the same either way (`--ray-transfer always` forces
this mode). Each run records the node that ran it (RUN/node.json, runs.json); a failure names it.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Optional

import yaml

from ..errors import UserError
from ..files import write_bytes
from .local import _finish, _psnr_note
from .spec import ERROR_NAME, LOG_NAME, RunSpec, command

TOKEN_NAME = ".sweep-token"
NODE_NAME = "node.json"
MAX_RETURN_BYTES = 512 * 2**20  # files a private-folder task sends back, in all


def import_ray():
    try:
        import ray  # noqa: PLC0415
    except ImportError:
        raise UserError("--ray needs Ray, an optional extra: pip install 'nerf_ff[ray]' (or pip install ray)") from None
    return ray


def connect(address: Optional[str]) -> tuple[object, bool]:
    """(ray, started_here): connect to `address` (auto, ray://..., HOST:PORT) or start a local Ray."""
    ray = import_ray()
    if ray.is_initialized():
        return ray, False
    try:
        if address in (None, "", "local"):
            ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
            return ray, True
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"cannot reach the Ray cluster at {address!r} ({first[:160]}); start it with `ray start "
                        "--head` or check the address (auto, ray://HOST:10001, HOST:6379)") from None
    return ray, False


def _die_with_parent() -> None:
    """In the child: SIGTERM when the task's worker process dies (Linux prctl PR_SET_PDEATHSIG)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except OSError:
        pass


def _read_files(folder: Path, limit: int = MAX_RETURN_BYTES) -> dict[str, bytes]:
    out, total = {}, 0
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            data = p.read_bytes()
            total += len(data)
            if total > limit:
                raise RuntimeError(f"run folder larger than {limit >> 20} MiB; use a shared disk for this sweep")
            out[str(p.relative_to(folder))] = data
    return out


def _write_files(folder: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = folder / rel
        if Path(rel).is_absolute() or ".." in Path(rel).parts:
            continue  # never outside the run folder
        write_bytes(path, data)


def run_task(job: dict) -> dict:
    """Body of one Ray task (on a worker): run `nerf-ff train` for one sweep run."""
    import ray  # noqa: PLC0415 (only ever called inside Ray)

    node = {"node_id": ray.get_runtime_context().get_node_id(), "host": socket.gethostname(),
            "ip": ray.util.get_node_ip_address()}
    run_dir = Path(job["run_dir"])
    token = Path(job["root"]) / TOKEN_NAME
    shared = job["transfer"] != "always" and token.is_file() and token.read_text().strip() == job["token"]
    work = run_dir if shared else Path(tempfile.mkdtemp(prefix="nerf_ff_run_"))
    if not shared:
        _write_files(work, job["files"])
    work.mkdir(parents=True, exist_ok=True)
    (work / NODE_NAME).write_text(json.dumps({**node, "started": time.strftime("%Y-%m-%dT%H:%M:%S")}))
    argv = [a.replace(str(run_dir), str(work)) for a in job["argv"]]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": str(job["cpus"])}
    t0 = time.perf_counter()
    with open(work / LOG_NAME, "a") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} on {node['host']} ({node['ip']}): "
                  f"nerf-ff {' '.join(argv)}\n")
        log.flush()
        p = subprocess.Popen([sys.executable, "-m", "nerf_ff.cli", *argv], stdout=log, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, env=env, preexec_fn=_die_with_parent)
        try:
            rc = p.wait()
        except KeyboardInterrupt:  # ray.cancel: let the run save its checkpoint
            p.send_signal(signal.SIGTERM)
            rc = p.wait(timeout=120)
    result = {"rc": rc, "node": node, "seconds": time.perf_counter() - t0, "shared": shared}
    if not shared:
        result["files"] = _read_files(work)
    return result


def _inputs(r: RunSpec, d: Path) -> dict[str, bytes]:
    """What a private-folder task needs: config.yaml, and the checkpoint and logs of a run to resume."""
    names = ["config.yaml", "checkpoint.pt", "log.csv", LOG_NAME] if r.status != "new" else ["config.yaml"]
    return {n: (d / n).read_bytes() for n in names if (d / n).is_file()}


def _node_of(d: Path) -> str:
    try:
        n = json.loads((d / NODE_NAME).read_text())
        return f"node {n['ip']} ({n['host']}, {n['node_id'][:12]})"
    except (OSError, ValueError, KeyError, TypeError):
        return "an unknown node"


def execute(runs: list[RunSpec], root: Path, address: Optional[str], cpus_per_run: int = 1,
            gpus_per_run: Optional[float] = None, transfer: str = "auto", on_change=None, echo=print) -> dict:
    """Run every `new` / `resume` run as a Ray task; same result dict as local.execute."""
    ray, started = connect(address)
    try:
        resources = ray.cluster_resources()
        if gpus_per_run is None:
            gpus_per_run = 1 if resources.get("GPU", 0) >= 1 else 0
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        echo(f"[sweep] Ray{' (started here)' if started else ''}: {len(nodes)} node(s), "
             f"{resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs; each run asks for "
             f"{cpus_per_run} CPU(s){f' and {gpus_per_run:g} GPU(s)' if gpus_per_run else ''}")
        root.mkdir(parents=True, exist_ok=True)
        token = uuid.uuid4().hex
        (root / TOKEN_NAME).write_text(token)
        task = ray.remote(run_task).options(num_cpus=cpus_per_run, num_gpus=gpus_per_run, max_retries=0)
        todo = [r for r in runs if r.status in ("new", "resume")]
        pending: dict = {}
        t_start = time.perf_counter()
        for r in todo:
            d = r.dir(root)
            d.mkdir(parents=True, exist_ok=True)
            if r.status == "new":
                (d / "config.yaml").write_text(yaml.safe_dump(r.config, sort_keys=False))
            for stale in (ERROR_NAME, NODE_NAME):
                (d / stale).unlink(missing_ok=True)
            job = {"run_dir": str(d), "root": str(root), "token": token, "transfer": transfer, "cpus": cpus_per_run,
                   "argv": command(r, root), "files": _inputs(r, d)}
            pending[task.remote(job)] = (r, time.perf_counter())
        echo(f"[sweep] submitted {len(pending)} run(s) to Ray")
        n_total, n_done, interrupted = len(pending), 0, False
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
                for ref in ready:
                    r, t0 = pending.pop(ref)
                    _collect(ray, ref, r, root, t0)
                    n_done += 1
                    echo(f"[sweep] {r.status:<6} {r.id} ({n_done}/{n_total}, {r.wall_seconds:.0f} s on {r.node}"
                         f"{', ' + r.error if r.error else ''}{_psnr_note(r, root)})")
                    if on_change:
                        on_change()
        except KeyboardInterrupt:
            interrupted = True
            echo("[sweep] stopping: the running tasks save a checkpoint and exit (resume with the same command)")
            for ref in pending:
                ray.cancel(ref)
            for ref, (r, t0) in pending.items():
                _collect(ray, ref, r, root, t0, timeout=150)
        return {"wall_seconds": time.perf_counter() - t_start, "cpu_seconds": 0.0, "interrupted": interrupted}
    finally:
        if on_change:
            on_change()
        if started:
            ray.shutdown()


def _collect(ray, ref, r: RunSpec, root: Path, t0: float, timeout: Optional[float] = None) -> None:
    """Record a finished (or failed) task: files written back, status, node, error.txt."""
    d = r.dir(root)
    try:
        res = ray.get(ref, timeout=timeout)
    except Exception as exc:  # the task, its worker or its node died, or it was cancelled
        r.node = _node_of(d)
        kind = type(exc).__name__
        resumable = (d / "checkpoint.pt").is_file()
        r.returncode, r.wall_seconds = None, round(time.perf_counter() - t0, 1)
        r.status = "interrupted" if resumable else "failed"
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else kind
        why = "; checkpoint saved, rerun the sweep to resume" if resumable else f": {first}"
        r.error = f"{kind} on {r.node}{why}"
        (d / ERROR_NAME).write_text(f"{r.error}\n{exc}\n")
        return
    if not res["shared"]:
        _write_files(d, res["files"])
    n = res["node"]
    r.node = f"node {n['ip']} ({n['host']}, {n['node_id'][:12]})"
    _finish(r, root, res["rc"], res["seconds"])
    if r.status == "failed":
        with open(d / ERROR_NAME, "a") as f:
            f.write(f"ran on {r.node}\n")
