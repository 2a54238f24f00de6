"""Radiance field: embedded position → MLP trunk → density (+ features) → colour head.

    x [N,3] world ──scene space (box, or contraction: space.py)──► x01 ──position encoding──► trunk MLP ──► raw [N, 1+F]
        density  sigma = exp(raw[:, 0] + bias)               (gradient-truncated exp)
        colour   rgb   = sigmoid(head([raw[:, 1:], dir_enc(d), a_img]))
        background (optional, opaque photos)  sigmoid(bg_head(SH(d)))   behind everything, per ray
                 dir_enc only if view-dependent; a_img, the appearance code of the sample's training image,
                 only with appearance_dim > 0 (the mean code for any other camera)
"""

from __future__ import annotations

import shutil
from typing import Optional

import torch
from torch import Tensor, nn

from ..config import ModelConfig
from ..encodings import SphericalHarmonics, make_direction_encoding, make_position_encoding
from ..errors import UserError
from ..space import SceneSpace
from .mlp import MLP


class _TruncExp(torch.autograd.Function):
    """exp with its gradient clamped, as instant-ngp does: stable for large pre-activations."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.exp(x.clamp(max=15.0))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * torch.exp(x.clamp(-15.0, 15.0))


def trunc_exp(x: Tensor) -> Tensor:
    return _TruncExp.apply(x)


class RadianceField(nn.Module):
    def __init__(self, cfg: ModelConfig, aabb: Tensor, n_images: int = 0, kind: str = "object"):
        """aabb [6]: the object's box (kind object) or the region of interest (kind unbounded)."""
        super().__init__()
        self.cfg = cfg
        self.space = SceneSpace(kind, aabb)
        self.pos_enc = make_position_encoding(cfg)
        self.trunk = MLP(self.pos_enc.out_dim, cfg.width, cfg.depth, 1 + cfg.geo_features)
        with torch.no_grad():
            self.trunk.net[-1].bias[0] = cfg.density_bias
        self.dir_enc = make_direction_encoding(cfg) if cfg.view_dependent else None
        head_in = cfg.geo_features + (self.dir_enc.out_dim if self.dir_enc is not None else 0)
        self.appearance = None
        if cfg.appearance_dim > 0:
            self.appearance = nn.Embedding(max(1, n_images), cfg.appearance_dim)
            nn.init.zeros_(self.appearance.weight)  # start as if every image looked the same
            head_in += cfg.appearance_dim
        self.head = MLP(head_in, cfg.color_width, cfg.color_depth, 3)
        self.bg_enc = self.bg_head = None
        if cfg.learned_background:  # colour where rays leave the field: a function of direction only
            self.bg_enc = SphericalHarmonics(4)
            self.bg_head = MLP(self.bg_enc.out_dim, 32, 1, 3)

    def background(self, d: Tensor) -> Tensor:
        """Learned background colour [R, 3] for unit directions d [R, 3] (learned_background only)."""
        return torch.sigmoid(self.bg_head(self.bg_enc(d)).float())

    @property
    def aabb(self) -> Tensor:
        return self.space.aabb

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        old = state_dict.pop(prefix + "aabb", None)  # checkpoints before the scene space kept only the box
        if old is not None and prefix + "space.aabb" not in state_dict:
            state_dict[prefix + "space.aabb"] = old
            state_dict[prefix + "space.centre"] = (old[:3] + old[3:]) / 2
            state_dict[prefix + "space.half_size"] = (old[3:] - old[:3]) / 2
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def normalise(self, x: Tensor) -> Tensor:
        return self.space.to_unit(x)  # [N, 3], in [0,1] inside the box / everywhere when contracted

    compiled = False

    def compile_trunk(self) -> None:
        """torch.compile the hot path shared by density and forward (scene space, position encoding,
        trunk MLP; dynamic shapes: the sample count changes every step). Parameters and state_dict are
        unchanged. On a 2-core CPU it is no faster (BENCHMARKS.md, "train.compile"): a switch for the GPU."""
        cpu = next(self.parameters()).device.type == "cpu"
        if cpu and not any(shutil.which(c) for c in ("g++", "c++", "clang++")):
            raise UserError("train.compile on the CPU needs a C++ compiler (g++ or clang++); install one or set "
                            "train.compile=false")
        self._trunk = torch.compile(self._trunk, dynamic=True)
        self.compiled = True

    def _trunk(self, x: Tensor) -> Tensor:
        feats = self.pos_enc(self.normalise(x))
        return self.trunk(feats)  # under autocast the Linear layers run in bf16/fp16

    def density(self, x: Tensor) -> Tensor:
        """sigma [N] at world positions x [N, 3]."""
        return self.sigma_of(self._trunk(x))

    @staticmethod
    def sigma_of(raw: Tensor) -> Tensor:
        """sigma [N] from the trunk's output [N, 1 + features]."""
        return trunc_exp(raw[:, 0].float())

    def forward(self, x: Tensor, d: Tensor, image_index: Optional[Tensor] = None,
                code: Optional[Tensor] = None) -> tuple[Tensor, Tensor]:
        """x [N,3] positions, d [N,3] unit directions, image_index [N] (training image of each sample,
        or None for other cameras), code [N, appearance_dim] (an appearance code fitted to a held-out
        view, align.py; else the mean code) → rgb [N,3] in (0,1), sigma [N]."""
        raw = self._trunk(x)
        return self.color_of(raw, d, image_index, code), self.sigma_of(raw)

    def color_of(self, raw: Tensor, d: Tensor, image_index: Optional[Tensor] = None,
                 code: Optional[Tensor] = None) -> Tensor:
        """rgb [N, 3] from the trunk's output raw [N, 1 + features] (as `forward`): the renderer reuses
        the trunk outputs of its density pass at inference (render.py)."""
        h = raw[:, 1:]
        if self.dir_enc is not None:
            de = self.dir_enc(d) if isinstance(self.dir_enc, SphericalHarmonics) else self.dir_enc((d + 1) / 2)
            h = torch.cat([h, de.to(h.dtype)], dim=-1)
        if self.appearance is not None:
            if image_index is not None:
                code = self.appearance(image_index)
            elif code is None:
                code = self.appearance.weight.mean(0).expand(h.shape[0], -1)
            h = torch.cat([h, code.to(h.dtype)], dim=-1)
        return torch.sigmoid(self.head(h).float())
