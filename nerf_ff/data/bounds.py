"""Where the scene is: boxes, regions of interest, near / far, from the cameras (and points, masks).

Rules (each loader uses them unless the scene config sets `aabb` / `near` / `far`):

- Focus (`focus_point`): the point closest to all optical axes when the cameras converge on one (an
  orbit, a walk around an object), else None (a forward-facing capture).
- Region of interest of an unbounded scene (`roi_from_cameras`): a cube at the focus whose half-size is
  the half-width the cameras frame at their median distance from it (distance x tan(half the narrower
  field of view)): the part of the world every view shows, which the scene contraction keeps linear.
  Without a focus (forward-facing): twice the cameras' own spread around their mean, so everything
  they see lies in the contracted shell, where position is linear in disparity (1/depth) as in NeRF's
  NDC space. On the generated forward-facing rig this beat the sparse points' central box (the rule
  before) by 2.0-3.7 dB with SfM keypoints and 5.6-6.5 dB without (three measurements), where it also
  put depth right; a wider ROI, out to the nearest sparse points, lost 1-2 dB without keypoints
  (semi-transparent layers behind the surfaces) and gained 0.7 with them (BENCHMARKS.md). The
  points' central box (else SUBJECT_REACH ROI half-sizes) is kept as `subject_box`: what the cameras
  look at, the default bounds of `nerf-ff export`. The same rule for every layout of the same
  cameras (transforms.json, COLMAP, LLFF), so loaders agree.
- Box of an object scene without one (`object_box`): the bounding box of the visual hull of the
  training views' alpha masks (a point survives where every view that frames it shows the object, and
  at least half the views frame it), carved on a 64^3 grid twice (coarse, then inside the first
  box), padded by two cells. Opaque images give the cameras' common view instead (the ROI rule).
- near / far of a box (`near_far_for_box`): the closest and farthest any camera is from the box.
- Scene box of COLMAP and `process` outputs (`scene_bounds`): the ROI rule, capped by the Chebyshev
  radius holding the central 90% of the sparse points (the subject, not the room behind it);
  `cascade_levels` extends it by doubling until every camera and 95% of the points are covered.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch

from ..errors import UserError
from .cameras import Cameras, project

POINTS_CENTRAL = 0.90
"""Fraction of the sparse points the scene box is sized to hold (before the camera-view cap)."""
MAX_AABB_SCALE = 128  # instant-ngp's largest aabb_scale
HULL_RES = 64
SUBJECT_REACH = 8  # ROI half-sizes a forward-facing capture's subject is taken to lie within, without points
CUSTOMARY_BOX = [-1.5, -1.5, -1.5, 1.5, 1.5, 1.5]  # NeRF-synthetic's, for object scenes with one view


def focus_point(centres: np.ndarray, forward: np.ndarray) -> Optional[np.ndarray]:
    """The point closest (least squares) to all optical axes, or None when the cameras do not
    converge on one (axes nearly parallel, or the point behind most cameras).
    centres [N, 3], forward [N, 3] unit viewing directions."""
    proj = np.eye(3)[None] - forward[:, :, None] * forward[:, None, :]  # [N, 3, 3]
    A, b = proj.mean(0), (proj @ centres[:, :, None]).mean(0)[:, 0]
    if np.linalg.eigvalsh(A)[0] < 0.02:  # all axes within ~8 degrees of one direction: forward-facing
        return None
    p = np.linalg.solve(A, b)
    in_front = ((p - centres) * forward).sum(-1) > 0
    return p if in_front.mean() > 0.75 else None


def half_fov(cams: Cameras) -> float:
    """Half the narrowest field of view (radians) of any camera along either image axis (for one image
    size: that of the widest-focal camera)."""
    wh = cams.all_sizes().double()
    return math.atan(float(torch.minimum(wh[:, 0] / (2 * cams.fx.double().cpu()), wh[:, 1] / (2 * cams.fy.double().cpu())).min()))


def camera_axes(cams: Cameras) -> tuple[np.ndarray, np.ndarray]:
    """Centres [N, 3] and unit viewing directions [N, 3] (float64)."""
    c2w = cams.c2w.double().cpu().numpy()
    return c2w[:, :, 3], -c2w[:, :, 2]


def roi_from_cameras(cams: Cameras, points: Optional[np.ndarray] = None) -> tuple[np.ndarray, float, dict]:
    """Cube (centre [3], half-size) the cameras look at; see the module docstring. Also the facts behind it."""
    centres, forward = camera_axes(cams)
    focus = focus_point(centres, forward)
    if focus is not None:
        dist = float(np.median(np.linalg.norm(centres - focus, axis=-1)))
        half = dist * math.tan(half_fov(cams))
        facts = {"roi_rule": "cameras' common view around the focus of their optical axes", "camera_distance": dist}
        centre = focus
    else:  # forward-facing: contracted beyond the rig, positions are linear in disparity (NeRF's NDC)
        centre = centres.mean(0)
        half = float(np.abs(centres - centre).max()) * 2
        facts = {"roi_rule": "no common focus (forward-facing): twice the cameras' spread around their mean"}
    if not half > 0:  # one camera, or all at one spot: nothing fixes a scale; one world unit
        half = 1.0
        facts = {"roi_rule": "the cameras share one spot, so nothing fixes a scale: one world unit around it"}
    if focus is None:  # what the cameras look at lies beyond the ROI: the export's default bounds
        if points is not None and len(points) >= 4:
            lo, hi = np.percentile(points, [5, 95], axis=0)
            mid = (lo + hi) / 2
            r = float(np.quantile(np.abs(points - mid).max(-1), POINTS_CENTRAL))
            facts["subject_box"] = np.concatenate([mid - r, mid + r]).tolist()
        else:
            facts["subject_box"] = np.concatenate([centre - SUBJECT_REACH * half, centre + SUBJECT_REACH * half]).tolist()
    return centre, half, facts


def object_box(cams: Cameras, images: torch.Tensor) -> tuple[np.ndarray, str]:
    """Box [6] of an object scene from its training views (images [N, H, W, C] uint8); see above."""
    if images.shape[-1] != 4:
        centre, half, _ = roi_from_cameras(cams)
        return np.concatenate([centre - half, centre + half]), "the cameras' common view (opaque images)"
    if len(cams) < 2:
        return np.array(CUSTOMARY_BOX), "NeRF-synthetic's customary box (one view fixes no hull)"
    masks = images[..., 3] > 0  # [N, H, W]
    masks = torch.nn.functional.max_pool2d(masks[:, None].float(), 3, 1, 1)[:, 0] > 0  # 1-pixel safety margin
    centres, _ = camera_axes(cams)
    centre, half, _ = roi_from_cameras(cams)
    reach = float(np.abs(centres - centre).max())  # the object lies between the cameras
    box = np.concatenate([centre - reach, centre + reach])
    for _ in range(2):
        kept = _carve(cams, masks, box)
        if kept is None:
            centre, half, _ = roi_from_cameras(cams)
            return np.concatenate([centre - half, centre + half]), "the cameras' common view (the masks carve nothing)"
        cell = (box[3:] - box[:3]) / HULL_RES
        box = np.concatenate([kept[0] - 2 * cell, kept[1] + 2 * cell])
    return box, "visual hull of the training views' alpha masks"


def _carve(cams: Cameras, masks: torch.Tensor, box: np.ndarray) -> Optional[tuple[np.ndarray, np.ndarray]]:
    """(min, max) of the grid points of `box` inside the visual hull, or None if none survives."""
    axes = [torch.linspace(float(box[k]), float(box[k + 3]), HULL_RES, dtype=torch.float64) for k in range(3)]
    pts = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3).float()  # [P, 3]
    n = masks.shape[0]
    framed = torch.zeros(pts.shape[0], dtype=torch.int32)
    ok = torch.ones(pts.shape[0], dtype=torch.bool)
    for i in range(n):
        w, h = cams.size(i)  # its own image, not the canvas around it
        uv, z = project(cams, i, pts)
        ui, vi = uv[:, 0].floor().long(), uv[:, 1].floor().long()
        inside = (z > 0) & (ui >= 0) & (ui < w) & (vi >= 0) & (vi < h)
        framed += inside.int()
        hit = masks[i][vi.clamp(0, h - 1), ui.clamp(0, w - 1)]
        ok &= ~inside | hit
    ok &= framed * 2 >= n
    if not bool(ok.any()):
        return None
    kept = pts[ok].double().numpy()
    return kept.min(0), kept.max(0)


def near_far_for_box(box: np.ndarray, centres: np.ndarray) -> tuple[float, float]:
    """Closest distance from any camera to the box (a 5% margin; a small positive floor for cameras
    inside it) and the farthest distance to its corners. centres [N, 3]."""
    lo, hi = box[:3], box[3:]
    gap = np.maximum(np.maximum(lo - centres, centres - hi), 0)  # [N, 3] per-axis distance outside
    nearest = float(np.linalg.norm(gap, axis=-1).min())
    corners = np.array([[box[3 * sx], box[1 + 3 * sy], box[2 + 3 * sz]] for sx in (0, 1) for sy in (0, 1)
                        for sz in (0, 1)])
    far = float(np.linalg.norm(centres[:, None] - corners[None], axis=-1).max())
    floor = 0.01 * float((hi - lo).mean())
    return max(0.95 * nearest, floor), far


def scene_bounds(points: np.ndarray, centres: np.ndarray, forward: np.ndarray,
                 half_fov_rad: float) -> tuple[np.ndarray, float, dict]:
    """Cube (centre [3], half-size) around the subject of a sparse reconstruction (module docstring).

    points [P, 3] sparse points, centres [N, 3] and forward [N, 3] the cameras, half_fov_rad (radians)
    half the narrower field of view. Also returns the facts behind the choice (for reports).
    """
    if len(points) < 4:
        raise UserError(f"the sparse model has only {len(points)} 3D points, too few to place the scene box; "
                        "re-run SfM with more overlapping, textured images")
    focus = focus_point(centres, forward)
    if focus is not None:
        centre, rule = focus, "optical axes"
    else:
        lo, hi = np.percentile(points, [5, 95], axis=0)
        centre, rule = (lo + hi) / 2, "points box"
    r_points = float(np.quantile(np.abs(points - centre).max(-1), POINTS_CENTRAL))
    cam_dist = float(np.median(np.linalg.norm(centres - centre, axis=-1)))
    r_view = cam_dist * math.tan(half_fov_rad)
    half = min(r_points, r_view) if r_view > 0 else r_points
    if not half > 0:
        raise UserError("the sparse points collapse to one spot, so no scene box fits; re-run SfM")
    facts = {"centre_rule": rule, "half_points90": r_points, "half_view": r_view, "camera_distance": cam_dist}
    return centre, half, facts


def cascade_levels(centre: np.ndarray, half: float, centres: np.ndarray, points: np.ndarray) -> int:
    """Occupancy cascades (1 + log2 aabb_scale) whose outermost box holds every camera and 95% of the
    points, with a 10% margin; at most 1 + log2(MAX_AABB_SCALE)."""
    reach = max(np.abs(centres - centre).max(), np.quantile(np.abs(points - centre).max(-1), 0.95)) * 1.1
    levels = 1 + max(0, math.ceil(math.log2(max(reach / half, 1.0)) - 1e-9))
    return min(levels, 1 + int(math.log2(MAX_AABB_SCALE)))
