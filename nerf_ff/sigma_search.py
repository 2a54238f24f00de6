"""`--sigma auto`: choose the Gaussian scale sigma by a short validation sweep before the real run.

Method
    1. Validation views: every `val_every`-th view of the TRAINING split (0, 8, 16, ...) is held
       out; the trials train on the others. The test split is never read.
    2. Trials: a run with the real run's settings, shortened to `fraction` of its steps (and of its
       time budget, when it has one); the learning-rate schedule is compressed to that length. Every
       trial uses the same training seed and the same unit Gaussian draw (model.encoding_seed), so
       trials differ only in sigma.
    3. Score: mean PSNR over the validation views (at most `max_val_views`, evenly spaced), rendered
       over the scene's evaluation background exactly as `nerf-ff eval` renders test views.
    4. Search: the coarse geometric grid (default 1, 2, 4, ..., 64 cycles per box, in ascending order,
       stopping early once 2 sigmas in a row score more than 3 dB below the best so far), then
       `refine_steps` golden-section probes on log sigma inside the bracket formed by the best grid
       sigma and its two neighbours (one neighbour at the grid's edge); each probe splits the wider
       side of the bracket at the golden ratio and the bracket shrinks around the best point seen.
       Probed sigmas are rounded to 3 significant digits.
    5. The best validation PSNR wins; the real run then trains from scratch on all training views.

Cost: at most (len(grid) + refine_steps) * fraction of the run, 0.9 x the run's training time at the
defaults, plus rendering the validation views once per trial, less whatever the early stop skips.
On the CPU demo (2026-11-23, BENCHMARKS.md) the search ran 9 trials in 211 s before the early stop
existed (with it, the same scores would have stopped the grid after sigma 8: 6 trials) and chose sigma 2, the argmax of the full-length built-in sweep; the run then
reached 30.94 dB. Short trials favour sigmas that converge fast, so they lean towards a smaller sigma
than a full-length sweep would pick; for a short final run that is the right bias.

The whole search (sigmas, scores, seconds per trial) is written to RUN_DIR/sigma_search.json as it
progresses, and summarised under "sigma_search" in metrics.json.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from .config import RunConfig, apply_overrides
from .data.scene import SceneData, Split
from .errors import UserError
from .files import write_json
from .evaluate import composite_gt
from .metrics import psnr
from .render import eval_background, render_image
from .trainer import Trainer

SEARCHABLE = ("gaussian", "learned")
GOLDEN = (3 - math.sqrt(5)) / 2  # 0.382: the golden-section split of a bracket


@dataclass
class SigmaSearch:
    """Options of the search; the defaults are what `--sigma auto` uses."""

    grid: tuple = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
    """Coarse sigmas, cycles per scene box, ascending."""
    stop_after: int = 2
    stop_drop_db: float = 3.0
    """The grid stops early once `stop_after` consecutive sigmas score `stop_drop_db` below the best so
    far: past the peak the noise only grows (0 turns this off)."""
    refine_steps: int = 2
    """Golden-section probes on log sigma around the best grid sigma (0: the grid only)."""
    fraction: float = 0.1
    """Each trial's steps (and time budget, if the run has one) as a fraction of the run's."""
    val_every: int = 8
    """Every N-th training view (0, N, 2N, ...) is held out for validation."""
    max_val_views: int = 8
    """Score at most this many of the held-out views (evenly spaced)."""

    def validate(self) -> "SigmaSearch":
        if not self.grid or any(not (s > 0) for s in self.grid) or list(self.grid) != sorted(set(self.grid)):
            raise UserError(f"sigma search grid {list(self.grid)} must be distinct positive sigmas in ascending order")
        if (not 0 < self.fraction <= 1 or self.refine_steps < 0 or self.val_every < 2 or self.max_val_views < 1
                or self.stop_after < 0 or self.stop_drop_db < 0):
            raise UserError("sigma search options: fraction must be in (0, 1], refine_steps, stop_after and "
                            "stop_drop_db >= 0, val_every >= 2 and max_val_views >= 1")
        return self


def check_searchable(cfg: RunConfig) -> None:
    """--sigma auto only makes sense where sigma is a parameter of the embedding."""
    if cfg.model.encoding not in SEARCHABLE:
        raise UserError(f"--sigma auto needs --encoding gaussian or learned (sigma scales only those), "
                        f"not {cfg.model.encoding}; give a number or change the encoding")


def validation_split(scene: SceneData, every: int) -> tuple[SceneData, list[int]]:
    """The scene the trials see: train = training views minus every `every`-th, val = those.

    The returned scene has no test split, so a trial cannot read it. Returns (scene, val indices)."""
    train = scene.train
    n = len(train)
    if n < 2:
        raise UserError(f"--sigma auto needs at least 2 training views to hold one out; scene {scene.name} has {n}")
    val_idx = list(range(0, n, every))
    fit_idx = [i for i in range(n) if i % every != 0]

    sub = dataclasses.replace(scene, splits={"train": train.subset(fit_idx), "val": train.subset(val_idx)},
                              split_note=f"sigma search: every {every}-th training view held out for validation")
    return sub, val_idx


@torch.no_grad()
def validation_psnr(trainer: Trainer, val: Split, background: torch.Tensor, max_views: int, chunk: int) -> float:
    """Mean PSNR of the trained model over (at most `max_views` evenly spaced) validation views."""
    model = trainer.model.eval()
    views = list(range(len(val)))
    if len(views) > max_views:
        views = [int(round(i)) for i in np.linspace(0, len(views) - 1, max_views)]
    device = model.field.aabb.device
    scores = []
    for i in views:
        out = render_image(model.field, model.sampler, val.cameras, i,
                           eval_background(model.field, background.to(device), not val.has_alpha), chunk=chunk,
                           amp=trainer.amp)
        image, used = val.view(i)  # masked-out pixels: not scored
        used = None if used is None else used.to(out["rgb"].device)
        scores.append(psnr(out["rgb"], composite_gt(image, background).to(out["rgb"].device), used))
    return float(np.mean(scores))


def scan_grid(f: Callable[[float], float], grid: list[float], stop_after: int,
              drop_db: float) -> tuple[list[float], list[float]]:
    """Score the ascending grid in order; stop once the last `stop_after` scores (stop_after >= 1) are all
    more than `drop_db` below the best so far. Returns (the sigmas scored, their scores)."""
    scores: list[float] = []
    for sigma in grid:
        scores.append(f(sigma))
        best = max(scores)
        tail = scores[-stop_after:] if stop_after else []
        if stop_after and len(scores) > stop_after and best > -math.inf and all(v < best - drop_db for v in tail):
            break
    return grid[:len(scores)], scores


def refine_log_golden(f: Callable[[float], float], grid: list[float], grid_scores: list[float],
                      steps: int) -> tuple[float, float]:
    """Golden-section maximisation of f over log sigma, started from a scored ascending grid.

    The bracket (a, x, b) is the best grid point x and its neighbours (x itself at the grid's edge).
    Each step probes the wider side at the golden split; a better probe becomes the new x, a worse one
    a new bracket end. Returns (sigma, score) of the best point seen."""
    best = int(np.argmax(grid_scores))
    a = math.log(grid[max(best - 1, 0)])
    b = math.log(grid[min(best + 1, len(grid) - 1)])
    x, fx = math.log(grid[best]), grid_scores[best]
    for _ in range(steps if b > a else 0):
        u = x + GOLDEN * (b - x) if b - x >= x - a else x - GOLDEN * (x - a)
        fu = f(math.exp(u))
        if fu > fx:  # the bracket re-centres on u
            a, b = (x, b) if u > x else (a, x)
            x, fx = u, fu
        else:  # u becomes the bracket's end on its side
            a, b = (a, u) if u > x else (u, b)
    return math.exp(x), fx


def _round_sigma(s: float) -> float:
    return float(f"{s:.3g}")


def search_sigma(cfg: RunConfig, scene: SceneData, run_dir: str | Path, options: Optional[SigmaSearch] = None,
                 log: Optional[Callable[[str], None]] = None) -> dict:
    """Run the search for `cfg` on `scene` (see the module docstring); write run_dir/sigma_search.json.

    Returns the record: chosen_sigma, trials [{sigma, phase, val_psnr, train_psnr, steps, seconds}],
    and the sigmas / scores / seconds lists in trial order."""
    check_searchable(cfg)
    opts = (options or SigmaSearch()).validate()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    log = log or (lambda message: None)
    sub, val_idx = validation_split(scene, opts.val_every)
    t = cfg.train
    trial_steps = max(1, round(opts.fraction * t.steps))
    trial_budget = opts.fraction * t.time_budget if t.time_budget else None
    record = {
        "method": f"hold out every {opts.val_every}-th training view; train up to {len(opts.grid)} grid sigmas "
                  f"(stopping after {opts.stop_after} in a row score {opts.stop_drop_db:g} dB below the best) and "
                  f"{opts.refine_steps} golden-section refinements on log sigma, each for {opts.fraction:g} of the "
                  f"run; keep the best mean validation PSNR",
        "encoding": cfg.model.encoding,
        "options": dataclasses.asdict(opts),
        "val_views": val_idx,
        "n_fit_views": len(sub.train),
        "trial_steps": trial_steps,
        "trial_time_budget": trial_budget,
        "trials": [],
        "complete": False,
    }
    path = run_dir / "sigma_search.json"
    scores: dict[float, float] = {}
    t_start = time.perf_counter()

    def evaluate_sigma(sigma: float, phase: str) -> float:
        sigma = _round_sigma(sigma)
        if sigma in scores:
            return scores[sigma]
        trial_cfg = apply_overrides(cfg, {"model": {"sigma": sigma},
                                          "train": {"steps": trial_steps, "time_budget": trial_budget,
                                                    "checkpoint_every": trial_steps + 1}},
                                    where="sigma search").validate()
        t0 = time.perf_counter()
        entry = {"sigma": sigma, "phase": phase}
        with tempfile.TemporaryDirectory(prefix="sigma-trial-") as tmp:
            trainer = Trainer(trial_cfg, sub, Path(tmp), progress=False)
            try:
                summary = trainer.fit()
            except UserError as exc:  # diverged: the worst possible score, and say why
                summary, entry["error"] = None, str(exc)
            if summary is not None and summary["stopped"] in ("SIGINT", "SIGTERM"):
                raise KeyboardInterrupt
            if summary is not None:
                entry["val_psnr"] = validation_psnr(trainer, trainer.model.posed(sub).splits["val"], sub.background,
                                                    opts.max_val_views, cfg.eval.chunk)
                entry["train_psnr"] = summary["train_psnr"]
                entry["steps"] = summary["steps"]
            del trainer
        entry["seconds"] = round(time.perf_counter() - t0, 2)
        score = entry.get("val_psnr", -math.inf)
        scores[sigma] = score
        record["trials"].append(entry)
        write_json(path, record)  # partial record: a long search can be watched
        log(f"sigma search: sigma {sigma:g} ({phase}) → validation PSNR "
            f"{score:.2f} dB in {entry['seconds']:.1f} s" if "val_psnr" in entry
            else f"sigma search: sigma {sigma:g} ({phase}) failed: {entry['error']}")
        return score

    log(f"sigma search: {len(sub.train)} fit / {len(val_idx)} validation views (from the training split), "
        f"{trial_steps} steps per trial{f' or {trial_budget:.0f} s' if trial_budget else ''}")
    full_grid = [_round_sigma(s) for s in opts.grid]
    grid, grid_scores = scan_grid(lambda sigma: evaluate_sigma(sigma, "grid"), full_grid, opts.stop_after,
                                  opts.stop_drop_db)
    if len(grid) < len(full_grid):
        log(f"sigma search: stopped the grid at sigma {grid[-1]:g}: the last {opts.stop_after} scores are more than "
            f"{opts.stop_drop_db:g} dB below the best; skipping {', '.join(f'{v:g}' for v in full_grid[len(grid):])}")
    if all(s == -math.inf for s in grid_scores):
        raise UserError(f"sigma search: every trial diverged ({record['trials'][0]['error']}); lower train.lr")
    refine_log_golden(lambda sigma: evaluate_sigma(sigma, "refine"), grid, grid_scores, opts.refine_steps)

    chosen = max(scores, key=lambda s: scores[s])
    total = time.perf_counter() - t_start
    done = record["trials"]
    record.update({
        "chosen_sigma": chosen,
        "chosen_val_psnr": scores[chosen],
        "at_grid_edge": len(grid) > 1 and chosen in (grid[0], grid[-1]),
        "sigmas": [e["sigma"] for e in done],
        "scores": [e.get("val_psnr") for e in done],
        "seconds": [e["seconds"] for e in done],
        "total_seconds": round(total, 2),
        "complete": True,
    })
    write_json(path, record)
    note = " (at the edge of the grid: the best sigma may lie beyond it)" if record["at_grid_edge"] else ""
    log(f"sigma search: chose sigma {chosen:g} (validation PSNR {scores[chosen]:.2f} dB) "
        f"after {len(done)} trials in {total:.0f} s{note}")
    return record


def record_in_metrics(run_dir: str | Path, record: dict) -> None:
    """Add the search summary to an existing RUN_DIR/metrics.json."""
    path = Path(run_dir) / "metrics.json"
    metrics = json.loads(path.read_text())
    metrics["sigma_search"] = {k: record[k] for k in ("chosen_sigma", "chosen_val_psnr", "sigmas", "scores",
                                                      "seconds", "total_seconds", "trial_steps", "val_views",
                                                      "at_grid_edge", "method")}
    write_json(path, metrics)
