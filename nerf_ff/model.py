"""The trained object: a radiance field and the ray sampler (occupancy grid) that serves it."""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from .config import RunConfig
from .data.scene import SceneData
from .fields import RadianceField
from .poses import PoseRefinement, posed
from .render import render_rays
from .samplers import RaySampler


class NeRFModel(nn.Module):
    def __init__(self, cfg: RunConfig, aabb: Tensor, near: float, far: float, grid_levels: int = 1,
                 n_images: int = 0, kind: str = "object"):
        """aabb [6]: the object's box, or the region of interest of an unbounded scene (kind)."""
        super().__init__()
        self.field = RadianceField(cfg.model, aabb, n_images, kind=kind)
        self.sampler = RaySampler(cfg.sampler, aabb, near, far, grid_levels, space=self.field.space)
        self.near, self.far = near, far
        self.box_size = float((aabb[3:] - aabb[:3]).max())  # the longest side: pose translations' unit
        self.poses = PoseRefinement(n_images, self.box_size) if cfg.train.pose_refine and n_images > 0 else None

    @classmethod
    def for_scene(cls, cfg: RunConfig, scene: SceneData) -> "NeRFModel":
        return cls(cfg, scene.aabb, scene.near, scene.far, scene.grid_levels, n_images=len(scene.train),
                   kind=scene.kind)

    @classmethod
    def from_geometry(cls, cfg: RunConfig, geo: dict) -> "NeRFModel":
        """The model of a checkpoint's `scene` entry (Trainer.state)."""
        return cls(cfg, torch.tensor(geo["aabb"]), geo["near"], geo["far"], geo["grid_levels"],
                   n_images=geo.get("n_train_images", 0), kind=geo.get("kind", "object"))

    def posed(self, scene: SceneData) -> SceneData:
        """The scene with the cameras this model was trained with: refined training poses, and the other
        splits moved along (poses.py); the scene itself when poses were not refined."""
        return posed(scene, self.poses)

    def forward(self, rays_o: Tensor, rays_d: Tensor, background: Tensor, train: bool = False,
                gen: Optional[torch.Generator] = None, amp: str = "off", image_index: Optional[Tensor] = None,
                near_grad: float = 0.0) -> dict:
        return render_rays(self.field, self.sampler, rays_o, rays_d, background, train=train, gen=gen, amp=amp,
                           image_index=image_index, near_grad=near_grad)
