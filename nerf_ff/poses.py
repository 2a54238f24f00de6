"""Camera pose refinement: a correction per training camera, learned with the field.

Poses from structure from motion are off by a fraction of a degree and a little translation; each pixel
then trains a ray next to the one it saw, and fine detail blurs into fog or doubled edges. With
`train.pose_refine` every training camera carries a correction in its own frame,

    c2w' = c2w · [R(ω) | s τ]        ω: axis-angle rotation (radians), τ: translation in scene-box units
                                     (s = the box's longest side, so one learning rate fits every scene)

optimised by the photometric loss alongside the field (as in BARF, Lin et al. 2021, and nerfstudio's
camera optimiser). They start after `train.pose_start` of training: SfM errors are small (a fraction
of a degree) and a field still coarse or fogged pulled the cameras 1-3 degrees astray before it could
tell them anything, a detour they never fully came back from (BENCHMARKS.md).

Field and cameras together can turn, move and scale as one without changing a pixel (the gauge). Left
free, that common motion drifts (Adam takes full steps on its tiny gradients) and carries the scene
out of its box, so after every step it is taken out of the corrections (`fix_gauge`): the given poses
keep fixing the frame, and the corrections are each camera's own error. Held-out and novel cameras have
no correction of their own; `posed` moves them by whatever common motion remains (`common_motion`:
none after fix_gauge, so they stay at their given poses, in the frame the field was trained in).
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import Tensor, nn

from .data.scene import SceneData
from .errors import UserError

REGULARISER = 1e-4  # weight of the squared correction sizes in the loss: a weak pull towards the given poses


def _rotations(omega: Tensor) -> Tensor:
    """Axis-angle vectors [N, 3] → rotation matrices [N, 3, 3] (matrix exponential: smooth at zero)."""
    x, y, z = omega.unbind(-1)
    o = torch.zeros_like(x)
    skew = torch.stack([o, -z, y, z, o, -x, -y, x, o], -1).view(-1, 3, 3)
    return torch.linalg.matrix_exp(skew)


def _log_rotations(R: Tensor) -> Tensor:
    """Rotation matrices [N, 3, 3] → axis-angle vectors [N, 3] (angles below 180 degrees)."""
    v = torch.stack([R[:, 2, 1] - R[:, 1, 2], R[:, 0, 2] - R[:, 2, 0], R[:, 1, 0] - R[:, 0, 1]], -1)  # 2 sin(θ) axis
    sin2 = v.norm(dim=-1)
    theta = torch.atan2(sin2 / 2, (R.diagonal(dim1=1, dim2=2).sum(-1) - 1) / 2)
    factor = torch.where(theta > 1e-4, theta / sin2.clamp_min(1e-12), 0.5 + theta ** 2 / 12)
    return v * factor[:, None]


def common_motion(given: Tensor, moved: Tensor, box_size: float) -> tuple[Tensor, Tensor, Tensor]:
    """The similarity x → s R x + t that best maps the given camera poses [N, 3, 4] onto the moved ones.
    s: the ratio of the centres' spreads (1 when they do not spread); R: least squares over each camera's
    centre (the moved ones unscaled by s) and three points a box size along its axes, so that one camera,
    or cameras on a line, still fix it; t: the centres' means. Equivariant: moving `moved` by a
    similarity composes it with the result. Returns R [3, 3], t [3], s []."""
    given, moved = given.double(), moved.double()
    c, c2 = given[:, :, 3], moved[:, :, 3]
    a, b = c - c.mean(0), c2 - c2.mean(0)
    spread = (a * a).sum()
    s = torch.where(spread > 1e-12 * box_size ** 2, ((b * b).sum() / spread.clamp_min(1e-30)).sqrt(), torch.ones_like(spread))

    def points(centres: Tensor, c2w: Tensor) -> Tensor:  # [4N, 3]: centre, centre + box_size * each axis
        return torch.cat([centres[:, None], centres[:, None] + box_size * c2w[:, :, :3].transpose(1, 2)], 1).reshape(-1, 3)

    p, q = points(a, given), points(b / s, moved)
    p, q = p - p.mean(0), q - q.mean(0)
    U, _, Vt = torch.linalg.svd(q.T @ p)
    D = torch.ones(3, dtype=p.dtype, device=p.device)
    D[2] = torch.sign(torch.linalg.det(U @ Vt))
    R = U @ torch.diag(D) @ Vt
    t = c2.mean(0) - s * R @ c.mean(0)
    return R.float(), t.float(), s.float()


def move_cameras(c2w: Tensor, R: Tensor, t: Tensor, s: Tensor) -> Tensor:
    """Camera poses [N, 3, 4] under the similarity x → s R x + t (orientations turn by R)."""
    return torch.cat([R @ c2w[:, :, :3], s * (R @ c2w[:, :, 3:]) + t[:, None]], dim=-1)


class PoseRefinement(nn.Module):
    def __init__(self, n_images: int, box_size: float):
        super().__init__()
        self.delta = nn.Parameter(torch.zeros(n_images, 6))  # ω (3), τ (3) per training camera
        self.register_buffer("scale", torch.tensor(float(box_size)))

    def corrections(self) -> tuple[Tensor, Tensor]:
        """Rotation [N, 3, 3] and translation [N, 3] (world units) of each camera, in its own frame."""
        return _rotations(self.delta[:, :3]), self.delta[:, 3:] * self.scale

    def regulariser(self) -> Tensor:
        return REGULARISER * (self.delta ** 2).sum(-1).mean()

    def refined_c2w(self, c2w: Tensor) -> Tensor:
        """The corrected camera-to-world matrices [N, 3, 4] of the training cameras c2w [N, 3, 4]."""
        R, t = self.corrections()
        Rc = c2w[:, :, :3]
        return torch.cat([Rc @ R, (Rc @ t[:, :, None]) + c2w[:, :, 3:]], dim=-1)

    @torch.no_grad()
    def fix_gauge(self, c2w: Tensor) -> None:
        """Take out of the corrections the motion every camera shares (a rotation, translation and scale of
        the whole rig). The photometric loss cannot see it, the field moves along; but Adam turns its
        tiny consistent gradients into full learning-rate steps, and a drifting world leaves the scene
        box and the occupancy grid behind. Called after each optimiser step: the given poses fix the frame."""
        refined = self.refined_c2w(c2w)
        R, t, s = common_motion(c2w, refined, float(self.scale))
        fixed = move_cameras(refined, R.T, -(R.T @ t) / s, 1 / s)  # the inverse similarity
        Rc = c2w[:, :, :3]
        self.delta[:, :3] = _log_rotations(Rc.transpose(1, 2) @ fixed[:, :, :3])
        self.delta[:, 3:] = (Rc.transpose(1, 2) @ (fixed[:, :, 3:] - c2w[:, :, 3:]))[..., 0] / self.scale

    def rays(self, c2w: Tensor, img: Tensor, rays_o: Tensor, rays_d: Tensor) -> tuple[Tensor, Tensor]:
        """Rays of training cameras `img` [n] (computed with the given poses c2w [N, 3, 4]) moved with
        their camera's correction: direction Rc R Rcᵀ d, origin about the camera centre likewise, + Rc t."""
        R, t = self.corrections()
        Rc, centre = c2w[:, :, :3], c2w[:, :, 3]
        M = (Rc @ R @ Rc.transpose(1, 2))[img]  # [n, 3, 3]: the correction in world axes
        shift = torch.einsum("nij,nj->ni", Rc, t)[img]
        c = centre[img]
        d = torch.einsum("nij,nj->ni", M, rays_d)
        o = torch.einsum("nij,nj->ni", M, rays_o - c) + c + shift
        return o, d

    @torch.no_grad()
    def summary(self) -> dict:
        """How far the cameras moved: rotation in degrees, translation in world units and in % of the box."""
        angle = self.delta[:, :3].norm(dim=-1) * (180 / math.pi)
        move = self.delta[:, 3:].norm(dim=-1) * self.scale
        return {"cameras": int(len(self.delta)),
                "rotation_deg_mean": round(float(angle.mean()), 4), "rotation_deg_max": round(float(angle.max()), 4),
                "translation_mean": round(float(move.mean()), 5), "translation_max": round(float(move.max()), 5),
                "translation_pct_of_box_mean": round(float(100 * move.mean() / self.scale), 3)}


