"""The Fourier-feature family: one module, different frequency matrices B.

For a position normalised to the scene box, x01 = (x - aabb_min) / (aabb_max - aabb_min) in [0,1]^3,
and a frequency matrix B of shape [m, 3] (rows are frequencies in cycles per box):

    gamma(x01) = [ sin(2 pi B x01) , cos(2 pi B x01) , x01 ]     # [2m (+3)]
                   `---- m ----'    `---- m ----'    `- only with include_input

The variants differ only in B:
    none       no mapping, gamma(x01) = x01
    basic      B = I (3x3): one cycle per box along each axis
    posenc     B = 2^l e_k for l = 0..L-1, k = x,y,z (level-major): NeRF's positional encoding.
               With p = 2 x01 - 1 in [-1,1], sin(2 pi 2^l x01) = sin(2^l pi p + 2^l pi), i.e. NeRF's
               sin(2^l pi p) up to a constant phase.
    gaussian   B = sigma * N(0, 1)^{m x 3}, drawn once from `seed` (a sigma sweep shares one draw)
    learned    the gaussian initialisation, with B a trainable parameter

sigma is in cycles per scene box: a paper's sigma in world units converts as
sigma_box = sigma_world * box_size.

The projection 2 pi B x01 reaches hundreds of radians at large sigma, so it is always computed in
float32, even inside a bf16 autocast region.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor, nn


class Encoding(nn.Module):
    """Base class: maps [N, in_dim] inputs to [N, out_dim] features."""

    in_dim: int
    out_dim: int

    def get_out_dim(self) -> int:
        return self.out_dim


class Identity(Encoding):
    """`none`: the normalised coordinates themselves."""

    def __init__(self, in_dim: int = 3):
        super().__init__()
        self.in_dim = self.out_dim = in_dim

    def forward(self, x01: Tensor) -> Tensor:
        return x01


class FourierFeatures(Encoding):
    """gamma(x01) = [sin(2 pi B x01), cos(2 pi B x01)] (+ x01). B: [m, in_dim]."""

    def __init__(self, B: Tensor, include_input: bool = True, learnable: bool = False):
        super().__init__()
        B = B.detach().clone().float()
        if learnable:
            self.B = nn.Parameter(B)
        else:
            self.register_buffer("B", B)
        self.include_input = include_input
        self.in_dim = B.shape[1]
        self.out_dim = 2 * B.shape[0] + (self.in_dim if include_input else 0)
        self.window: Optional[Tensor] = None  # [m] coarse-to-fine weights while annealing; None: all on

    def set_anneal(self, progress: Optional[float]) -> None:
        """Coarse-to-fine frequency annealing (BARF / Nerfies style, on |B| rows): with
        level_i = log2(max(|b_i|, 1)) (octaves above one cycle per box) and c = progress * (max level + 1),
        feature i is weighted (1 - cos(pi * clamp(c - level_i, 0, 1))) / 2: at progress 0 only x01 (with
        include_input) passes, each octave fades in in turn, at progress >= 1 everything is on.
        progress None switches annealing off."""
        if progress is None or progress >= 1:
            self.window = None
            return
        level = torch.log2(self.B.detach().norm(dim=1).clamp_min(1.0))  # [m]
        c = max(progress, 0.0) * (float(level.max()) + 1)
        self.window = 0.5 * (1 - torch.cos(math.pi * (c - level).clamp(0, 1)))

    def forward(self, x01: Tensor) -> Tensor:
        with torch.autocast(device_type=x01.device.type, enabled=False):
            x = x01.float()
            proj = (2 * math.pi) * (x @ self.B.t())  # [N, m], float32 for phase accuracy
            m = proj.shape[1]
            w = None if self.window is None else self.window.to(proj.device)
            if proj.requires_grad:  # learned B, or gradients wanted w.r.t. positions
                sin, cos = torch.sin(proj), torch.cos(proj)
                parts = [sin, cos] if w is None else [sin * w, cos * w]
                return torch.cat(parts + ([x] if self.include_input else []), dim=-1)  # [N, 2m (+ in_dim)]
            # No autograd needed: write the blocks in place (no temporaries: on a CPU each large fresh
            # tensor costs page faults; the windowed encoding took 2-6x as long built from them).
            out = torch.empty(x.shape[0], self.out_dim, device=x.device)
            torch.sin(proj, out=out[:, :m])
            torch.cos(proj, out=out[:, m:2 * m])
            if w is not None:
                out[:, :2 * m].view(x.shape[0], 2, m).mul_(w)
            if self.include_input:
                out[:, 2 * m:] = x
            return out


def basic_B(in_dim: int = 3) -> Tensor:
    return torch.eye(in_dim)


def posenc_B(levels: int, in_dim: int = 3) -> Tensor:
    """Axis-aligned powers of two, level-major: rows 2^l e_k."""
    eye = torch.eye(in_dim)
    return torch.cat([(2.0**level) * eye for level in range(levels)], dim=0)  # [L * in_dim, in_dim]


def gaussian_B(n_features: int, sigma: float, seed: int, in_dim: int = 3) -> Tensor:
    """sigma * N(0,1)^{m x in_dim} from an explicit seed; the unit draw is independent of sigma."""
    gen = torch.Generator().manual_seed(seed)
    return sigma * torch.randn(n_features, in_dim, generator=gen)


class SphericalHarmonics(Encoding):
    """Real spherical harmonics of a unit direction, `degree` bands (degree^2 outputs, degree <= 5)."""

    def __init__(self, degree: int = 4):
        super().__init__()
        if not 1 <= degree <= 5:
            raise ValueError("spherical-harmonics degree must be in 1..5")
        self.degree = degree
        self.in_dim, self.out_dim = 3, degree * degree

    def forward(self, d: Tensor) -> Tensor:
        d = d.float()
        x, y, z = d.unbind(-1)
        out = [torch.full_like(x, 0.28209479177387814)]
        if self.degree > 1:
            out += [-0.48860251190291987 * y, 0.48860251190291987 * z, -0.48860251190291987 * x]
        if self.degree > 2:
            xx, yy, zz, xy, yz, xz = x * x, y * y, z * z, x * y, y * z, x * z
            out += [1.0925484305920792 * xy, -1.0925484305920792 * yz, 0.94617469575755997 * zz - 0.31539156525251999,
                    -1.0925484305920792 * xz, 0.54627421529603959 * (xx - yy)]
        if self.degree > 3:
            out += [0.59004358992664352 * y * (-3 * xx + yy), 2.8906114426405538 * xy * z,
                    0.45704579946446572 * y * (1 - 5 * zz), 0.3731763325901154 * z * (5 * zz - 3),
                    0.45704579946446572 * x * (1 - 5 * zz), 1.4453057213202769 * z * (xx - yy),
                    0.59004358992664352 * x * (-xx + 3 * yy)]
        if self.degree > 4:
            out += [2.5033429417967046 * xy * (xx - yy), 1.7701307697799304 * yz * (-3 * xx + yy),
                    0.94617469575756008 * xy * (7 * zz - 1), 0.66904654355728921 * yz * (7 * zz - 3),
                    -3.1735664074561294 * zz + 3.7024941420321507 * zz * zz + 0.31735664074561293,
                    0.66904654355728921 * xz * (7 * zz - 3), 0.47308734787878004 * (xx - yy) * (7 * zz - 1),
                    1.7701307697799304 * xz * (-xx + 3 * yy), -3.7550144126950569 * xx * yy + 0.62583573544917614 * (xx * xx + yy * yy)]
        return torch.stack(out, dim=-1)  # [N, degree^2]
