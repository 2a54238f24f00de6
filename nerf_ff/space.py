"""Scene space: world positions → the unit cube [0,1]^3 that the encodings and the occupancy grid see.

Two kinds (DESIGN.md, "Scene kinds"), chosen per scene (`SceneData.kind`):

    object      u = (x - box_min) / (box_max - box_min)
                The box holds everything; outside it u leaves [0,1] (the sampler never goes there).

    unbounded   y = (x - centre) / half                     the region of interest (ROI) is |y|∞ ≤ 1
                c(y) = y                          |y|∞ ≤ 1
                c(y) = (2 - 1/|y|∞) · y/|y|∞      |y|∞ > 1  (mip-NeRF 360's contraction, L∞ norm as nerfacto)
                u = (c(y) + 2) / 4
                Every world point lands in [0,1]^3: the ROI fills the central half of each axis and all
                space beyond it, out to infinity, the shell around it. The Fourier features therefore only
                ever see the input range they were drawn for; σ is in cycles per contracted box (4 ROI
                half-sizes across).

The L∞ norm keeps the contracted region a cube, so a cubic occupancy grid wastes no cells on it.
`step_scale(x)` is how much longer a marching step is at x than inside the ROI (the samplers grow
their steps like the inverse of the contraction's radial derivative, 1/|y|²), used to turn density into
a cell's opacity.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

KINDS = ("object", "unbounded")


class SceneSpace(nn.Module):
    def __init__(self, kind: str, aabb: Tensor):
        """kind: object | unbounded; aabb [6]: the object's box, or the unbounded scene's ROI box."""
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"unknown scene kind {kind!r}")
        self.kind = kind
        aabb = aabb.detach().clone().float()
        self.register_buffer("aabb", aabb)  # [6]
        self.register_buffer("centre", (aabb[:3] + aabb[3:]) / 2)  # [3]
        self.register_buffer("half_size", (aabb[3:] - aabb[:3]) / 2)  # [3]

    @property
    def contracted(self) -> bool:
        return self.kind == "unbounded"

    def to_unit(self, x: Tensor) -> Tensor:
        """World positions [N, 3] → u [N, 3] (in [0,1]^3 for every x when contracted)."""
        y = (x - self.centre) / self.half_size
        if not self.contracted:
            return 0.5 * (y + 1)
        return 0.25 * (contract(y) + 2)

    def from_unit(self, u: Tensor) -> Tensor:
        """Inverse of to_unit (u strictly inside the unit cube when contracted)."""
        if not self.contracted:
            return self.centre + (2 * u - 1) * self.half_size
        return self.centre + uncontract(4 * u - 2) * self.half_size

    def step_scale(self, x: Tensor) -> Tensor:
        """[N]: marching-step length at x relative to the ROI's step (1 inside; |y|∞² beyond)."""
        if not self.contracted:
            return torch.ones(x.shape[0], device=x.device)
        r = ((x - self.centre) / self.half_size).abs().amax(-1)
        return r.clamp_min(1.0) ** 2

    def extra_repr(self) -> str:
        return f"kind={self.kind}"


def contract(y: Tensor) -> Tensor:
    """[N, 3] → [N, 3] in [-2, 2]^3 (identity inside the unit cube)."""
    r = y.abs().amax(-1, keepdim=True).clamp_min(1e-12)  # [N, 1] L∞ norm
    return torch.where(r <= 1, y, (2 - 1 / r) * (y / r))


def uncontract(z: Tensor, max_norm: float = 2 - 1e-6) -> Tensor:
    """Inverse of `contract` for z in (-2, 2)^3; |z|∞ is clamped below 2 (infinity)."""
    s = z.abs().amax(-1, keepdim=True).clamp(1e-12, max_norm)  # [N, 1]
    r = 1 / (2 - s)  # the L∞ radius that contracts to s
    return torch.where(s <= 1, z, z / s * r)
