"""Sweep report: many run folders → CSV, markdown tables, quality-vs-σ plots, contact sheets.

    SWEEP_DIR/runs.json (or every metrics.json under SWEEP_DIR)
        ─► collect() rows ─► runs.csv                      one row per run, failed ones included
                          ─► report.md                     per scene: mean ± std over seeds, best in bold
                          ─► quality_vs_sigma_<scene>.png  PSNR and LPIPS against σ (log axis)
                          ─► contact_<scene>.png           one crop of one test view, every embedding + GT
                          ─► quality_vs_cost_<scene>.png   PSNR vs render ms and vs m (report_cost.py)
                          ─► training_curves.png           training PSNR vs step of every run (log.csv)

σ is in cycles per scene box (the project's convention); the world-unit σ of a paper is
σ / box size and is written next to it everywhere. Runs are compared as metrics.json reports them:
same test views, background and LPIPS network (each table says which).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Optional

import numpy as np

from .errors import UserError
from .report_cost import plot_quality_vs_cost, plot_training_curves, pyplot

REPORT_DIR = "report"
ORDER = ("none", "basic", "posenc", "hashgrid", "gaussian", "learned")
CSV_FIELDS = ("scene", "encoding", "sigma", "sigma_world", "n_features", "width", "seed", "steps", "train_seconds",
              "psnr", "ssim", "lpips", "psnr_aligned", "params", "train_samples_per_s", "render_ms", "render_samples_per_ray",
              "peak_mem_mb", "status",
              "lpips_net", "n_views", "resolution", "wall_seconds", "cpu_seconds", "node", "run", "error")
COST_FIELDS = ("params", "train_samples_per_s", "render_ms", "render_samples_per_ray", "peak_mem_mb")


# --------------------------------------------------------------------------- collect


def _sigma_world(sigma: Optional[float], box: Optional[list]) -> Optional[float | str]:
    """σ / box size: one number for a cubic box, else 'x/y/z' (σ per world unit differs per axis)."""
    if sigma is None or not box:
        return None
    vals = [sigma / b for b in box]
    if max(vals) - min(vals) <= 1e-9 * max(vals):
        return round(vals[0], 6)
    return "/".join(f"{v:.4g}" for v in vals)


def _row_from_metrics(m: dict, run: Path) -> dict:
    cost = m.get("cost") or {}
    return {**{k: cost.get(k) for k in COST_FIELDS}, "width": cost.get("width"), "n_features": m.get("n_features"),
            "scene": m.get("scene"), "encoding": m.get("encoding"), "sigma": m.get("sigma"),
            "sigma_world": _sigma_world(m.get("sigma"), m.get("box_size")), "seed": m.get("seed"),
            "steps": m.get("steps"), "train_seconds": m.get("train_seconds"), "psnr": m.get("psnr"),
            "ssim": m.get("ssim"), "lpips": m.get("lpips"), "psnr_aligned": (m.get("aligned") or {}).get("psnr"),
            "status": "done", "lpips_net": m.get("lpips_net"),
            "n_views": m.get("n_views"), "resolution": "x".join(str(v) for v in m.get("resolution") or []),
            "run": str(run), "error": None, "_metrics": m, "_dir": run}


def collect(root: str | Path) -> list[dict]:
    """One row per run: from runs.json when present (failed and pending runs too), else every
    metrics.json found under `root`."""
    root = Path(root)
    rows = []
    manifest_path = root / "runs.json"
    if manifest_path.is_file():
        try:
            manifest = json.loads(manifest_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise UserError(f"{manifest_path} is unreadable ({exc}); delete it and rerun the sweep") from None
        for r in manifest.get("runs", []):
            d = Path(r["dir"])
            if not d.is_absolute() and not d.is_dir():
                d = root / r["id"]
            m = _read_metrics(d)
            timing = {"wall_seconds": r.get("wall_seconds"), "cpu_seconds": r.get("cpu_seconds"), "node": r.get("node")}
            if m is not None:
                rows.append({**_row_from_metrics(m, d), **timing})
                continue
            rows.append({"n_features": r.get("n_features"), "width": r.get("width"),
                         "scene": r["scene"], "encoding": r["encoding"], "sigma": r["sigma"], "sigma_world": None,
                         "seed": r["seed"], "steps": None, "train_seconds": None, "psnr": None, "ssim": None,
                         "lpips": None, "psnr_aligned": None, "status": r["status"], "lpips_net": None, "n_views": None,
                         "resolution": None, "run": str(d), "error": r.get("error"), "_metrics": None, "_dir": d,
                         **timing})
    else:
        for path in sorted(root.rglob("metrics.json")):
            m = _read_metrics(path.parent)
            if m is not None:
                rows.append(_row_from_metrics(m, path.parent))
    return rows


def _read_metrics(d: Path) -> Optional[dict]:
    try:
        return json.loads((d / "metrics.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _sort_key(row: dict):
    enc = row["encoding"]
    return (str(row["scene"]), ORDER.index(enc) if enc in ORDER else len(ORDER), row["sigma"] or 0.0,
            row.get("n_features") or 0, row.get("width") or 0, row["seed"] if row["seed"] is not None else -1)


def write_csv(rows: list[dict], path: Path) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(CSV_FIELDS), extrasaction="ignore")
        w.writeheader()
        for r in sorted(rows, key=_sort_key):
            w.writerow({k: ("" if r.get(k) is None else r[k]) for k in CSV_FIELDS})


# --------------------------------------------------------------------------- aggregate


def _stats(values: list) -> tuple[Optional[float], Optional[float]]:
    """Mean and sample standard deviation (ddof 1; None for a single value) of the non-missing values."""
    v = [x for x in values if x is not None and math.isfinite(x)]
    if not v:
        return None, None
    return float(np.mean(v)), (float(np.std(v, ddof=1)) if len(v) > 1 else None)


def aggregate(rows: list[dict]) -> dict:
    """{scene: [group]}; a group is one encoding / σ / m / width with its metrics over seeds (done runs only)."""
    out: dict = {}
    for scene in sorted({r["scene"] for r in rows}, key=str):
        groups: dict = {}
        for r in sorted((r for r in rows if r["scene"] == scene), key=_sort_key):
            groups.setdefault((r["encoding"], r["sigma"], r.get("n_features"), r.get("width")), []).append(r)
        out[scene] = []
        for (enc, sigma, n_features, width), rs in groups.items():
            done = [r for r in rs if r["status"] == "done"]
            g = {"encoding": enc, "sigma": sigma, "sigma_world": next((r["sigma_world"] for r in done), None),
                 "n_features": n_features, "width": width,
                 "n_runs": len(rs), "n_done": len(done), "seeds": [r["seed"] for r in done],
                 "not_done": [(r["seed"], r["status"], r["error"]) for r in rs if r["status"] != "done"]}
            for key in ("psnr", "ssim", "lpips", "psnr_aligned", "train_seconds", "steps") + COST_FIELDS:
                g[key], g[key + "_std"] = _stats([r.get(key) for r in done])
            out[scene].append(g)
        _mark_variants(out[scene])
    return out


def _mark_variants(groups: list[dict]) -> None:
    """Per encoding, the most common (m, width) is its main variant (the σ plot and best σ use it);
    where an encoding has several, each group's `variant` names its m / width ('' for the main one)."""
    for enc in {g["encoding"] for g in groups}:
        gs = [g for g in groups if g["encoding"] == enc]
        keys = [(g["n_features"], g["width"]) for g in gs]
        main = max(set(keys), key=keys.count)
        for g in gs:
            g["main"] = (g["n_features"], g["width"]) == main
            parts = ([f"m={g['n_features']}"] if len({k[0] for k in keys}) > 1 else []) + \
                    ([f"width {g['width']}"] if len({k[1] for k in keys}) > 1 else [])
            g["variant"] = " ".join(parts)


