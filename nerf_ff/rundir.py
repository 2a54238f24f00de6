"""What a run folder holds, and the checks before a command writes into one: never lose work, never leave
an earlier run's results beside a new one."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Optional

from .config import RunConfig, apply_overrides, compose, load_yaml
from .errors import UserError

# What `nerf-ff train`, `eval`, `render`, `export` and the demo write into a run folder (README "Outputs of a
# run"), plus the side evaluations metrics-*.json / eval-*/. camera_paths/ is the user's (saved in the
# viewer) and is kept.
OUTPUTS = ("config.yaml", "checkpoint.pt", "metrics.json", "log.csv", "sigma_search.json",
           "demo_views.png", "preview", "eval", "videos", "tensorboard", "export")
SIDE_OUTPUTS = ("metrics-*.json", "eval-*", ".*.partial")  # side evaluations; an interrupted write


def default_run_dir(cfg: RunConfig) -> Path:
    """runs/SCENE/ENCODING[-sSIGMA]: where `nerf-ff train` writes without --out."""
    m = cfg.model
    tag = m.encoding + (f"-s{m.sigma:g}" if m.encoding in ("gaussian", "learned") else "")
    return Path("runs") / cfg.scene.name / tag


def check_free(run_dir: Path) -> None:
    """A new training run may write into `run_dir`: nothing there is another run's checkpoint or results."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"--out {run_dir} is a file, not a folder; choose another --out")
    if (run_dir / "checkpoint.pt").exists():
        raise UserError(f"{run_dir} already holds a trained run; continue it with --resume --out {run_dir} "
                        f"or choose another --out")
    results = sorted(p.name for p in run_dir.glob("metrics*.json")) if run_dir.is_dir() else []
    if results:
        raise UserError(f"{run_dir} holds an earlier run's results ({', '.join(results)}; its checkpoint.pt is gone): "
                        f"a new run there would mix with them; choose another --out or move them away")


RESUME_MAY_CHANGE = ("steps", "time_budget", "device")  # train.*: how much longer, and where


def resume_config(run_dir: Path, layers: list[tuple[str, dict]], yaml_dir: Optional[Path]) -> RunConfig:
    """The config to continue the run in `run_dir` with: its config.yaml, with the train.steps /
    time_budget / device the command line gives. Anything else the command line sets (a scene, presets,
    flags, --set; `layers` as config.config_layers) must equal the run's: a change is refused, never
    ignored, so repeating the first command with --resume works and a different one says what differs."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise UserError(f"cannot resume: {run_dir} has no config.yaml; start the run without --resume")
    cfg = RunConfig.from_dict(load_yaml(path), where=str(path))
    old, new = cfg.to_dict(), compose(layers, yaml_dir).to_dict()
    changed, keep = [], {}
    for where, layer in layers:
        for section, values in layer.items():
            for key in (values if isinstance(values, dict) else {}):
                if where.startswith("scene ") and (section, key) not in (("scene", "name"), ("scene", "path")):
                    continue  # the same scene YAML: compare which dataset, not its defaults a flag may have changed
                if section == "train" and key in RESUME_MAY_CHANGE:
                    keep[key] = new["train"][key]
                elif new.get(section, {}).get(key) != old.get(section, {}).get(key):
                    changed.append(f"{section}.{key} {old.get(section, {}).get(key)!r} → {new[section][key]!r}")
    if changed:
        raise UserError(f"--resume continues {run_dir} as its config.yaml says, and this command line changes "
                        f"{', '.join(dict.fromkeys(changed))}: drop those flags (only --steps, --time-budget and "
                        "--device may change), or train a new run with another --out")
    return apply_overrides(cfg, {"train": keep}, where="command line").validate()


def is_demo_run(run_dir: Path) -> bool:
    """Whether `run_dir` holds a run of the built-in scene (what `nerf-ff demo` trains)."""
    try:
        cfg = load_yaml(Path(run_dir) / "config.yaml")
    except (OSError, UserError, ValueError):
        return False
    return isinstance(cfg, dict) and isinstance(cfg.get("scene"), dict) and cfg["scene"].get("name") == "builtin"


def prepare_demo(out: Path, force: bool) -> None:
    """Make `out` ready for the demo: absent or empty is fine; an earlier demo run is replaced with `force`
    (only the files a run writes are removed); anything else is refused."""
    out = Path(out)
    if not out.exists():
        return
    if not out.is_dir():
        raise UserError(f"--out {out} is a file, not a folder; choose another --out")
    if not any(out.iterdir()):
        return
    if not is_demo_run(out):
        raise UserError(f"{out} holds files that are not a demo run; the demo writes only into a new, empty or "
                        f"earlier demo folder: choose another --out")
    if not force:
        raise UserError(f"{out} already holds a demo run; pass --force to replace it or choose another --out")
    for name in OUTPUTS:
        _remove(out / name)
    for pattern in SIDE_OUTPUTS:
        for p in out.glob(pattern):
            _remove(p)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