def posed(scene: SceneData, poses: PoseRefinement | None) -> SceneData:
    """The scene as the trained field sees it: training cameras at their refined poses, every other split
    moved by the gauge motion. A copy: the loaded scene is left as it was (sweeps share one)."""
    if poses is None or "pose_refinement" in scene.meta:  # nothing to do, or done already
        return scene
    train = scene.splits["train"]
    if len(train) != len(poses.delta):
        raise UserError(f"the run refined {len(poses.delta)} training camera poses and scene {scene.name} has "
                        f"{len(train)} training views; evaluate it on the dataset it was trained on")
    given = train.cameras.c2w
    box_size = float(poses.scale)
    with torch.no_grad():
        refined = poses.refined_c2w(given.to(poses.delta.device)).float().cpu()
    R, t, s = common_motion(given, refined, box_size)
    splits = {}
    for name, split in scene.splits.items():
        if name == "train":
            c2w = refined
        else:
            c2w = move_cameras(split.cameras.c2w, R, t, s)
        splits[name] = dataclasses.replace(split, cameras=dataclasses.replace(split.cameras, c2w=c2w))
    # |R - I|_F = 2 sqrt(2) sin(angle / 2) for a rotation by `angle`
    angle = math.degrees(2 * math.asin(min(1.0, float(torch.linalg.matrix_norm(R - torch.eye(3))) / (2 * math.sqrt(2)))))
    meta = {**scene.meta, "pose_refinement": {**poses.summary(), "gauge_rotation_deg": round(angle, 4),
                                              "gauge_translation": round(float(t.norm()), 5),
                                              "gauge_scale": round(float(s), 5)}}
    return dataclasses.replace(scene, splits=splits, meta=meta)
