"""Sweeps: a grid of runs (scenes × encodings × σ × seeds) → one `nerf-ff train` per cell → report.

    SWEEP.yaml ──expand()──► [RunSpec] ──runs.json──► execute(): N worker processes ──► report.py
                              (resolved configs,       each `python -m nerf_ff.cli train ...`,
                               stable folder names)    pinned to one GPU, log in RUN/train.log

A sweep file (configs/sweep-NAME.yaml):

    preset: fourfeat-table7          # configs/*.yaml name or path, or a list (later wins)
    scenes: [lego]                   # anything `nerf-ff train SCENE` accepts
    seeds: [0, 1, 2]                 # train.seed; the Gaussian draw B keeps model.encoding_seed
    encodings:
      - none
      - posenc
      - {name: gaussian, sigmas: [4, 8, 16]}        # σ in cycles per scene box
      - {name: learned, sigmas: [8], set: {train: {lr: 1e-3}}}
    overrides:                       # per-encoding config layers (run-config schema)
      none: {train: {lr: 1.0e-2}}
    set: {train: {steps: 2000}}      # layer applied to every run

Each run's config is built as `nerf-ff train` builds it (`cli.build_config`: defaults < scene YAML <
presets), then the sweep's layers: `set` < `overrides[encoding]` < the entry's `set` < `--set` on
the command line, and finally the run's identity (encoding, σ, seed), which nothing may override.
The resolved config is written to RUN/config.yaml and the run is exactly
`nerf-ff train SCENE --config RUN/config.yaml --out RUN`; `runs.json` lists every run with that
command, so the list could be dispatched by another engine (Ray) instead of `execute()`.

Resumable: a run with metrics.json is skipped; one with checkpoint.pt continues (`--resume`, with
its own config.yaml). A failing run is recorded (status, RUN/error.txt) and the others go on.
"""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import yaml

from .config import (ENCODINGS, RunConfig, apply_overrides, available, find_named, load_yaml, project_root)
from .errors import UserError

SIGMA_ENCODINGS = ("gaussian", "learned")
SWEEP_KEYS = ("name", "description", "preset", "scenes", "encodings", "seeds", "overrides", "set",
              "vary_encoding_seed")
# Set by the run's identity; a layer that sets them would make the folder name lie.
IDENTITY_KEYS = (("model", "encoding"), ("model", "sigma"), ("train", "seed"))
LOG_NAME = "train.log"
ERROR_NAME = "error.txt"
MANIFEST = "runs.json"


@dataclasses.dataclass
class RunSpec:
    """One cell of the sweep. `id` is also its folder under the sweep folder."""

    id: str  # "<scene>/<encoding>[-s<sigma>]/seed<k>"
    scene_arg: str  # as given to `nerf-ff train`
    scene: str  # the resolved scene name
    encoding: str
    sigma: Optional[float]
    seed: int
    config: Optional[dict] = None  # resolved RunConfig (None when the config is invalid)
    config_error: Optional[str] = None
    status: str = "new"  # new | resume | done | failed | interrupted
    error: Optional[str] = None  # one line
    wall_seconds: Optional[float] = None
    cpu_seconds: Optional[float] = None
    returncode: Optional[int] = None
    notes: list = dataclasses.field(default_factory=list)

    def dir(self, root: Path) -> Path:
        return root / self.id


def run_id(scene: str, encoding: str, sigma: Optional[float], seed: int) -> str:
    tag = encoding + (f"-s{sigma:g}" if encoding in SIGMA_ENCODINGS else "")
    return f"{scene}/{tag}/seed{seed}"


# --------------------------------------------------------------------------- sweep file


def sweep_names() -> list[str]:
    return [n[len("sweep-"):] for n in available("configs") if n.startswith("sweep-")]


def find_sweep(name: str) -> Path:
    """A sweep file path, or NAME for configs/sweep-NAME.yaml."""
    p = Path(name)
    if p.is_file():
        return p
    found = find_named("configs", name if name.startswith("sweep-") else f"sweep-{name}")
    if found is None:
        known = ", ".join(sweep_names())
        raise UserError(f"sweep file {name!r} not found; give a path or one of: {known}")
    return found


