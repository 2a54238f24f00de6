"""What a run folder holds, and the checks before a command writes into one: never lose work, never leave
an earlier run's results beside a new one."""

from __future__ import annotations

import shutil
from pathlib import Path

from .config import load_yaml
from .errors import UserError

# What `nerf-ff train`, `eval`, `render`, `export` and the demo write into a run folder (README "Outputs of a
# run"), plus the side evaluations metrics-*.json / eval-*/. camera_paths/ is the user's (saved in the
# viewer) and is kept.
OUTPUTS = ("config.yaml", "checkpoint.pt", "metrics.json", "log.csv", "sigma_search.json",
           "demo_views.png", "preview", "eval", "videos", "tensorboard", "export")
SIDE_OUTPUTS = ("metrics-*.json", "eval-*", ".*.partial")  # side evaluations; an interrupted write


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
