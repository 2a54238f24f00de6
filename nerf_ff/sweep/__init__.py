"""Sweeps: a grid of runs (scenes × encodings × σ × seeds) → one `nerf-ff train` per cell → report.

    SWEEP.yaml ──spec.expand()──► [RunSpec] ──runs.json──► local.execute() (N processes here)
                                                          or ray_runner.execute() (Ray tasks on a cluster)
                                                        ──► report.py (CSV, tables, plots)

The sweep file format is documented in spec.py; every run is exactly `nerf-ff train SCENE --config
RUN/config.yaml --out RUN` (or `--resume`), wherever it runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..errors import UserError
from .local import _error_from_log, default_jobs, execute, visible_gpus
from .spec import (ERROR_NAME, RunSpec, _keep_timings, classify, command, config_drift, expand, find_sweep, load_sweep,
                   parse_set_items, parse_sweep, read_manifest, record_config_errors, run_id, set_aside_changed,
                   write_manifest)

__all__ = ["RunSpec", "classify", "command", "execute", "expand", "parse_sweep", "run_id", "sweep_main",
           "_error_from_log"]


# --------------------------------------------------------------------------- entry point


def sweep_main(sweep_name: str, out: Optional[str] = None, jobs: Optional[int] = None, dry_run: bool = False,
               report_only: bool = False, set_items: Optional[list[str]] = None, echo=print,
               ray: Optional[str] = None, cpus_per_run: int = 1, gpus_per_run: Optional[float] = None,
               ray_transfer: str = "auto", rerun_changed: bool = False) -> int:
    """`nerf-ff sweep`: expand, run what is left (here, or as Ray tasks when `ray` is an address or
    "local"), write the report. Returns the exit status."""
    from ..report import write_report  # noqa: PLC0415

    path = find_sweep(sweep_name)
    sweep = load_sweep(path)
    root = Path(out) if out else Path("runs") / "sweeps" / (sweep["name"] or path.stem)
    if report_only:
        if not root.is_dir():
            raise UserError(f"sweep folder {root} does not exist; run the sweep first or pass --out")
        summary = write_report(root)
        _print_report(summary, echo)
        return 0
    automatic: dict = {}
    runs = expand(sweep, where=str(path), cli_set=parse_set_items(set_items), automatic=automatic)
    for scene_arg, line in automatic.items():
        echo(f"[sweep] {scene_arg}: no preset, so {line}")
    classify(runs, root)
    if jobs is not None and jobs < 1:
        raise UserError(f"--jobs {jobs} must be at least 1")
    if cpus_per_run < 1 or (gpus_per_run is not None and gpus_per_run < 0):
        raise UserError("--cpus-per-run must be at least 1 and --gpus-per-run at least 0")
    if ray is not None:
        from .ray_runner import import_ray  # noqa: PLC0415

        import_ray()  # a missing Ray is a one-line error before anything is written
        gpus, where = [], f"as Ray tasks ({ray if ray != 'local' else 'a local Ray started for the sweep'})"
    else:
        gpus = visible_gpus()
        jobs = jobs or default_jobs(gpus)
        where = f"{jobs} job(s){' on GPUs ' + ','.join(gpus) if gpus else ' on CPU'}"
    changed = [r for r in runs if r.status == "changed"]
    if changed and not dry_run:
        if not rerun_changed:
            raise UserError(f"{len(changed)} finished run(s) in {root} were trained with another config than the sweep "
                            f"now gives ({changed[0].id}: {config_drift(changed[0], changed[0].dir(root))}); --rerun-changed "
                            "trains them again (their folders kept under replaced/), or pass another --out")
        echo(f"[sweep] {len(changed)} finished run(s) with another config set aside in {set_aside_changed(runs, root)}")
    counts = {s: sum(r.status == s for r in runs) for s in ("new", "resume", "done", "changed", "failed")}
    echo(f"[sweep] {path}: {len(runs)} runs → {root} ({counts['new']} to start, {counts['resume']} to resume, "
         f"{counts['done']} done, {counts['failed']} invalid" + (f", {counts['changed']} changed" if changed else "")
         + f"); {where}")
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
    on_change = lambda: write_manifest(runs, root, path, sweep)  # noqa: E731
    if ray is not None:
        from .ray_runner import execute as ray_execute  # noqa: PLC0415

        result = ray_execute(runs, root, ray, cpus_per_run, gpus_per_run, ray_transfer, on_change=on_change, echo=echo)
    else:
        result = execute(runs, root, jobs, gpus, on_change=on_change, echo=echo)
    failed = [r for r in runs if r.status == "failed"]
    stopped = [r for r in runs if r.status == "interrupted"]
    echo(f"[sweep] {sum(r.status == 'done' for r in runs)}/{len(runs)} runs done in {result['wall_seconds']:.0f} s "
         f"wall, {result['cpu_seconds']:.0f} s CPU (children)")
    for r in failed:
        echo(f"[sweep] FAILED {r.id}: {r.error}  ({r.dir(root) / ERROR_NAME})")
    for r in stopped:
        echo(f"[sweep] INTERRUPTED {r.id}: {r.error}")
    summary = write_report(root)
    _print_report(summary, echo)
    if result["interrupted"]:
        return 130
    return 1 if failed or stopped else 0


def _print_report(summary: dict, echo) -> None:
    echo(f"[sweep] report: {summary['markdown']}  csv: {summary['csv']}")
    for scene, best in summary.get("best", {}).items():
        for enc, b in best.items():
            echo(f"[sweep] {scene}: best {enc} sigma = {b['sigma']:g} cycles/box "
                 f"({b['sigma_world']} per world unit), PSNR {b['psnr']:.2f} dB")
    for p in summary.get("plots", []) + summary.get("contact_sheets", []):
        echo(f"[sweep] figure: {p}")