def _layer(value, where: str) -> dict:
    """A config layer (sections scene/model/sampler/train/eval); identity keys are refused."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UserError(f"{where} must be a mapping of sections (scene, model, sampler, train, eval)")
    apply_overrides(RunConfig(), value, where)  # unknown sections / keys / types fail here, once
    for sec, key in IDENTITY_KEYS:
        if key in (value.get(sec) or {}):
            raise UserError(f"{where} sets {sec}.{key}, which the sweep sets per run; "
                            f"list it under encodings / seeds instead")
    return value


def _sigmas(entry: dict, name: str, where: str) -> list[Optional[float]]:
    raw = entry.get("sigmas", entry.get("sigma"))
    if name not in SIGMA_ENCODINGS:
        if raw is not None:
            raise UserError(f"{where}: {name} has no sigma; only {' and '.join(SIGMA_ENCODINGS)} take sigmas")
        return [None]
    if raw is None:
        raise UserError(f"{where}: {name} needs sigmas, e.g. {{name: {name}, sigmas: [4, 8, 16]}}")
    raw = raw if isinstance(raw, list) else [raw]
    out = []
    for s in raw:
        try:
            v = float(s)
        except (TypeError, ValueError):
            v = float("nan")
        if not (v > 0 and v != float("inf")):
            raise UserError(f"{where}: sigma {s!r} must be a positive number (cycles per scene box)")
        out.append(v)
    if len(set(out)) != len(out):
        raise UserError(f"{where}: {name} lists a sigma twice ({raw}); list each once")
    return out


def parse_sweep(data: dict, where: str = "sweep") -> dict:
    """Check a sweep mapping and normalise it: encodings become [{name, sigmas, set}]."""
    if not isinstance(data, dict):
        raise UserError(f"{where} must be a mapping with scenes, encodings, seeds and preset")
    unknown = [k for k in data if k not in SWEEP_KEYS]
    if unknown:
        raise UserError(f"{where}: unknown key {unknown[0]!r}; known keys: {', '.join(SWEEP_KEYS)}")
    scenes = data.get("scenes") or ["builtin"]
    scenes = [str(s) for s in (scenes if isinstance(scenes, list) else [scenes])]
    seeds = data.get("seeds", [0])
    seeds = seeds if isinstance(seeds, list) else [seeds]
    if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds) or len(set(seeds)) != len(seeds):
        raise UserError(f"{where}: seeds must be a list of distinct integers, e.g. [0, 1, 2]")
    presets = data.get("preset") or []
    presets = [str(p) for p in (presets if isinstance(presets, list) else [presets])]
    encodings = []
    raw_encodings = data.get("encodings")
    if not raw_encodings or not isinstance(raw_encodings, list):
        raise UserError(f"{where}: encodings must be a list, e.g. [none, posenc, {{name: gaussian, sigmas: [4, 8]}}]")
    for i, e in enumerate(raw_encodings):
        ew = f"{where}: encodings[{i}]"
        entry = {"name": e} if isinstance(e, str) else e
        if not isinstance(entry, dict):
            raise UserError(f"{ew} must be a name or a mapping {{name: ..., sigmas: [...]}}")
        bad = [k for k in entry if k not in ("name", "encoding", "sigma", "sigmas", "set")]
        if bad:
            raise UserError(f"{ew}: unknown key {bad[0]!r}; use name, sigmas, set")
        name = entry.get("name", entry.get("encoding"))
        if name not in ENCODINGS:
            raise UserError(f"{ew}: encoding {name!r} is unknown; use one of {', '.join(ENCODINGS)}")
        encodings.append({"name": name, "sigmas": _sigmas(entry, name, ew),
                          "set": _layer(entry.get("set"), f"{ew}.set")})
    overrides = data.get("overrides") or {}
    if not isinstance(overrides, dict):
        raise UserError(f"{where}: overrides must map an encoding name to a config layer")
    for name, layer in overrides.items():
        if name not in ENCODINGS:
            raise UserError(f"{where}: overrides.{name}: unknown encoding; use one of {', '.join(ENCODINGS)}")
        _layer(layer, f"{where}: overrides.{name}")
    return {"name": data.get("name"), "description": data.get("description"), "presets": presets,
            "scenes": scenes, "seeds": seeds, "encodings": encodings, "overrides": overrides,
            "set": _layer(data.get("set"), f"{where}: set"),
            "vary_encoding_seed": bool(data.get("vary_encoding_seed", False))}


def load_sweep(path: str | os.PathLike) -> dict:
    return parse_sweep(load_yaml(path), where=str(path))


# --------------------------------------------------------------------------- expansion


def build_run_config(scene_arg: str, presets: list[str], layers: list[tuple[dict, str]], encoding: str,
                     sigma: Optional[float], seed: int, vary_encoding_seed: bool = False) -> RunConfig:
    """The RunConfig of one sweep cell: `nerf-ff train SCENE --config P...` plus the sweep's layers."""
    from .cli import build_config, make_parser  # noqa: PLC0415 (cli imports this module lazily)

    argv = ["train", scene_arg] + [a for p in presets for a in ("--config", p)]
    cfg = build_config(make_parser().parse_args(argv))
    for layer, where in layers:
        cfg = apply_overrides(cfg, layer, where)
    identity = {"model": {"encoding": encoding}, "train": {"seed": seed}}
    if sigma is not None:
        identity["model"]["sigma"] = sigma
    if vary_encoding_seed:
        identity["model"]["encoding_seed"] = seed
    return apply_overrides(cfg, identity, where="sweep run").validate()


