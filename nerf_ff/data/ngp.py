"""instant-ngp / nerfstudio `transforms.json` scenes (captured photos, pinhole + OpenCV distortion).

Intrinsics are read per frame, falling back to the file's top level: `fl_x`, `fl_y` (default fl_x),
else `camera_angle_x` / `camera_angle_y`; `cx`, `cy` (default the image centre); `w`, `h` (default the
image size, and they must match it; frames of different sizes share a canvas, cameras.Cameras.sizes); distortion `k1 k2 p1 p2 k3 k4` (OpenCV radial-tangential, k3 k4 as
nerfstudio: more terms of the radial polynomial), or with `camera_model: OPENCV_FISHEYE` (nerfstudio) or
`is_fisheye` (instant-ngp) the equidistant fisheye `k1 k2 k3 k4` (cameras.py). Other lens models and
coefficients (equirectangular, k5+) are rejected, never ignored. Poses stay in the file's world frame (OpenGL c2w).
With scene.downscale d, nerfstudio's pre-downscaled `images_d/` copies are read where they exist and
match w / h (images.py). A frame's `mask_path` (nerfstudio: an image, non-zero where the pixel is to be
used) keeps transient content (people, the photographer's shadow) out of training and scoring.

Scene kind and box. Opaque photos make an unbounded scene: its box is the cameras' region of interest
(`bounds.roi_from_cameras`; instant-ngp's own box below is not used, so a file's units do not matter) and
space beyond it is contracted (space.py). The sparse points of `ply_file_path` (nerfstudio and `nerf-ff
process` write it) give a forward-facing capture the box of what it looks at, as a COLMAP model's do. RGBA frames make an object scene with instant-ngp's box: instant-ngp maps a world point p into its unit cube by p * scale + offset (file keys,
defaults 0.33 and 0.5 per axis; applied before its axis permutation, so per world axis). Its unit
cube is therefore the world box centred at (0.5 - offset) / scale with half-size 0.5 / scale: that
is our `aabb`. `aabb_scale` (a power of two) widens the region instant-ngp models; our occupancy-grid
cascades double the box per level, so grid_levels = 1 + log2(aabb_scale) covers the same region.
near is 5% of the box side (0.05 in instant-ngp's unit cube); far is the largest distance from any
camera to a corner of the outermost cascade, so every ray can leave the modelled region.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch

from ..config import SceneConfig
from ..errors import UserError, one_line
from ..geometry_files import read_ply_points
from .bounds import roi_from_cameras
from .cameras import Cameras, lens, project
from .images import IMAGE_SUFFIXES, header_size, load_masks, load_scaled
from .scene import SceneData, Split, every_nth_split
from .transforms import frame_image_path, number, parse_pose, read_transforms

NGP_SCALE = 0.33
NGP_OFFSET = 0.5
NEAR_FRACTION = 0.05
"""near = this fraction of the (mean) box side."""
MIN_POINTS_SEEN = 0.5
"""Share of ply_file_path's points some training view must see for them to be in the cameras' world."""
UNBOUNDED_FAR = 1000.0
"""far of an unbounded scene, in units of (farthest camera from the ROI centre + ROI side)."""

PINHOLE_MODELS = ("OPENCV", "PINHOLE", "SIMPLE_PINHOLE", "SIMPLE_RADIAL", "RADIAL", "PERSPECTIVE")
FISHEYE_MODELS = ("OPENCV_FISHEYE", "FISHEYE")
UNSUPPORTED_COEFFS = ("k5", "k6")
FOCAL_KEYS = ("fl_x", "fl_y", "camera_angle_x", "camera_angle_y")


@dataclass
class _Frame:
    index: int  # position in the file
    file_path: str
    path: Path
    pose: np.ndarray  # [3, 4] camera-to-world
    raw: dict
    mask: Optional[Path] = None  # nerfstudio's mask_path: pixels to use are non-zero


def load_ngp(json_path: Path, cfg: SceneConfig, splits: Optional[Sequence[str]] = None) -> SceneData:
    """Load a transforms.json scene. `splits`: which of train/val/test to load (None: all defined)."""
    json_path = Path(json_path)
    data = read_transforms(json_path)
    root = json_path.parent
    _check_lens(data, str(json_path))

    frames = []
    for i, raw in enumerate(data["frames"]):
        where = f"{json_path} frame {i}"
        _check_lens(raw, where)
        if not any(raw.get(k, data.get(k)) is not None for k in FOCAL_KEYS):
            raise UserError(f"{where} has no intrinsics (none of {', '.join(FOCAL_KEYS)} per frame or at the top); "
                            "add fl_x/fl_y, cx, cy (instant-ngp's colmap2nerf.py writes them)")
        mask = None if raw.get("mask_path") is None else frame_image_path(root, raw["mask_path"], where, key="mask_path")
        frames.append(_Frame(i, raw["file_path"], _image_path(root, raw["file_path"], where),
                             parse_pose(raw["transform_matrix"], where), raw, mask))
    frames.sort(key=lambda f: f.file_path)

    split_idx, note = _choose_split(data, frames, cfg.test_every, json_path)
    wanted = set(split_idx if splits is None else splits) | {"train", "test"}
    loaded = {name: _load_split(data, [frames[i] for i in idx], cfg.downscale, f"the {name} split of {json_path}")
              for name, idx in split_idx.items() if name in wanted}
    out = {name: split for name, (split, _) in loaded.items()}

    # Scene box from instant-ngp's unit cube (see module docstring).
    scale = number(data.get("scale", NGP_SCALE), "scale", str(json_path), positive=True)
    offset = _vec3(data.get("offset", NGP_OFFSET), "offset", str(json_path))
    centre, half = (0.5 - offset) / scale, 0.5 / scale  # [3], scalar
    ngp_box = np.concatenate([centre - half, centre + half])
    aabb_scale = number(data.get("aabb_scale", 1), "aabb_scale", str(json_path), positive=True)
    levels = 1 + max(0, math.ceil(math.log2(aabb_scale) - 1e-9))

    dist_any = any(s.cameras.distortion is not None for s in out.values())
    points, points_note = sparse_points(data, root, out["train"].cameras, str(json_path))
    return captured_scene(cfg, out, ngp_box, levels, note, "ngp",
                          {"aabb_scale": aabb_scale, "scale": scale, "offset": offset.tolist(),
                           "ngp_box": ngp_box.tolist(), "n_frames": len(frames), "downscale": cfg.downscale,
                           "pixels": "; ".join(sorted({src for _, src in loaded.values()})),
                           "distortion": dist_any, "file": str(json_path), **points_note,
                           **({"masks": f"{sum(f.mask is not None for f in frames)} frames with mask_path"}
                              if any(f.mask is not None for f in frames) else {}),
                           **({"applied_transform": _applied(data["applied_transform"], str(json_path))}
                              if data.get("applied_transform") is not None else {})}, points)


def sparse_points(data: dict, root: Path, cams: Cameras, where: str) -> tuple[Optional[np.ndarray], dict]:
    """The sparse SfM points of the file's `ply_file_path` (nerfstudio and `nerf-ff process` write it) and a
    note for scene.meta. For a capture whose cameras share no focus (a forward-facing one) they give the box
    of what it looks at (`subject_box`, export's default bounds), as a COLMAP model's points do. Points in
    another world frame than the cameras (fewer than MIN_POINTS_SEEN of them in front of and inside some
    training view) are left out, noted."""
    if not data.get("ply_file_path"):
        return None, {}
    path = root / str(data["ply_file_path"])
    try:
        xyz = read_ply_points(path)
    except (UserError, OSError, ValueError) as exc:
        return None, {"points": f"none: {where} ply_file_path: {one_line(exc)[0] or exc}"}
    xyz = xyz[np.isfinite(xyz).all(-1)]
    if len(xyz) < 4:
        return None, {"points": f"none: {path} holds {len(xyz)} points"}
    sample = torch.from_numpy(xyz[np.random.default_rng(0).permutation(len(xyz))[:2000]]).float()
    seen = torch.zeros(len(sample), dtype=torch.bool)
    for k in range(len(cams)):
        uv, z = project(cams, k, sample)
        w, h = cams.size(k)
        seen |= (z > 0) & (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)
    share = float(seen.float().mean())
    if share < MIN_POINTS_SEEN:
        return None, {"points": f"none: only {share:.0%} of the points of {path} lie in front of a training camera "
                                "and inside its view: they are in another world frame than the cameras"}
    return xyz, {"points": f"{len(xyz)} from {path}"}


def _applied(value: Any, where: str) -> list:
    """nerfstudio's applied_transform (3x4 or 4x4): how the file's world was made from its COLMAP model's."""
    a = np.asarray(value, dtype=object)
    if a.shape not in ((3, 4), (4, 4)):
        raise UserError(f"{where}: applied_transform should be a 3x4 or 4x4 matrix, got shape {a.shape}; fix the file")
    return [[number(v, "applied_transform", where) for v in row] for row in a[:3].tolist()]


def full_size(json_path: Path) -> tuple[int, int]:
    """(width, height) of the largest frame (the longest side; frames may differ in size): each frame's
    w / h (or the file's), else its image header."""
    data = read_transforms(json_path)
    sizes = []
    for frame in data["frames"]:
        w, h = frame.get("w", data.get("w")), frame.get("h", data.get("h"))
        if isinstance(w, (int, float)) and isinstance(h, (int, float)) and w > 0 and h > 0:
            sizes.append((int(round(w)), int(round(h))))
        else:
            sizes.append(header_size(_image_path(Path(json_path).parent, frame["file_path"], str(json_path))))
    return max(sizes, key=max)


def scene_kind(cfg: SceneConfig, splits: dict) -> str:
    """object | unbounded: the config's choice, else object for RGBA images, unbounded for opaque photos."""
    return cfg.kind if cfg.kind != "auto" else ("object" if splits["train"].has_alpha else "unbounded")


def captured_scene(cfg: SceneConfig, splits: dict, box, levels: int, note: str, source_format: str, meta: dict,
                   points: Optional[np.ndarray] = None) -> SceneData:
    """SceneData of a captured scene (ngp, colmap).

    Kind (`scene.kind`, auto: unbounded for opaque photos, object for RGBA images). Unbounded: the box is
    the region of interest of the cameras (`bounds.roi_from_cameras`, the same rule for every layout),
    space beyond it is contracted, one grid level; far reaches UNBOUNDED_FAR ROI sizes past the cameras
    (the contracted sampler spends few steps out there). Object: `box` and `levels` found by the
    loader. Either way the scene YAML's aabb / grid_levels / near / far win; near defaults to
    NEAR_FRACTION of the box side."""
    all_cams = Cameras.cat([splits["train"].cameras, splits["test"].cameras])
    centres = all_cams.c2w[:, :, 3].double().numpy()
    kind = scene_kind(cfg, splits)
    if kind == "unbounded":
        centre, half, facts = roi_from_cameras(all_cams, points)
        box, levels = np.concatenate([centre - half, centre + half]), 1
        meta = {**meta, **facts}
    aabb = np.asarray(cfg.aabb if cfg.aabb is not None else box, dtype=np.float64)
    levels = cfg.grid_levels if cfg.grid_levels is not None and kind == "object" else levels
    side = float((aabb[3:] - aabb[:3]).mean())
    near = float(cfg.near) if cfg.near is not None else NEAR_FRACTION * side
    if cfg.far is not None:
        far = float(cfg.far)
    elif kind == "unbounded":
        reach = float(np.linalg.norm(centres - (aabb[:3] + aabb[3:]) / 2, axis=-1).max())
        far = UNBOUNDED_FAR * (reach + side)
    else:
        far = _far_for(aabb, levels, centres)
    if far <= near:
        raise UserError(f"scene near={near} is not below far={far}; fix scene.near / scene.far")
    return SceneData(
        name=cfg.name,
        splits=splits,
        aabb=torch.tensor(aabb, dtype=torch.float32),
        near=near,
        far=far,
        background=torch.tensor(cfg.background, dtype=torch.float32),
        grid_levels=int(levels),
        kind=kind,
        split_note=note,
        source_format=source_format,
        meta=meta,
    )


def _is_fisheye(d: dict, frame: Optional[dict] = None) -> bool:
    frame = frame or {}
    model = frame.get("camera_model", d.get("camera_model"))
    return bool(frame.get("is_fisheye", d.get("is_fisheye"))) or str(model).upper() in FISHEYE_MODELS


def _check_lens(d: dict, where: str) -> None:
    """Reject lens models whose parameters we would otherwise silently ignore."""
    model = d.get("camera_model")
    if model is not None and str(model).upper() not in PINHOLE_MODELS + FISHEYE_MODELS:
        raise UserError(f"{where}: camera_model {model!r} is not supported (pinhole with k1 k2 k3 k4 p1 p2: "
                        f"{', '.join(PINHOLE_MODELS)}; or {', '.join(FISHEYE_MODELS)}); undistort the images first, "
                        "e.g. with COLMAP image_undistorter")
    for k in UNSUPPORTED_COEFFS:
        if k in d and d[k] not in (0, 0.0, None):
            raise UserError(f"{where}: distortion coefficient {k}={d[k]} is not supported (only k1 k2 k3 k4 p1 p2); "
                            "undistort the images first or re-calibrate with the OPENCV model")


def _image_path(root: Path, file_path: Any, where: str) -> Path:
    path = frame_image_path(root, file_path, where)
    if path.suffix.lower() not in IMAGE_SUFFIXES and not path.is_file():
        # Some exporters drop the extension; take the one image that matches.
        for suffix in IMAGE_SUFFIXES:
            if path.with_name(path.name + suffix).is_file():
                return path.with_name(path.name + suffix)
    return path


def _vec3(value: Any, key: str, where: str) -> np.ndarray:
    vals = value if isinstance(value, (list, tuple)) else [value] * 3
    if len(vals) != 3:
        raise UserError(f"{where}: '{key}' must be a number or a list of 3 numbers, not {value!r}; fix the file")
    return np.array([number(v, key, where) for v in vals])


def _choose_split(data: dict, frames: list[_Frame], every: int, json_path: Path) -> tuple[dict[str, list[int]], str]:
    """Indices into the sorted frames per split, and a sentence saying how they were chosen."""
    listed = {s: data.get(f"{s}_filenames") for s in ("train", "val", "test")}
    if listed["train"] is not None or listed["test"] is not None:
        # nerfstudio-style split lists in the file.
        by_name = {os.path.normpath(f.file_path): i for i, f in enumerate(frames)}
        split_idx = {}
        for name, names in listed.items():
            if names is None:
                continue
            if not isinstance(names, list):
                raise UserError(f"{json_path}: '{name}_filenames' must be a list of file paths; fix the file")
            missing = [n for n in names if os.path.normpath(str(n)) not in by_name]
            if missing:
                raise UserError(f"{json_path}: '{name}_filenames' lists {missing[0]!r}, which is no frame's file_path; "
                                "fix the list")
            split_idx[name] = [by_name[os.path.normpath(str(n))] for n in names]
        if not split_idx.get("train") or not split_idx.get("test"):
            raise UserError(f"{json_path} defines a split but not both train_filenames and test_filenames; add both")
        note = "test split: test_filenames in transforms.json as given"
    else:
        train, test = every_nth_split(len(frames), every)
        if not train:
            raise UserError(f"{json_path} has only {len(frames)} frame(s), too few for a held-out split; add frames")
        split_idx = {"train": train, "test": test}
        note = (f"test split: transforms.json defines none, so after sorting frames by file_path every {every}th "
                f"(0, {every}, {2 * every}, ...) is held out")
    note += f"; {len(split_idx['train'])} train / {len(split_idx['test'])} test views"
    return split_idx, note


def _load_split(data: dict, frames: list[_Frame], downscale: int, label: str) -> tuple[Split, str]:
    sizes = {(f.raw.get("w", data.get("w")), f.raw.get("h", data.get("h"))) for f in frames}
    calibrated = None  # the size w / h state, which pre-downscaled copies must match
    if len(sizes) == 1 and all(isinstance(v, (int, float)) and v > 0 for v in next(iter(sizes))):
        calibrated = tuple(int(round(v)) for v in next(iter(sizes)))
    images, before, after, source = load_scaled([f.path for f in frames], downscale, label, calibrated)
    intr = np.array([_intrinsics(data, f.raw, int(wh[0]), int(wh[1]), f"{label} ({f.file_path})")
                     for f, wh in zip(frames, before)])  # [N, 4 + 7], each in its own image's pixels
    dist = torch.from_numpy(intr[:, 4:]).float() if np.any(intr[:, 4:] != 0) else None
    t = lambda col: torch.from_numpy(intr[:, col]).float()  # noqa: E731
    c2w = torch.from_numpy(np.stack([f.pose for f in frames])).float()  # [N, 3, 4]
    w0, h0 = (int(v) for v in before.max(0))
    cams = Cameras(c2w, t(0), t(1), t(2), t(3), w0, h0, dist)
    # each to its stored image (images of several sizes share a canvas); distortion acts on normalised
    # coordinates: unchanged
    cams = cams.fitted(torch.from_numpy(before), torch.from_numpy(after))
    masks = None
    if any(f.mask is not None for f in frames):
        masks = torch.from_numpy(load_masks([f.mask for f in frames], before, after, images.shape[1:3], label))
    return Split(torch.from_numpy(images), cams, [f.file_path for f in frames], masks=masks), source


def _intrinsics(data: dict, frame: dict, w_img: int, h_img: int, where: str) -> list[float]:
    """fx, fy, cx, cy and the lens row (cameras.lens) in pixels of the original image; per-frame keys win."""
    def get(key: str) -> Optional[float]:
        value = frame.get(key, data.get(key))
        return None if value is None else number(value, key, where)

    w, h = get("w"), get("h")
    if (w is not None and abs(w - w_img) > 0.5) or (h is not None and abs(h - h_img) > 0.5):
        raise UserError(f"{where}: the file says w x h = {w} x {h} but the image is {w_img} x {h_img}; "
                        "fix w/h and the intrinsics, or use the images they were computed for")
    fl_x, fl_y = get("fl_x"), get("fl_y")
    ax, ay = get("camera_angle_x"), get("camera_angle_y")
    if fl_x is None and ax is not None:
        fl_x = 0.5 * w_img / math.tan(0.5 * ax)
    if fl_y is None and ay is not None:
        fl_y = 0.5 * h_img / math.tan(0.5 * ay)
    fl_x = fl_x if fl_x is not None else fl_y
    fl_y = fl_y if fl_y is not None else fl_x
    if fl_x is None or fl_x <= 0 or fl_y <= 0:
        raise UserError(f"{where}: no positive focal length (fl_x/fl_y or camera_angle_x/y); fix the intrinsics")
    cx, cy = get("cx"), get("cy")
    cx = 0.5 * w_img if cx is None else cx
    cy = 0.5 * h_img if cy is None else cy
    k1, k2, p1, p2, k3, k4 = (get(k) or 0.0 for k in ("k1", "k2", "p1", "p2", "k3", "k4"))
    fisheye = _is_fisheye(data, frame)
    if fisheye and (p1 or p2):
        raise UserError(f"{where}: a fisheye camera with tangential coefficients p1/p2, which the OpenCV fisheye "
                        "model does not have; drop them or undistort the images first")
    return [fl_x, fl_y, cx, cy, *lens(k1, k2, p1, p2, k3, k4, fisheye)]


def _far_for(aabb: np.ndarray, levels: int, origins: np.ndarray) -> float:
    """Largest camera-to-corner distance of the outermost cascade box; origins [N, 3]."""
    centre, half = (aabb[:3] + aabb[3:]) / 2, (aabb[3:] - aabb[:3]) / 2 * 2 ** (levels - 1)
    corners = centre + half * np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])  # [8, 3]
    return float(np.linalg.norm(origins[:, None, :] - corners[None], axis=-1).max())
