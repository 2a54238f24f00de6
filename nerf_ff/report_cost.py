"""Sweep report figures about cost and training: what an embedding costs next to what it scores.

    quality_vs_cost_<scene>.png   PSNR against render time per frame (one line per encoding) and
                                  PSNR against m, the number of Fourier features (one line per σ)
    training_curves.png           training PSNR against step of every run with a log.csv

Cost comes from each run's metrics.json `cost` block (evaluate.py): parameters, training samples per
second, milliseconds per rendered frame (at the size it names), peak memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from .trainlog import read_log


def pyplot():
    """matplotlib.pyplot on the Agg backend (figures to files, no display needed)."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt


def cost_of(row: dict, key: str):
    m = row.get("_metrics") or {}
    return (m.get("cost") or {}).get(key)


def plot_quality_vs_cost(scene, rows: list[dict], path: Path) -> Optional[Path]:
    """PSNR vs ms per rendered frame, and PSNR vs m; None when the runs carry no cost figures."""
    done = [r for r in rows if r["scene"] == scene and r["status"] == "done" and r.get("psnr") is not None
            and cost_of(r, "render_ms") is not None]
    if not done:
        return None
    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    encodings = sorted({r["encoding"] for r in done})
    colours = {enc: f"C{i}" for i, enc in enumerate(encodings)}
    for enc in encodings:
        # One colour per encoding; a line joins runs that differ only in cost (m, width) at one σ,
        # runs at other σ are points labelled with their σ (a noisier field also renders slower:
        # it leaves less empty space to skip).
        groups: dict = {}
        for r in done:
            if r["encoding"] == enc:
                groups.setdefault(r["sigma"], []).append(r)
        for k, (sigma, runs) in enumerate(sorted(groups.items(), key=lambda kv: kv[0] or 0)):
            pts = sorted((cost_of(r, "render_ms"), r["psnr"], (r.get("_metrics") or {}).get("n_features"))
                         for r in runs)
            ax1.plot([p[0] for p in pts], [p[1] for p in pts], "o-" if len(pts) > 1 else "o", color=colours[enc],
                     label=enc if k == 0 else None)
            for ms, psnr, m in pts:
                if sigma is not None:
                    text = f"σ{sigma:g}" + (f" m{m}" if len(pts) > 1 and m else "")
                    ax1.annotate(text, (ms, psnr), textcoords="offset points", xytext=(4, 3), fontsize=6,
                                 color=colours[enc])
    res = cost_of(done[0], "render_resolution")
    ax1.set_xscale("log")
    ax1.set_xlabel(f"render time per frame, ms ({res[0]}x{res[1]})" if res else "render time per frame, ms")
    ax1.set_ylabel("test PSNR (dB)")
    ax1.set_title(f"{scene}: quality vs render cost")
    ax1.grid(True, alpha=0.3)
    ax1.legend(fontsize=8)
    with_m = [r for r in done if (r.get("_metrics") or {}).get("n_features")]
    series: dict = {}
    for r in with_m:
        series.setdefault((r["encoding"], r["sigma"]), []).append((r["_metrics"]["n_features"], r["psnr"]))
    series = {k: v for k, v in series.items() if len({m for m, _ in v}) > 1}  # only σ swept over m
    for (enc, sigma), pts in sorted(series.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        pts = sorted(pts)
        ax2.plot([p[0] for p in pts], [p[1] for p in pts], "o-" if len(pts) > 1 else "o",
                 label=f"{enc} σ={sigma:g}" if sigma is not None else enc)
    for r in done:  # embeddings without m: their PSNR as a reference line
        if r not in with_m:
            ax2.axhline(r["psnr"], ls="--", lw=0.8, color="grey")
            ax2.annotate(r["encoding"], (1.0, r["psnr"]), xycoords=("axes fraction", "data"), fontsize=7,
                         ha="right", va="bottom", color="grey")
    ax2.set_xscale("log", base=2)
    ax2.set_xlabel("m, number of Fourier features")
    ax2.set_ylabel("test PSNR (dB)")
    ax2.set_title("quality vs number of features")
    ax2.grid(True, alpha=0.3)
    if series:
        ax2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_training_curves(rows: list[dict], path: Path) -> Optional[Path]:
    """Training PSNR (EMA of the loss) against step, one line per run that logged; None if none did."""
    logs = []
    for r in rows:
        log = read_log(Path(r["_dir"])) if r.get("_dir") else None
        if log:
            label = Path(r["_dir"]).relative_to(Path(r["_dir"]).parents[2]).as_posix() if len(
                Path(r["_dir"]).parents) > 2 else str(r["_dir"])
            logs.append((label, log))
    if not logs:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    cmap = plt.get_cmap("tab20" if len(logs) > 10 else "tab10")
    for i, (label, log) in enumerate(logs):
        pts = [(e["step"], e["psnr"]) for e in log if e.get("psnr") is not None]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], lw=1.2, label=label, color=cmap(i % cmap.N),
                ls="-" if i < 20 else "--")
    ax.set_xlabel("step")
    ax.set_ylabel("training PSNR (dB, EMA of the batch loss)")
    ax.set_title("training curves")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