def parse_set_items(items: Optional[list[str]]) -> dict:
    """`--set model.width=128` strings → a layer (typed later by the config's coercion)."""
    from .cli import _parse_set  # noqa: PLC0415

    return _layer(_parse_set(items or []), "--set")


def expand(sweep: dict, where: str = "sweep", cli_set: Optional[dict] = None) -> list[RunSpec]:
    """Every run of the sweep, in file order: scene, encoding entry, σ, seed.

    A run whose config is invalid is kept with `config_error` set (recorded as failed, the others
    run); if every run is invalid the sweep itself is broken and a UserError is raised."""
    runs: list[RunSpec] = []
    for scene_arg in sweep["scenes"]:
        for entry in sweep["encodings"]:
            name = entry["name"]
            layers = [(sweep["set"], f"{where}: set"),
                      (sweep["overrides"].get(name), f"{where}: overrides.{name}"),
                      (entry["set"], f"{where}: {name}.set"),
                      (cli_set or {}, "--set")]
            for sigma in entry["sigmas"]:
                for seed in sweep["seeds"]:
                    spec = RunSpec(id="", scene_arg=scene_arg, scene=_scene_stem(scene_arg), encoding=name,
                                   sigma=sigma, seed=seed)
                    try:
                        cfg = build_run_config(scene_arg, sweep["presets"], layers, name, sigma, seed,
                                               sweep["vary_encoding_seed"])
                        spec.config, spec.scene = cfg.to_dict(), cfg.scene.name
                    except UserError as exc:
                        spec.config_error = str(exc)
                    spec.id = run_id(spec.scene, name, sigma, seed)
                    runs.append(spec)
    ids = [r.id for r in runs]
    dup = next((i for i in ids if ids.count(i) > 1), None)
    if dup:
        raise UserError(f"{where}: two runs map to the folder {dup}; list each scene, encoding and sigma once "
                        "(two scenes with the same scene.name collide too)")
    if runs and all(r.config_error for r in runs):
        raise UserError(runs[0].config_error)
    return runs


def _scene_stem(scene_arg: str) -> str:
    return Path(scene_arg.rstrip("/")).stem or scene_arg


def classify(runs: list[RunSpec], root: Path) -> None:
    """Set each run's status from its folder: done (metrics.json), resume (checkpoint.pt), new."""
    for r in runs:
        d = r.dir(root)
        if r.config_error:
            r.status, r.error = "failed", r.config_error
        elif (d / "metrics.json").is_file():
            r.status = "done"
        elif (d / "checkpoint.pt").is_file():
            r.status = "resume"
            _note_config_drift(r, d)
        else:
            r.status = "new"


def _note_config_drift(r: RunSpec, d: Path) -> None:
    """A resumed run keeps its own config.yaml; say which keys the sweep would now set differently."""
    try:
        old = load_yaml(d / "config.yaml")
    except UserError:
        return
    diff = [f"{s}.{k}" for s, sec in (r.config or {}).items() for k, v in sec.items()
            if isinstance(old.get(s), dict) and k in old[s] and old[s][k] != v]
    if diff:
        r.notes.append(f"resumes with its own config.yaml, which differs from the sweep's in {', '.join(diff)}")


def command(r: RunSpec, root: Path) -> list[str]:
    """The run as a `nerf-ff train` command line (argv without the program)."""
    d = r.dir(root)
    if r.status in ("resume", "interrupted", "failed") and (d / "checkpoint.pt").is_file():
        return ["train", "--resume", "--out", str(d)]
    return ["train", r.scene_arg, "--config", str(d / "config.yaml"), "--out", str(d)]


# --------------------------------------------------------------------------- manifest


def write_manifest(runs: list[RunSpec], root: Path, sweep_path: Optional[Path], sweep: Optional[dict]) -> Path:
    """runs.json: the explicit run list (folder, identity, command, status), rewritten atomically."""
    data = {
        "sweep_file": str(sweep_path) if sweep_path else None,
        "name": (sweep or {}).get("name"),
        "presets": (sweep or {}).get("presets"),
        "updated": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "sigma_note": "sigma in cycles per scene box; world-unit sigma = sigma / box size",
        "runs": [{"id": r.id, "dir": str(r.dir(root)), "scene": r.scene, "scene_arg": r.scene_arg,
                  "encoding": r.encoding, "sigma": r.sigma, "seed": r.seed, "status": r.status, "error": r.error,
                  "wall_seconds": r.wall_seconds, "cpu_seconds": r.cpu_seconds, "returncode": r.returncode,
                  "notes": r.notes, "command": ["nerf-ff"] + command(r, root) if not r.config_error else None}
                 for r in runs],
    }
    root.mkdir(parents=True, exist_ok=True)
    path = root / MANIFEST
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)
    return path