def best_sigmas(groups: list[dict]) -> dict:
    """Per σ-encoding (gaussian, learned): the σ of the highest mean PSNR."""
    best = {}
    for enc in ("gaussian", "learned"):
        cand = [g for g in groups if g["encoding"] == enc and g["psnr"] is not None and g.get("main", True)]
        if cand:
            b = max(cand, key=lambda g: g["psnr"])
            best[enc] = {"sigma": b["sigma"], "sigma_world": b["sigma_world"], "psnr": b["psnr"],
                         "n_sigmas": len(cand), "at_edge": b["sigma"] in (min(g["sigma"] for g in cand),
                                                                           max(g["sigma"] for g in cand))}
    return best


# --------------------------------------------------------------------------- markdown


def _fmt(mean, std, digits):
    if mean is None:
        return "—"
    return f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if std is not None else "")


def _label(enc: str, sigma) -> str:
    return f"{enc} σ={sigma:g}" if sigma is not None else enc


def scene_context(rows: list[dict], scene) -> dict:
    """Evaluation facts shared by a scene's done runs (from one metrics.json)."""
    m = next((r["_metrics"] for r in rows if r["scene"] == scene and r["_metrics"]), None) or {}
    box = m.get("box_size")
    return {"resolution": m.get("resolution"), "n_views": m.get("n_views"), "background": m.get("eval_background"),
            "lpips_net": m.get("lpips_net"), "lpips_note": m.get("lpips_note"), "box": box,
            "cubic": bool(box) and max(box) - min(box) <= 1e-9 * max(box), "split": m.get("split"),
            "sampler": m.get("sampler"), "device": (m.get("device") or {}).get("device")
            if isinstance(m.get("device"), dict) else m.get("device")}


