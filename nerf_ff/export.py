"""Geometry out of a trained field: `nerf-ff export RUN_DIR --points | --mesh`.

    points: training cameras ──render_image──► depth (median: the surface), colour, opacity per pixel
            ──keep opaque pixels inside the bounds──► o + depth·d, rendered colour ──► PLY
    mesh:   density on a regular grid over the bounds (padded by one empty layer, so the surface
            closes) ──marching tetrahedra (marching.py) at σ = threshold──► triangles
            ──colour at each vertex, seen along the density gradient (from outside)──► PLY / OBJ

Bounds default to the scene box (objects) or the region of interest (captured, unbounded scenes:
the contraction squashes what lies beyond, so a mesh there would be coarse). The threshold is a
density (per world unit): a ray crossing one grid cell of density σ loses 1 - exp(-σ·cell) of its
light; the default, half the light within one cell (σ = ln 2 / cell), is free of the scene's scale.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from .data.cameras import image_rays
from .depth import parse_depth
from .errors import UserError
from .evaluate import load_run
from .geometry_files import SUFFIXES, write_mesh, write_ply
from .marching import boundary_edges, marching_tetrahedra
from .render import eval_background, render_image


def _bar(total: int, desc: str, progress: bool):
    from tqdm import tqdm  # noqa: PLC0415

    return tqdm(total=total, desc=desc, unit="", disable=not progress, dynamic_ncols=True, leave=False)


def default_bounds(model, state: Optional[dict] = None) -> Tensor:
    """[6] world box: the field's box (object) or its region of interest (unbounded), or, for a forward-facing
    capture whose region of interest is the rig itself, the box of what it looks at (bounds.roi_from_cameras)."""
    subject = ((state or {}).get("scene") or {}).get("subject_box")
    if subject is not None:
        return torch.tensor(subject, dtype=torch.float32)
    return model.field.aabb.detach().float().cpu().clone()


def parse_bounds(bounds: Optional[Sequence[float]], fallback: Tensor) -> Tensor:
    if bounds is None:
        return fallback
    b = torch.tensor([float(x) for x in bounds], dtype=torch.float32)
    if b.numel() != 6 or not bool((b[3:] > b[:3]).all()) or not bool(torch.isfinite(b).all()):
        raise UserError(f"--bounds needs 6 numbers XMIN YMIN ZMIN XMAX YMAX ZMAX with max > min, got "
                        f"{list(bounds)}")
    return b


def default_threshold(cell: float) -> float:
    """σ at which a ray loses half its light within one grid cell: the surface that is opaque at the
    scale the mesh resolves (a finer grid asks for a sharper surface)."""
    return math.log(2.0) / cell


def _out_path(run_dir: Path, out, default_name: str, allowed: Sequence[str]) -> Path:
    path = Path(out) if out else run_dir / "export" / default_name
    if path.suffix.lower() not in allowed:
        raise UserError(f"--out {path.name!r}: use a file name ending in {' or '.join(allowed)}")
    return path


def export_points(run_dir, out=None, *, downscale: float = 1.0, views: Optional[int] = None,
                  min_opacity: float = 0.9, max_points: int = 2_000_000, bounds=None, device=None,
                  progress: bool = True, seed: int = 0, depth: str = "median") -> dict:
    """Coloured points from the rendered depth (`depth`: median or expected, render.render_image) of the
    training views; writes PLY. Returns a summary."""
    from .data import load_scene  # noqa: PLC0415

    run_dir = Path(run_dir)
    path = _out_path(run_dir, out, "points.ply", (".ply",))
    if not 0 < downscale <= 1 or not 0 <= min_opacity < 1 or max_points < 1 or (views is not None and views < 1):
        raise UserError("--downscale must be in (0, 1], --min-opacity in [0, 1), --max-points and --views >= 1")
    depth_kind = parse_depth(depth)
    cfg, model, state = load_run(run_dir, device)
    scene = model.posed(load_scene(cfg.scene, splits=("train",)))  # depth back-projected from the refined poses
    box = parse_bounds(bounds, default_bounds(model, state))
    train = scene.train
    idx = list(range(len(train)))
    if views is not None and views < len(idx):
        idx = [idx[round(i)] for i in np.linspace(0, len(idx) - 1, views)]
    cams = train.cameras.scaled(downscale) if downscale < 1 else train.cameras
    bg = eval_background(model.field, scene.background, not train.has_alpha)
    pts, cols = [], []
    t0 = time.perf_counter()
    with _bar(len(idx), "points: rendering views", progress) as bar:
        for i in idx:
            out = render_image(model.field, model.sampler, cams, i, bg, chunk=cfg.eval.chunk, depth=depth_kind)
            o, d = image_rays(cams, i)
            depth, op = out["depth"].reshape(-1), out["opacity"].reshape(-1)
            xyz = o + d * depth[:, None]
            keep = (op > min_opacity) & torch.isfinite(depth)
            keep &= ((xyz >= box[:3]) & (xyz <= box[3:])).all(-1)
            pts.append(xyz[keep].float())
            cols.append((out["rgb"].reshape(-1, 3)[keep] * 255).round().to(torch.uint8))
            bar.update(1)
    xyz, rgb = torch.cat(pts), torch.cat(cols)
    n_all = len(xyz)
    if n_all > max_points:  # an even random subset, the same for the same seed
        pick = torch.randperm(n_all, generator=torch.Generator().manual_seed(seed))[:max_points]
        xyz, rgb = xyz[pick], rgb[pick]
    if len(xyz) == 0:
        raise UserError(f"no rendered pixel is opaque (> {min_opacity}) inside the bounds; lower --min-opacity "
                        "or widen --bounds (is the run trained?)")
    write_ply(path, xyz.numpy(), rgb.numpy())
    return {"path": str(path), "points": len(xyz), "points_before_subsampling": n_all, "views": len(idx),
            "depth": depth_kind, "bounds": box.tolist(), "seconds": round(time.perf_counter() - t0, 1)}


@torch.no_grad()
def density_grid(field, box: Tensor, resolution: int, chunk: int = 1 << 18, progress: bool = True) -> Tensor:
    """σ [N, N, N] at the points of a regular grid spanning `box` (N = resolution, along the longest side;
    shorter sides get proportionally fewer points)."""
    size = box[3:] - box[:3]
    counts = [max(2, round(resolution * float(s / size.max()))) for s in size]
    axes = [torch.linspace(float(box[i]), float(box[i + 3]), counts[i]) for i in range(3)]
    device = field.aabb.device
    sigma = torch.empty(counts[0], counts[1] * counts[2])
    yz = torch.stack(torch.meshgrid(axes[1], axes[2], indexing="ij"), -1).reshape(-1, 2)
    rows = max(1, chunk // len(yz))
    with _bar(counts[0], "mesh: density grid", progress) as bar:
        for s in range(0, counts[0], rows):
            xs = axes[0][s:s + rows]
            pts = torch.cat([xs[:, None, None].expand(-1, len(yz), 1), yz[None].expand(len(xs), -1, -1)], -1)
            sigma[s:s + len(xs)] = field.density(pts.reshape(-1, 3).to(device)).float().cpu().view(len(xs), -1)
            bar.update(len(xs))
    return sigma.view(*counts)


def vertex_colours(field, verts: Tensor, chunk: int = 1 << 16) -> Tensor:
    """uint8 [V, 3]: the field's colour at each vertex seen from outside, along the density gradient."""
    device = field.aabb.device
    out = torch.empty(len(verts), 3, dtype=torch.uint8)
    for s in range(0, len(verts), chunk):
        x = verts[s:s + chunk].to(device).requires_grad_(True)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(field.density(x).sum(), x)
        d = grad / grad.norm(dim=-1, keepdim=True).clamp_min(1e-12)  # into the surface: where σ grows
        d = torch.where(torch.isfinite(d), d, torch.tensor([0.0, 0.0, -1.0], device=device))
        with torch.no_grad():
            rgb, _ = field(x.detach(), d)
        out[s:s + chunk] = (rgb.float().clamp(0, 1) * 255).round().to(torch.uint8).cpu()
    return out