def read_manifest(root: Path) -> Optional[dict]:
    path = Path(root) / MANIFEST
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


# --------------------------------------------------------------------------- execution


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


def record_config_errors(runs: list[RunSpec], root: Path) -> None:
    """Runs that cannot start get their folder with error.txt, like a run that failed."""
    for r in runs:
        if r.config_error:
            d = r.dir(root)
            d.mkdir(parents=True, exist_ok=True)
            (d / ERROR_NAME).write_text(f"invalid config: {r.config_error}\n")


def _keep_timings(runs: list[RunSpec], previous: Optional[dict]) -> None:
    """Finished runs that are skipped now keep the timings an earlier invocation recorded."""
    old = {r.get("id"): r for r in (previous or {}).get("runs", [])}
    for r in runs:
        o = old.get(r.id)
        if r.status == "done" and o and o.get("status") == "done":
            r.wall_seconds, r.cpu_seconds, r.returncode = o.get("wall_seconds"), o.get("cpu_seconds"), o.get("returncode")


def default_jobs(gpus: list[str]) -> int:
    return max(1, len(gpus))


# --------------------------------------------------------------------------- entry point


def sweep_main(sweep_name: str, out: Optional[str] = None, jobs: Optional[int] = None, dry_run: bool = False,
               report_only: bool = False, set_items: Optional[list[str]] = None, echo=print) -> int:
    """`nerf-ff sweep`: expand, run what is left, write the report. Returns the exit status."""
    from .report import write_report  # noqa: PLC0415

    path = find_sweep(sweep_name)
    sweep = load_sweep(path)
    root = Path(out) if out else Path("runs") / "sweeps" / (sweep["name"] or path.stem)
    if report_only:
        if not root.is_dir():
            raise UserError(f"sweep folder {root} does not exist; run the sweep first or pass --out")
        summary = write_report(root)
        _print_report(summary, echo)
        return 0
    runs = expand(sweep, where=str(path), cli_set=parse_set_items(set_items))
    classify(runs, root)
    if jobs is not None and jobs < 1:
        raise UserError(f"--jobs {jobs} must be at least 1")
    gpus = visible_gpus()
    jobs = jobs or default_jobs(gpus)
    counts = {s: sum(r.status == s for r in runs) for s in ("new", "resume", "done", "failed")}
    echo(f"[sweep] {path}: {len(runs)} runs → {root} ({counts['new']} to start, {counts['resume']} to resume, "
         f"{counts['done']} done, {counts['failed']} invalid); {jobs} job(s)"
         f"{' on GPUs ' + ','.join(gpus) if gpus else ' on CPU'}")
    for r in runs:
        for note in r.notes:
            echo(f"[sweep] note: {r.id} {note}")
    if dry_run:
        for r in runs:
            what = f"invalid: {r.error}" if r.config_error else "nerf-ff " + " ".join(command(r, root))
            echo(f"  {r.status:<7} {r.id:<40} {what}")
        return 0
    record_config_errors(runs, root)
    _keep_timings(runs, read_manifest(root))
    write_manifest(runs, root, path, sweep)
    result = execute(runs, root, jobs, gpus, on_change=lambda: write_manifest(runs, root, path, sweep), echo=echo)
    failed = [r for r in runs if r.status == "failed"]
    echo(f"[sweep] {sum(r.status == 'done' for r in runs)}/{len(runs)} runs done in {result['wall_seconds']:.0f} s "
         f"wall, {result['cpu_seconds']:.0f} s CPU (children)")
    for r in failed:
        echo(f"[sweep] FAILED {r.id}: {r.error}  ({r.dir(root) / ERROR_NAME})")
    summary = write_report(root)
    _print_report(summary, echo)
    if result["interrupted"]:
        return 130
    return 1 if failed else 0


def _print_report(summary: dict, echo) -> None:
    echo(f"[sweep] report: {summary['markdown']}  csv: {summary['csv']}")
    for scene, best in summary.get("best", {}).items():
        for enc, b in best.items():
            echo(f"[sweep] {scene}: best {enc} sigma = {b['sigma']:g} cycles/box "
                 f"({b['sigma_world']} per world unit), PSNR {b['psnr']:.2f} dB")
    for p in summary.get("plots", []) + summary.get("contact_sheets", []):
        echo(f"[sweep] figure: {p}")
