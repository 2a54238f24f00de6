"""Sweep specification: a grid of runs (scenes × encodings × σ × m × width × seeds) → one `nerf-ff train`
per cell → report.

    SWEEP.yaml ──expand()──► [RunSpec] ──runs.json──► local.execute() / ray_runner.execute() ──► report.py
                              (resolved configs,       each `python -m nerf_ff.cli train ...`,
                               stable folder names)    log in RUN/train.log

A sweep file (configs/sweep-NAME.yaml):

    preset: fourfeat-table7          # configs/*.yaml name or path, or a list (later wins)
    scenes: [lego]                   # anything `nerf-ff train SCENE` accepts
    seeds: [0, 1, 2]                 # train.seed; the Gaussian draw B keeps model.encoding_seed
    encodings:
      - none
      - posenc
      - {name: gaussian, sigmas: [4, 8, 16]}        # σ in cycles per scene box
      - {name: learned, sigmas: [8], set: {train: {lr: 1e-3}}}
      - {name: gaussian, sigmas: [8], features: [16, 256]}   # m, the number of Fourier features
    widths: [64, 128]                # MLP width as an axis (top level: every entry; or per entry)
    features: [64]                   # m for every gaussian / learned entry without its own list
    overrides:                       # per-encoding config layers (run-config schema)
      none: {train: {lr: 1.0e-2}}
    set: {train: {steps: 2000}}      # layer applied to every run

Each run's config is built as `nerf-ff train` builds it (`config.config_layers`: defaults < scene YAML <
presets; with no preset, the automatic defaults < scene YAML, picked for the scene kind and the device
of the machine that expands the sweep, as `nerf-ff train SCENE` picks them), then the sweep's layers: `set` < `overrides[encoding]` < the entry's `set` < `--set` on
the command line, and finally the run's identity (encoding, σ, seed, and m / width where listed),
which nothing may override. Folders: SCENE/ENCODING[-sSIGMA][-mM][-wWIDTH]/seedK (m and width only where
the sweep lists them), so the cost of an embedding (m, width) is a sweep axis like its scale.
The resolved config is written to RUN/config.yaml and the run is exactly
`nerf-ff train SCENE --config RUN/config.yaml --out RUN`; `runs.json` lists every run with that
command, so the list could be dispatched by another engine (Ray) instead of `execute()`.

Resumable: a run with metrics.json is skipped; one with checkpoint.pt continues (`--resume`, with
its own config.yaml). A finished run whose config.yaml differs from what the sweep now gives (the file or
--set changed, or automatic defaults for another device) is not reused silently: the sweep stops and
says so, and `--rerun-changed` trains it again (its old folder kept under OUT/replaced/DATE/). A failing run is recorded (status, RUN/error.txt) and the others go on.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Optional


from ..config import (ENCODINGS, RunConfig, apply_overrides, compose, config_layers, find_named, load_yaml,
                     parse_set, project_root)
from ..errors import UserError
from ..files import write_json

SIGMA_ENCODINGS = ("gaussian", "learned")
SWEEP_KEYS = ("name", "description", "preset", "scenes", "encodings", "seeds", "overrides", "set",
              "vary_encoding_seed", "features", "widths")
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
    n_features: Optional[int] = None  # m, when the sweep lists it
    width: Optional[int] = None  # MLP width, when the sweep lists it
    config: Optional[dict] = None  # resolved RunConfig (None when the config is invalid)
    config_error: Optional[str] = None
    status: str = "new"  # new | resume | done | changed (done, another config) | failed | interrupted
    error: Optional[str] = None  # one line
    wall_seconds: Optional[float] = None
    cpu_seconds: Optional[float] = None
    returncode: Optional[int] = None
    node: Optional[str] = None  # the Ray node that ran it (Ray sweeps)
    notes: list = dataclasses.field(default_factory=list)

    def dir(self, root: Path) -> Path:
        return root / self.id


def run_id(scene: str, encoding: str, sigma: Optional[float], seed: int, n_features: Optional[int] = None,
           width: Optional[int] = None) -> str:
    tag = encoding + (f"-s{sigma:g}" if encoding in SIGMA_ENCODINGS else "")
    tag += (f"-m{n_features}" if n_features is not None else "") + (f"-w{width}" if width is not None else "")
    return f"{scene}/{tag}/seed{seed}"


def _axis(value, key: str, where: str) -> Optional[list[int]]:
    """A list of distinct positive integers (features, widths), or None when not given."""
    if value is None:
        return None
    vals = value if isinstance(value, list) else [value]
    if not vals or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in vals) \
            or len(set(vals)) != len(vals):
        raise UserError(f"{where}: {key} must be a list of distinct positive integers, e.g. [16, 64, 256]")
    return vals


# --------------------------------------------------------------------------- sweep file


def sweep_names() -> list[str]:
    """The shipped sweeps: NAME for configs/sweep-NAME.yaml (`available` lists presets only)."""
    return sorted(p.stem[len("sweep-"):] for p in (project_root() / "configs").glob("sweep-*.yaml"))


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
        bad = [k for k in entry if k not in ("name", "encoding", "sigma", "sigmas", "set", "features", "widths")]
        if bad:
            raise UserError(f"{ew}: unknown key {bad[0]!r}; use name, sigmas, features, widths, set")
        name = entry.get("name", entry.get("encoding"))
        if name not in ENCODINGS:
            raise UserError(f"{ew}: encoding {name!r} is unknown; use one of {', '.join(ENCODINGS)}")
        features = _axis(entry.get("features", data.get("features")), "features", ew)
        if features is not None and name not in SIGMA_ENCODINGS:
            if "features" in entry:
                raise UserError(f"{ew}: {name} has no Fourier features to count; only gaussian and learned take features")
            features = None
        encodings.append({"name": name, "sigmas": _sigmas(entry, name, ew), "features": features or [None],
                          "widths": _axis(entry.get("widths", data.get("widths")), "widths", ew) or [None],
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


def automatic_base(scene_arg: str, layers: list[tuple[str, dict]], yaml_dir, scenes: dict) -> tuple[RunConfig, str]:
    """A sweep without a preset runs on `nerf-ff train`'s automatic defaults (autoconfig.py) for the
    scene kind and the device of the machine expanding the sweep (or the sweep's train.device): image
    size, model, grid, batch, time budget, depth loss; σ stays the sweep's axis. `scenes` caches the
    scene loaded (once per scene) to learn its kind and keypoints. Returns the config and the summary."""
    from ..autoconfig import auto_config, pick_downscale  # noqa: PLC0415
    from ..data import load_scene  # noqa: PLC0415

    cfg = compose(layers, yaml_dir).validate()
    picked = pick_downscale(layers, cfg)  # sets cfg.scene.downscale
    key = (scene_arg, cfg.scene.downscale)
    if key not in scenes:
        scenes[key] = load_scene(cfg.scene, splits=("train", "test"))
    return auto_config(layers, yaml_dir, scenes[key], pick_sigma=False, resolution=picked, sweep=True)


def build_run_config(scene_arg: str, presets: list[str], layers: list[tuple[dict, str]], encoding: str,
                     sigma: Optional[float], seed: int, vary_encoding_seed: bool = False,
                     n_features: Optional[int] = None, width: Optional[int] = None,
                     scenes: Optional[dict] = None, notes: Optional[dict] = None) -> RunConfig:
    """The RunConfig of one sweep cell: `nerf-ff train SCENE --config P...` plus the sweep's layers;
    with no preset, `nerf-ff train SCENE` (automatic defaults, `automatic_base`) plus the sweep's layers.
    `notes` collects the automatic summary line per scene."""
    base, yaml_dir = config_layers(scene_arg, presets=presets)
    if presets:
        cfg = compose(base, yaml_dir).validate()
        for layer, where in layers:
            cfg = apply_overrides(cfg, layer, where)
    else:
        cfg, summary = automatic_base(scene_arg, base + [(where, layer) for layer, where in layers if layer],
                                      yaml_dir, {} if scenes is None else scenes)
        if notes is not None:
            notes.setdefault(scene_arg, summary)
    identity = {"model": {"encoding": encoding}, "train": {"seed": seed}}
    if sigma is not None:
        identity["model"]["sigma"] = sigma
    if vary_encoding_seed:
        identity["model"]["encoding_seed"] = seed
    if n_features is not None:
        identity["model"]["n_features"] = n_features
    if width is not None:
        identity["model"]["width"] = width
    return apply_overrides(cfg, identity, where="sweep run").validate()


def parse_set_items(items: Optional[list[str]]) -> dict:
    """`--set model.width=128` strings → a layer (typed later by the config's coercion)."""
    return _layer(parse_set(items or []), "--set")


def expand(sweep: dict, where: str = "sweep", cli_set: Optional[dict] = None,
           automatic: Optional[dict] = None) -> list[RunSpec]:
    """Every run of the sweep, in file order: scene, encoding entry, σ, seed.

    A run whose config is invalid is kept with `config_error` set (recorded as failed, the others
    run); if every run is invalid the sweep itself is broken and a UserError is raised. `automatic`
    receives, per scene, the line saying what the automatic defaults picked (sweeps without a preset)."""
    runs: list[RunSpec] = []
    scenes: dict = {}  # scenes loaded for the automatic defaults (no preset), once each
    for scene_arg in sweep["scenes"]:
        for entry in sweep["encodings"]:
            name = entry["name"]
            layers = [(sweep["set"], f"{where}: set"),
                      (sweep["overrides"].get(name), f"{where}: overrides.{name}"),
                      (entry["set"], f"{where}: {name}.set"),
                      (cli_set or {}, "--set")]
            cells = [(s, m, w) for s in entry["sigmas"] for m in entry["features"] for w in entry["widths"]]
            for sigma, m, w in cells:
                for seed in sweep["seeds"]:
                    spec = RunSpec(id="", scene_arg=scene_arg, scene=_scene_stem(scene_arg), encoding=name,
                                   sigma=sigma, seed=seed, n_features=m, width=w)
                    try:
                        cfg = build_run_config(scene_arg, sweep["presets"], layers, name, sigma, seed,
                                               sweep["vary_encoding_seed"], m, w, scenes, automatic)
                        spec.config, spec.scene = cfg.to_dict(), cfg.scene.name
                    except UserError as exc:
                        spec.config_error = str(exc)
                    spec.id = run_id(spec.scene, name, sigma, seed, m, w)
                    runs.append(spec)
    ids = [r.id for r in runs]
    dup = next((i for i in ids if ids.count(i) > 1), None)
    if dup:
        raise UserError(f"{where}: two runs map to the folder {dup}; list each scene, encoding, sigma, m and width once "
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
            drift = config_drift(r, d)
            r.status = "changed" if drift else "done"
            if drift:
                r.notes.append(f"finished with another config than the sweep now gives: {drift}")
        elif (d / "checkpoint.pt").is_file():
            r.status = "resume"
            if drift := config_drift(r, d):
                r.notes.append(f"resumes with its own config.yaml, which differs from the sweep's: {drift}")
        else:
            r.status = "new"


def config_drift(r: RunSpec, d: Path) -> str:
    """The keys the sweep now sets differently from the run's config.yaml ("section.key old → new", ...), or ""."""
    try:
        old = load_yaml(d / "config.yaml")
    except UserError:
        return ""
    diff = [f"{s}.{k} {old[s][k]!r} → {v!r}" for s, sec in (r.config or {}).items() for k, v in sec.items()
            if isinstance(old.get(s), dict) and k in old[s] and old[s][k] != v]
    return ", ".join(diff[:3]) + (f" and {len(diff) - 3} more" if len(diff) > 3 else "")


def set_aside_changed(runs: list[RunSpec], root: Path) -> Optional[Path]:
    """Move the folders of finished runs whose config changed to ROOT/replaced/DATE/ID (kept, out of the
    report), so they train again with the sweep's config; the folder they went to, or None."""
    changed = [r for r in runs if r.status == "changed"]
    if not changed:
        return None
    dest = root / "replaced" / time.strftime("%Y%m%d-%H%M%S")
    for r in changed:
        (dest / r.id).parent.mkdir(parents=True, exist_ok=True)
        r.dir(root).rename(dest / r.id)
        r.status, r.notes = "new", []
    return dest


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
                  "encoding": r.encoding, "sigma": r.sigma, "seed": r.seed, "n_features": r.n_features,
                  "width": r.width, "status": r.status, "error": r.error,
                  "wall_seconds": r.wall_seconds, "cpu_seconds": r.cpu_seconds, "returncode": r.returncode,
                  "node": r.node,
                  "notes": r.notes, "command": ["nerf-ff"] + command(r, root) if not r.config_error else None}
                 for r in runs],
    }
    return write_json(root / MANIFEST, data)


def read_manifest(root: Path) -> Optional[dict]:
    path = Path(root) / MANIFEST
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


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
            r.wall_seconds, r.cpu_seconds = o.get("wall_seconds"), o.get("cpu_seconds")
            r.returncode, r.node = o.get("returncode"), o.get("node")
