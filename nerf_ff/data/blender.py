"""Blender / NeRF-synthetic scenes: transforms_{train,val,test}.json + RGBA PNG renders.

Each file holds `camera_angle_x` (horizontal field of view, radians) and frames with `file_path`
(relative, '.png' appended when it has no extension) and `transform_matrix` (camera-to-world,
OpenGL axes — our convention, used as is). Principal point at the image centre.
Defaults (each overridden by the scene config when set): the box is the visual hull of the training
views' alpha masks (`bounds.object_box`; for lego about [-0.7, 0.7] x [-1.2, 1.2] x [-0.4, 1.1]),
near / far the closest and farthest the cameras are from it, one occupancy-grid level, white
evaluation background. NeRF-synthetic's customary box [-1.5, 1.5]^3 with near 2, far 6 is what
scenes/lego.yaml states for the paper protocols.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from ..config import SceneConfig
from ..errors import UserError
from .bounds import near_far_for_box, object_box
from .cameras import Cameras
from .images import header_size, load_images
from .scene import SceneData, Split, every_nth_split
from .transforms import frame_image_path, number, parse_pose, read_transforms

SPLITS = ("train", "val", "test")


def load_blender(root: Path, cfg: SceneConfig, splits: Optional[Sequence[str]] = None) -> SceneData:
    """Load a NeRF-synthetic folder. `splits`: which of train/val/test to load (None: all present).

    The published test split is used when transforms_test.json exists; otherwise val; otherwise a
    fixed every-`cfg.test_every`-th split of train (written to `split_note`).
    """
    root = Path(root)
    files = {s: root / f"transforms_{s}.json" for s in SPLITS if (root / f"transforms_{s}.json").is_file()}
    if "train" not in files:
        raise UserError(f"{root} has no transforms_train.json; point scene.path at a NeRF-synthetic scene folder "
                        "or set scene.format")
    wanted = set(SPLITS if splits is None else splits) | {"train", "test"}

    if "test" in files:
        note = "test split: transforms_test.json as published"
        test_source = "test"
    elif "val" in files:
        note = "test split: transforms_val.json (the scene has no transforms_test.json)"
        test_source = "val"
    else:
        note = ""
        test_source = None

    out: dict[str, Split] = {}
    for name in SPLITS:
        if name in files and (name in wanted or name == test_source):
            out[name] = _load_split(files[name], cfg.downscale)
    if test_source is None:
        full = out.pop("train")
        train_idx, test_idx = every_nth_split(len(full), cfg.test_every)
        if not train_idx:
            raise UserError(f"{files['train']} has only {len(full)} frame(s), too few for a held-out split; "
                            "add frames or a transforms_test.json")
        out["train"], out["test"] = full.subset(train_idx), full.subset(test_idx)
        note = (f"test split: no transforms_test.json or transforms_val.json, so every {cfg.test_every}th frame of "
                f"transforms_train.json (0, {cfg.test_every}, ...) is held out: {len(test_idx)} test, "
                f"{len(train_idx)} train")
    elif test_source == "val":
        out["test"] = out["val"] if "val" in wanted else out.pop("val")

    note += f"; {len(out['train'])} train / {len(out['test'])} test views"
    meta = {"downscale": cfg.downscale, "folder": str(root)}
    if cfg.kind == "unbounded":
        from .ngp import captured_scene  # noqa: PLC0415 (the captured scenes' ROI, near and far rules)

        return captured_scene(cfg, out, None, 1, note, "blender", meta)
    if cfg.aabb is not None:
        box, meta["box_rule"] = np.asarray(cfg.aabb, dtype=np.float64), "scene.aabb"
    else:
        box, meta["box_rule"] = object_box(out["train"].cameras, out["train"].images)
    centres = Cameras.cat([out["train"].cameras, out["test"].cameras]).c2w[:, :, 3].double().numpy()
    near, far = near_far_for_box(box, centres)
    return SceneData(
        name=cfg.name,
        splits=out,
        aabb=torch.tensor(box, dtype=torch.float32),
        near=float(cfg.near) if cfg.near is not None else near,
        far=float(cfg.far) if cfg.far is not None else far,
        background=torch.tensor(cfg.background, dtype=torch.float32),
        grid_levels=cfg.grid_levels if cfg.grid_levels is not None else 1,
        split_note=note,
        source_format="blender",
        meta=meta,
    )


def full_size(root: Path) -> tuple[int, int]:
    """(width, height) of the first training image, from its header."""
    path = Path(root) / "transforms_train.json"
    frame = read_transforms(path)["frames"][0]
    return header_size(frame_image_path(Path(root), frame["file_path"], str(path), default_suffix=".png"))


def _load_split(path: Path, downscale: int) -> Split:
    data = read_transforms(path)
    if "camera_angle_x" not in data:
        raise UserError(f"{path} lacks 'camera_angle_x' (horizontal field of view in radians); add it")
    fov = number(data["camera_angle_x"], "camera_angle_x", str(path), positive=True)
    if fov >= math.pi:
        raise UserError(f"{path}: camera_angle_x={fov} is not a field of view below pi radians; fix the file")

    root = path.parent
    paths, poses = [], []
    for i, frame in enumerate(data["frames"]):
        where = f"{path} frame {i}"
        paths.append(frame_image_path(root, frame["file_path"], where, default_suffix=".png"))
        poses.append(parse_pose(frame["transform_matrix"], where))

    images, (w0, h0) = load_images(paths, downscale, label=f"{path.name}")
    c2w = torch.from_numpy(np.stack(poses)).float()  # [N, 3, 4]
    cams = Cameras.from_fov(c2w, w0, h0, fov)
    if downscale > 1:
        cams = cams.scaled(1.0 / downscale)
    assert (cams.height, cams.width) == images.shape[1:3], "image and camera downscale disagree"
    return Split(torch.from_numpy(images), cams, [os.path.relpath(p, root) for p in paths])
