"""LLFF scenes: `poses_bounds.npy` plus `images/` (and LLFF's `images_<d>/` copies), as the NeRF paper's
forward-facing captures (nerf_llff_data) and LLFF's `imgs2poses.py` ship them.

File format: float array [N, 17], one row per image in sorted file-name order. The first 15 numbers are
a 3x5 matrix (row-major): columns 0-2 the camera-to-world rotation in LLFF's axes (down, right,
backwards), column 3 the camera centre, column 4 (height, width, focal) of the full-resolution images
in `images/`; the last two are the near and far depth bounds of the scene points that image sees.
Our OpenGL c2w is (right, up, back) = (column 1, -column 0, column 2). The principal point is the
image centre and lenses are ideal pinholes (LLFF ignores the distortion COLMAP estimated).

With scene.downscale d, LLFF's `images_d/` copies are read when they exist (matched by sorted order:
LLFF renames them), else `images/` is area-downscaled. Held out: every cfg.test_every-th image (LLFF's
`llffhold` 8 by default, the NeRF papers' split). The world frame is the file's; the box follows the
same rules as the other captured layouts (`ngp.captured_scene`), with the sparse points stood in for
by points along each camera's rays, spread evenly in disparity between its near and far bounds
(where LLFF's own sampling puts the content). A folder with both a COLMAP model and poses_bounds.npy
(mip-NeRF 360, nerf_llff_data) loads as COLMAP: it has the real points and lens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from ..config import SceneConfig
from ..errors import UserError
from .cameras import Cameras, pixel_rays
from .images import copies_fit, copy_factors, list_images, load_images, pixels_note
from .scene import Split, every_nth_split

POSES_FILE = "poses_bounds.npy"
RAYS_PER_AXIS = 5  # stand-in points: a 5 x 5 grid of pixels per camera ...
DEPTHS = 6  # ... at 6 depths each


def read_poses_bounds(path: Path) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """c2w [N, 3, 4] (OpenGL axes, float64), bounds [N, 2], and (height, width, focal) of images/."""
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise UserError(f"{path} is unreadable ({exc}); re-create it with LLFF's imgs2poses.py") from None
    if arr.ndim != 2 or arr.shape[1] != 17 or len(arr) == 0:
        raise UserError(f"{path} holds an array of shape {arr.shape}, not [N, 17] (a 3x5 pose and near/far per image); "
                        "re-create it with LLFF's imgs2poses.py")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise UserError(f"{path} holds NaN or infinite numbers; re-create it with LLFF's imgs2poses.py")
    poses, bounds = arr[:, :15].reshape(-1, 3, 5), arr[:, 15:]
    hwf = poses[:, :, 4]
    if not np.allclose(hwf, hwf[0]) or (hwf[0] <= 0).any():
        raise UserError(f"{path}: images differ in (height, width, focal) or one is not positive; nerf_ff reads "
                        "LLFF scenes of one camera")
    if not ((bounds[:, 0] > 0) & (bounds[:, 1] > bounds[:, 0])).all():
        raise UserError(f"{path}: a near/far bound is not 0 < near < far; re-create the file")
    c2w = np.concatenate([poses[:, :, 1:2], -poses[:, :, 0:1], poses[:, :, 2:4]], axis=2)
    return c2w, bounds, (float(hwf[0, 0]), float(hwf[0, 1]), float(hwf[0, 2]))


def full_size(folder: Path) -> tuple[int, int]:
    """(width, height) of images/, as poses_bounds.npy states it."""
    h, w, _ = read_poses_bounds(Path(folder) / POSES_FILE)[2]
    return int(round(w)), int(round(h))


def _image_files(folder: Path, n: int, downscale: int, hw: tuple[float, float]) -> tuple[list[Path], int, int]:
    """The image files (sorted), the downscale still to apply, and the copies' factor: LLFF's images_k/
    for the largest factor k of `downscale` that fits (images.prescaled), else images/ (k = 1)."""
    h, w = hw
    for k in copy_factors(downscale):
        small = folder / f"images_{k}"
        if small.is_dir():
            files = list_images(small)
            if len(files) == n and copies_fit(files, k, (w, h)):
                return files, downscale // k, k
    full = folder / "images"
    if not full.is_dir():
        others = sorted(p.name for p in folder.glob("images_*") if p.is_dir())
        hint = f"; set scene.downscale to a multiple of {others[0].split('_', 1)[1]} to use {others[0]}/" if others else ""
        raise UserError(f"{folder} has {POSES_FILE} but no images/ folder{hint}")
    files = list_images(full)
    if len(files) != n:
        raise UserError(f"{full} holds {len(files)} images but {POSES_FILE} has {n} poses; use the images the poses "
                        "were made from")
    return files, downscale, 1


def stand_in_points(cams: Cameras, bounds: np.ndarray) -> np.ndarray:
    """Points [N * 25 * 6, 3] along each camera's rays, evenly in disparity from its near to its far bound."""
    k = RAYS_PER_AXIS
    u = (torch.arange(k, dtype=torch.float64) + 0.5) / k
    px, py = (u[None, :] * cams.width).expand(k, k).reshape(-1), (u[:, None] * cams.height).expand(k, k).reshape(-1)
    out = []
    for i in range(len(cams)):
        o, d = pixel_rays(cams, torch.full((k * k,), i, dtype=torch.long), px.float(), py.float())
        near, far = bounds[i]
        depth = 1.0 / np.linspace(1.0 / near, 1.0 / far, DEPTHS)  # along the axis; rays are unit length
        fwd = -cams.c2w[i, :, 2].double().numpy()
        d = d.double().numpy()
        t = depth[None, :] / (d @ fwd)[:, None]  # [k*k, DEPTHS]
        out.append((o.double().numpy()[:, None, :] + t[..., None] * d[:, None, :]).reshape(-1, 3))
    return np.concatenate(out)