def export_mesh(run_dir, out=None, *, resolution: Optional[int] = None, threshold: Optional[float] = None,
                bounds=None, device=None, progress: bool = True) -> dict:
    """Marching tetrahedra on the density field, coloured by the field; writes PLY or OBJ."""
    run_dir = Path(run_dir)
    path = _out_path(run_dir, out, "mesh.ply", SUFFIXES)
    cfg, model, state = load_run(run_dir, device, needs_scene=False)  # the field alone
    if resolution is None:
        resolution = 256 if model.field.aabb.device.type == "cuda" else 128
    if resolution < 8 or resolution > 1024:
        raise UserError(f"--resolution {resolution}: use 8 .. 1024 grid points along the longest side")
    box = parse_bounds(bounds, default_bounds(model, state))
    if threshold is not None and not threshold > 0:
        raise UserError(f"--threshold {threshold}: a density threshold must be positive")
    t0 = time.perf_counter()
    sigma = density_grid(model.field, box, resolution, progress=progress)
    counts = torch.tensor(sigma.shape, dtype=torch.float32)
    cell = (box[3:] - box[:3]) / (counts - 1)
    level = default_threshold(float(cell.max())) if threshold is None else float(threshold)
    # Pad one empty layer all round so surfaces cut by the bounds close (watertight by construction).
    padded = torch.nn.functional.pad(sigma[None, None], (1, 1, 1, 1, 1, 1), value=0.0)[0, 0]
    verts, faces = marching_tetrahedra(padded, level, box[:3] - cell, box[3:] + cell)
    if len(faces) == 0:
        raise UserError(f"the density never exceeds the threshold {level:.3g} inside the bounds (max "
                        f"{float(sigma.max()):.3g}); lower --threshold or check --bounds")
    verts = torch.minimum(torch.maximum(verts, box[:3]), box[3:])  # the padding layer's vertices onto the box
    if progress:
        print(f"mesh: {len(verts)} vertices, {len(faces)} triangles; colouring", flush=True)
    rgb = vertex_colours(model.field, verts)
    write_mesh(path, verts.numpy(), rgb.numpy(), faces.numpy())
    return {"path": str(path), "vertices": len(verts), "faces": len(faces), "resolution": list(sigma.shape),
            "threshold": level, "cell": cell.tolist(), "bounds": box.tolist(), "open_edges": boundary_edges(faces),
            "seconds": round(time.perf_counter() - t0, 1)}


MESH_OPTIONS = ("resolution", "threshold")


def export_run(run_dir, out, points: bool, *, bounds=None, device=None, progress: bool = True, **options) -> dict:
    """`nerf-ff export`: points or a mesh with the options given (None: the default); an option of the other
    kind is an error naming it, never silently ignored."""
    given = {k: v for k, v in options.items() if v is not None}
    unused = [f"--{k.replace('_', '-')}" for k in given if (k in MESH_OPTIONS) == points]
    if unused:
        raise UserError(f"{', '.join(unused)} {'applies' if len(unused) == 1 else 'apply'} to export "
                        f"{'--mesh' if points else '--points'} only; drop {'it' if len(unused) == 1 else 'them'}")
    export = export_points if points else export_mesh
    return export(run_dir, out, bounds=bounds, device=device, progress=progress, **given)