def markdown(rows: list[dict], agg: dict) -> str:
    lines = ["# Sweep report", "",
             "σ is in cycles per scene box (features sin/cos(2π·B·x01) of the box-normalised position); "
             "a paper's σ in world units is σ / box size (the σ world column). Values are mean ± sample "
             "standard deviation over seeds (no ± with one seed). Best value per column in bold.", ""]
    for scene, groups in agg.items():
        ctx = scene_context(rows, scene)
        box = ctx["box"]
        res = "x".join(str(v) for v in ctx["resolution"] or []) or "?"
        lp = f"LPIPS {ctx['lpips_net']}" if ctx["lpips_net"] else f"LPIPS n/a ({ctx['lpips_note'] or 'off'})"
        facts = (f"{ctx['n_views']} {ctx['split'] or 'test'} views at {res}, evaluation background "
                 f"{ctx['background']}, {lp}; sampler {ctx['sampler']}; scene box "
                 f"{'x'.join(f'{b:g}' for b in box)} world units." if box else "No finished runs yet.")
        scored = (("psnr", 2), ("ssim", 4), ("lpips", 4))
        aligned = any(g["psnr_aligned"] is not None for g in groups)  # runs evaluated with eval --align
        scored += (("psnr_aligned", 2),) if aligned else ()
        lines += [f"## {scene}", "", facts, "",
                  "| encoding | σ (box) | σ (world) | seeds | steps | train s | PSNR ↑ | SSIM ↑ | LPIPS ↓ "
                  + ("| PSNR aligned ↑ " if aligned else "") + "| params | render ms | samples/ray |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if aligned else "")]
        best = {k: (max if k != "lpips" else min)([g[k] for g in groups if g[k] is not None], default=None)
                for k, _ in scored}
        for g in groups:
            cells = []
            for key, digits in scored:
                s = _fmt(g[key], g[key + "_std"], digits)
                cells.append(f"**{s}**" if g[key] is not None and g[key] == best[key] else s)
            sigma = "" if g["sigma"] is None else f"{g['sigma']:g}"
            sw = g["sigma_world"]
            sw = "" if sw is None else (f"{sw:.4g}" if isinstance(sw, float) else sw)
            steps = "" if g["steps"] is None else f"{g['steps']:.0f}"
            secs = "" if g["train_seconds"] is None else f"{g['train_seconds']:.0f}"
            params = "" if g["params"] is None else f"{g['params'] / 1e3:.0f}k"
            ms = "" if g["render_ms"] is None else f"{g['render_ms']:.0f}"
            spr = "" if g["render_samples_per_ray"] is None else f"{g['render_samples_per_ray']:.1f}"
            enc = g["encoding"] + (f" {g['variant']}" if g.get("variant") else "")
            lines.append(f"| {enc} | {sigma} | {sw} | {g['n_done']}/{g['n_runs']} | {steps} | {secs} | "
                         + " | ".join(cells) + f" | {params} | {ms} | {spr} |")
        lines.append("")
        for enc, b in best_sigmas(groups).items():
            edge = (" — at the edge of the swept range: the optimum may lie outside it" if b["at_edge"]
                    and b["n_sigmas"] > 2 else "")
            sw = b["sigma_world"]
            sw_s = f"{sw:.4g}" if isinstance(sw, float) else str(sw)
            lines.append(f"Best {enc} σ: **{b['sigma']:g}** cycles per box ({sw_s} per world unit), "
                         f"PSNR {b['psnr']:.2f} dB over {b['n_sigmas']} σ values{edge}.")
        problems = [(g, s, st, e) for g in groups for (s, st, e) in g["not_done"]]
        if problems:
            lines += ["", "Runs without results:", ""]
            lines += [f"- {_label(g['encoding'], g['sigma'])} seed {s}: {st}" + (f" — {e}" if e else "")
                      for g, s, st, e in problems]
        lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------- plots


def plot_quality_vs_sigma(scene, groups: list[dict], ctx: dict, path: Path) -> Optional[Path]:
    """PSNR (and LPIPS when measured) against σ on a log axis: σ-encodings as lines with error bars
    (std over seeds), the others as horizontal lines; world-unit σ on the top axis."""
    metrics = [("psnr", "PSNR (dB) ↑")] + ([("lpips", f"LPIPS-{ctx['lpips_net']} ↓")]
                                          if any(g["lpips"] is not None for g in groups) else [])
    if not any(g["psnr"] is not None for g in groups):
        return None
    groups = [g for g in groups if g.get("main", True)]  # one m / width per encoding (report_cost plots m)
    plt = pyplot()
    fig, axes = plt.subplots(1, len(metrics), figsize=(6.4 * len(metrics), 4.6), squeeze=False)
    sig = [g["sigma"] for g in groups if g["sigma"] is not None and g["psnr"] is not None]
    lo, hi = (min(sig), max(sig)) if sig else (1.0, 100.0)
    lo, hi = (lo / 1.5, hi * 1.5) if hi > lo else (lo / 4, hi * 4)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    box = ctx["box"]
    for ax, (key, ylabel) in zip(axes[0], metrics):
        ci = 0
        for enc in ORDER:
            gs = [g for g in groups if g["encoding"] == enc and g[key] is not None]
            if not gs:
                continue
            colour = colours[ci % len(colours)]
            ci += 1
            if enc in ("gaussian", "learned"):
                gs = sorted(gs, key=lambda g: g["sigma"])
                xs, ys = [g["sigma"] for g in gs], [g[key] for g in gs]
                err = [g[key + "_std"] or 0.0 for g in gs]
                ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, color=colour, label=f"{enc} (σ on x)")
                b = (max if key == "psnr" else min)(gs, key=lambda g: g[key])
                ax.plot([b["sigma"]], [b[key]], marker="*", markersize=14, color=colour, zorder=5)
            else:
                g = gs[0]
                ax.axhline(g[key], color=colour, linestyle="--", label=enc)
                if g[key + "_std"]:
                    ax.axhspan(g[key] - g[key + "_std"], g[key] + g[key + "_std"], color=colour, alpha=0.12)
        ax.set_xscale("log")
        ax.set_xlim(lo, hi)
        ax.set_xlabel("σ (cycles per scene box)")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        if box and ctx["cubic"]:
            size = box[0]
            top = ax.secondary_xaxis("top", functions=(lambda s, k=size: s / k, lambda w, k=size: w * k))
            top.set_xlabel(f"σ (cycles per world unit = σ_box / {size:g})")
        elif box:
            ax.set_title("box not cubic: world σ = σ_box / box size differs per axis", fontsize=8)
        ax.legend(fontsize=8)
    res = "x".join(str(v) for v in ctx["resolution"] or [])
    fig.suptitle(f"{scene}: quality vs σ ({ctx['n_views']} test views, {res}; ★ best)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------- contact sheet


def _crop_box(gt: np.ndarray, size: int) -> tuple[int, int]:
    """Top-left (y, x) of the size×size window with the most image gradient (the most detail)."""
    g = gt.astype(np.float64).mean(-1)
    mag = np.zeros_like(g)
    mag[:-1, :] += np.abs(np.diff(g, axis=0))
    mag[:, :-1] += np.abs(np.diff(g, axis=1))
    ii = np.pad(mag.cumsum(0).cumsum(1), ((1, 0), (1, 0)))  # integral image
    H, W = g.shape
    sums = ii[size:H + 1, size:W + 1] - ii[:H - size + 1, size:W + 1] - ii[size:H + 1, :W - size + 1] \
        + ii[:H - size + 1, :W - size + 1]
    y, x = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return int(y), int(x)


def load_ground_truth(run_dir: Path, split: str = "test"):
    """The scene of a run, loaded once: (split data, background [3]) for composing GT views."""
    from .config import RunConfig, load_yaml  # noqa: PLC0415
    from .data import load_scene  # noqa: PLC0415

    cfg = RunConfig.from_dict(load_yaml(run_dir / "config.yaml"), where=str(run_dir / "config.yaml"))
    scene = load_scene(cfg.scene, splits=[split])
    return scene.splits[split], scene.background.float()


def contact_sheet(scene, rows: list[dict], path: Path, gt_loader=load_ground_truth) -> Optional[dict]:
    """The same crop of one test view for every encoding / σ (lowest seed), beside the ground truth.

    The view is the first one every run rendered (eval/NNN.png); the crop is the window of the
    ground truth with the most detail. Returns {"path", "view", "crop"} or None without images."""
    import imageio.v3 as iio  # noqa: PLC0415

    done = [r for r in rows if r["scene"] == scene and r["status"] == "done" and r["_dir"] is not None]
    panels: dict = {}
    for r in sorted(done, key=_sort_key):
        panels.setdefault((r["encoding"], r["sigma"]), r)  # lowest seed first
    panels = {k: r for k, r in panels.items() if any((r["_dir"] / "eval").glob("[0-9][0-9][0-9].png"))}
    if not panels:
        return None
    common = set.intersection(*[{int(p.stem) for p in (r["_dir"] / "eval").glob("[0-9][0-9][0-9].png")}
                                for r in panels.values()])
    if not common:
        return None
    view = min(common)
    first = next(iter(panels.values()))
    split = first["_metrics"].get("split") or "test"
    data, background = gt_loader(first["_dir"], split)
    from .evaluate import composite_gt, to_u8  # noqa: PLC0415

    gt = to_u8(composite_gt(data.view(view)[0], background))  # [H, W, 3] uint8, the view's own size
    H, W = gt.shape[:2]
    size = max(8, min(H, W) // 2)
    y, x = _crop_box(gt, size)
    crop = (slice(y, y + size), slice(x, x + size))
    tiles = [("ground truth (full)", gt, None), ("ground truth", gt[crop], None)]
    for (enc, sigma), r in panels.items():
        img = iio.imread(r["_dir"] / "eval" / f"{view:03d}.png")[..., :3]
        if img.shape[:2] != (H, W):
            continue  # a run at another resolution cannot share the crop
        pv = next((v for v in r["_metrics"].get("per_view", []) if v.get("view") == view), {})
        tiles.append((_label(enc, sigma), img[crop], pv.get("psnr")))
    plt = pyplot()
    cols = min(6, len(tiles))
    nrows = math.ceil(len(tiles) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(2.3 * cols, 2.9 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (title, img, p) in zip(axes.flat, tiles):
        ax.imshow(img, interpolation="nearest")
        ax.set_title(title + (f"\n{p:.2f} dB (view)" if p is not None else ""), fontsize=8)
    axes.flat[0].add_patch(plt.Rectangle((x - 0.5, y - 0.5), size, size, fill=False, edgecolor="red", linewidth=1.5))
    name = data.names[view] if view < len(data.names) else str(view)
    fig.suptitle(f"{scene}: test view {view} ({name}), crop {size}x{size} at x={x}, y={y} (red box); seed "
                 f"{min(r['seed'] for r in panels.values())}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return {"path": path, "view": view, "crop": [x, y, size]}


# --------------------------------------------------------------------------- all of it


def write_report(root: str | Path, figures: bool = True) -> dict:
    """Write SWEEP_DIR/report/{runs.csv, report.md, quality_vs_sigma_*.png, contact_*.png}.

    Works on a finished or partial sweep. Returns the paths and the best σ per scene."""
    root = Path(root)
    rows = collect(root)
    out = root / REPORT_DIR
    out.mkdir(parents=True, exist_ok=True)
    write_csv(rows, out / "runs.csv")
    agg = aggregate(rows)
    summary = {"csv": out / "runs.csv", "markdown": out / "report.md", "plots": [], "contact_sheets": [],
               "best": {}, "n_runs": len(rows), "n_done": sum(r["status"] == "done" for r in rows)}
    text = markdown(rows, agg)
    for scene, groups in agg.items():
        summary["best"][scene] = best_sigmas(groups)
        if not figures:
            continue
        ctx = scene_context(rows, scene)
        p = plot_quality_vs_sigma(scene, groups, ctx, out / f"quality_vs_sigma_{scene}.png")
        if p:
            summary["plots"].append(p)
        try:
            sheet = contact_sheet(scene, rows, out / f"contact_{scene}.png")
        except UserError as exc:  # the scene's data moved: the rest of the report still stands
            sheet, text = None, text + f"\nContact sheet for {scene} skipped: {exc}\n"
        if sheet:
            summary["contact_sheets"].append(sheet["path"])
        p = plot_quality_vs_cost(scene, rows, out / f"quality_vs_cost_{scene}.png")
        if p:
            summary["plots"].append(p)
    if figures:
        p = plot_training_curves(rows, out / "training_curves.png")
        if p:
            summary["plots"].append(p)
    figs = [f"![{p.stem}]({p.name})" for p in summary["plots"] + summary["contact_sheets"]]
    (out / "report.md").write_text(text + ("\n" + "\n\n".join(figs) + "\n" if figs else ""))
    return summary