def load_llff(folder: Path, cfg: SceneConfig, splits: Optional[Sequence[str]] = None):
    """Load an LLFF scene folder as SceneData; see the module docstring."""
    from .bounds import cascade_levels, roi_from_cameras
    from .ngp import captured_scene, scene_kind

    folder = Path(folder)
    c2w, bounds, (h, w, f) = read_poses_bounds(folder / POSES_FILE)
    n = len(c2w)
    files, still, factor = _image_files(folder, n, cfg.downscale, (h, w))
    train, test = every_nth_split(n, cfg.test_every)
    if not train:
        raise UserError(f"{folder / POSES_FILE} has only {n} pose(s), too few for a held-out split; add images")
    full = Cameras(torch.from_numpy(c2w).float(), torch.full((n,), f), torch.full((n,), f), torch.full((n,), w / 2),
                   torch.full((n,), h / 2), int(round(w)), int(round(h)))
    idx = {"train": train, "test": test}
    wanted = set(idx if splits is None else splits) | {"train", "test"}
    out = {}
    for name in [s for s in idx if s in wanted]:
        label = f"the {name} split of {folder}"
        pixels, (w0, h0) = load_images([files[i] for i in idx[name]], still, label)
        if factor == 1 and (abs(w0 - w) > 1 or abs(h0 - h) > 1):
            raise UserError(f"{label}: {POSES_FILE} is for {w:.0f}x{h:.0f} images but images/ holds {w0}x{h0}; use "
                            "the full-resolution images the poses were made from")
        cams = full[idx[name]].resized(pixels.shape[2], pixels.shape[1])
        out[name] = Split(torch.from_numpy(pixels), cams, [files[i].name for i in idx[name]])

    points = stand_in_points(full, bounds)
    box, levels = None, 1
    if scene_kind(cfg, out) == "object":
        centre, half, facts = roi_from_cameras(full, points)
        box = np.asarray(facts.get("subject_box", np.concatenate([centre - half, centre + half])))  # the object
        centre, half = (box[:3] + box[3:]) / 2, float((box[3:] - box[:3]).max()) / 2
        levels = cascade_levels(centre, half, c2w[:, :, 3], points)
    note = (f"test split: every {cfg.test_every}th image in name order (0, {cfg.test_every}, ...), LLFF's llffhold; "
            f"{len(train)} train / {len(test)} test views")
    pixels_from = pixels_note(cfg.downscale, files[0].parent if factor > 1 else None, still)
    return captured_scene(cfg, out, box, levels, note, "llff",
                          {"file": str(folder / POSES_FILE), "n_images": n, "downscale": cfg.downscale,
                           "pixels": pixels_from, "bounds": [float(bounds[:, 0].min()), float(bounds[:, 1].max())]},
                          points=points)
