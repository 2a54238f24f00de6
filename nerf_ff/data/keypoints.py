"""SfM keypoints with depth: the free depth supervision a COLMAP model carries (DS-NeRF).

Every 2D keypoint of a training image that COLMAP triangulated into a 3D point is a ray whose first
surface lies at that point: its depth along the ray is known. `train.depth_loss` (losses.py) pulls
the ray's weight to that depth, which removes the depth ambiguity of narrow-baseline captures.

Only keypoints of the *training* images are used (held-out images stay unseen), only points whose
mean reprojection error is at most MAX_ERROR_PX, and only points in front of the camera. COLMAP's
pixel convention (the top-left pixel's centre at 0.5, 0.5) is ours (`cameras.project`: pixel i
covers u in [i, i+1)), so keypoints scale with the image and need no shift.

`load_scene` attaches them to COLMAP scenes and to transforms.json and LLFF scenes with a COLMAP model
beside them (`nerf-ff process` writes sparse/0; nerfstudio's ns-process-data colmap/sparse/0; LLFF
captures come from COLMAP). Such a model must be in the scene's world frame: the points must project
onto their keypoints through the scene's own cameras (median error at most MAX_FRAME_ERROR_PX), else
the keypoints are left out and metadata says why. nerfstudio's transforms.json states how its world
differs from its COLMAP model's (`applied_transform`, world = A @ COLMAP world); that is applied first.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from ..errors import UserError
from .cameras import Cameras, pixel_rays, project
from .colmap import ColmapImage, ColmapPoints, find_model, has_model, read_model
from .scene import SceneData

MAX_ERROR_PX = 2.0  # points COLMAP could not place within this reprojection error are left out
MAX_FRAME_ERROR_PX = 2.0  # median reprojection through the scene's cameras: else a different world frame


def sfm_keypoints(images: Sequence[Optional[ColmapImage]], points: ColmapPoints, cams: Cameras,
                  model_sizes: Tensor) -> tuple[Tensor, float]:
    """Keypoints of `images` (one per camera of `cams`, None where the model has no such image) as
    [K, 4] float32 rows (camera index, u, v, depth along the unit ray), in the pixels of `cams`
    (the model's pixels, of images sized `model_sizes` [N, 2] (w, h), scaled to each camera's own
    size); and the median distance between the keypoints and their points projected through `cams`,
    in the model's pixels."""
    order = np.argsort(points.ids)
    sorted_ids = points.ids[order]
    good = points.error <= MAX_ERROR_PX
    rows = []
    for c, img in enumerate(images):
        if img is None or len(img.point3D_ids) == 0 or len(sorted_ids) == 0:
            continue
        pos = np.minimum(np.searchsorted(sorted_ids, img.point3D_ids), len(sorted_ids) - 1)
        slot = np.where(sorted_ids[pos] == img.point3D_ids, order[pos], -1)  # -1: untriangulated (id -1) or unknown
        keep = slot >= 0
        keep[keep] = good[slot[keep]]
        if not keep.any():
            continue
        uv = img.xys[keep]
        rows.append(np.concatenate([np.full((len(uv), 1), c), uv, points.xyz[slot[keep]]], axis=1))
    if not rows:
        return torch.zeros(0, 4), 0.0
    kp = torch.from_numpy(np.concatenate(rows))  # [K, 6] float64: camera, u, v, xyz (model pixels)
    cam_idx = kp[:, 0].long()
    scale = cams.all_sizes().double() / model_sizes.double()  # [N, 2]: the model's pixels → the cameras'
    uv = kp[:, 1:3] * scale[cam_idx]
    xyz = kp[:, 3:].float()
    # How far the points land from their keypoints through these cameras (a frame check), in model pixels.
    err = torch.cat([(project(cams, int(c), xyz[cam_idx == c])[0].double() - uv[cam_idx == c]).norm(dim=-1) / scale[c, 0]
                     for c in cam_idx.unique()])
    o, d = pixel_rays(cams, cam_idx, (uv[:, 0] - 0.5).float(), (uv[:, 1] - 0.5).float())
    depth = ((xyz - o) * d).sum(-1)
    front = depth > 0
    out = torch.cat([cam_idx[:, None].float(), uv.float(), depth[:, None]], dim=1)[front]
    return out.contiguous(), float(err.median())


def attach_keypoints(scene: SceneData, folder: Path) -> None:
    """Give `scene`'s training split the keypoints of the COLMAP model in `folder` (sparse/0 or sparse/,
    or nerfstudio's colmap/sparse/0; images matched by file name), when there is one and it is in the
    scene's world frame; the count, or why none, goes to scene.meta["keypoints"]."""
    where = next((f for f in (folder, folder / "colmap") if has_model(f / "sparse" / "0") or has_model(f / "sparse")), None)
    if where is None:
        return
    model_dir = find_model(where)
    train = scene.train
    try:
        model = read_model(model_dir)
    except UserError as exc:
        scene.meta["keypoints"] = f"none: {exc}"
        return
    by_name = {Path(i.name).name: i for i in model.images.values()}
    images = [by_name.get(Path(n).name) for n in train.names]
    if not any(i is not None for i in images):
        scene.meta["keypoints"] = f"none: {model_dir} has no training image"
        return
    own = train.cameras.all_sizes()
    sizes = torch.tensor([own[k].tolist() if i is None else (model.cameras[i.camera_id].width, model.cameras[i.camera_id].height)
                          for k, i in enumerate(images)], dtype=torch.long)  # [N, 2]: the model's image sizes
    frames = [None] + ([np.asarray(scene.meta["applied_transform"], np.float64)] if "applied_transform" in scene.meta else [])
    results = []
    for A in frames:  # the model's own world, and nerfstudio's applied transform of it: the one that fits
        points = model.points if A is None else dataclasses.replace(model.points, xyz=model.points.xyz @ A[:3, :3].T + A[:3, 3])
        results.append(sfm_keypoints(images, points, train.cameras, sizes))
    kp, err = min(results, key=lambda r: r[1])
    if err > MAX_FRAME_ERROR_PX:
        scene.meta["keypoints"] = (f"none: the points of {model_dir} land {err:.1f} px (median) from their keypoints "
                                   "through the scene's cameras; the model is in another world frame")
        return
    train.keypoints = kp
    scene.meta["keypoints"] = f"{len(kp)} from {model_dir} ({err:.2f} px median reprojection)"
