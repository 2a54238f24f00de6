"""Multiresolution hash encoding (instant-ngp), in pure PyTorch: the modern reference point.

For an input x01 in [0,1]^d (d = 2 or 3) and levels l = 0..L-1:

    N_l   = floor(N_min * b^l)   cells per side,  b = (N_max / N_min)^(1 / (L-1))   (geometric growth)
    p     = x01 * N_l            position in cell units; corner i = floor(p), fraction f = p - i
    feat_l(x01) = sum over the 2^d corners c in {0,1}^d of  w_c * table_l[index_l(i + c)]
                  w_c = prod_k (f_k if c_k else 1 - f_k)                      (d-linear interpolation)
    out   = [feat_0, ..., feat_{L-1}] (+ x01)                                 # [L*F (+ d)], level-major

index_l: a level whose (N_l + 1)^d vertices fit in T = 2^log2_size entries is indexed densely
(i_x + i_y (N_l+1) + i_z (N_l+1)^2) and gets a table of exactly that many entries; a finer level
uses instant-ngp's spatial hash  (i_x * 1  xor  i_y * 2654435761  xor  i_z * 805459861) mod T,
where colliding vertices share an entry. All levels live in one flat parameter [sum_l T_l, F],
initialised uniform(-1e-4, 1e-4) as in instant-ngp.

Positions outside the box (the outer cascades of a multi-level occupancy grid) are clamped to
[0,1]^d before lookup: the encoding there repeats the nearest face of the box (only the appended
x01, which is not clamped, still varies). Fourier features extrapolate periodically instead; a scene
whose background matters should have its aabb cover it.

Everything is gathered at once over [N, L, 2^d] (levels x corners), never [N, L, 2^d, d]: autograd
keeps the int64 indices, the weights and the gathered features, (L * 2^d) * (12 + 4 F) bytes per point,
0.65 GB for 2^18 points at the default 16 levels and 2 features (plus transient int64 index work of
the same shape). On the CPU, where the trainer aims at 2^15 samples a step, that is 80 MB.
The table lookups run in float32 outside autocast: p reaches N_max = 2048 cell units, beyond the
precision of bf16.

A fused CUDA implementation (tinycudann's `Encoding` with otype HashGrid) would plug in through
nerf_ff/backends.py as an optional backend with this module as its parity reference; it is not
wired in yet.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..config import ModelConfig
from ..errors import UserError
from .fourier import Encoding

PRIMES = (1, 2654435761, 805459861)  # instant-ngp's per-axis hash primes (axis 0 untouched)
INIT_SCALE = 1e-4


def level_resolutions(levels: int, base_resolution: int, max_resolution: int) -> list[int]:
    """Cells per side of each level, growing geometrically from base to max resolution."""
    if levels == 1:
        return [base_resolution]
    growth = math.exp((math.log(max_resolution) - math.log(base_resolution)) / (levels - 1))
    # The small epsilon keeps an exact max (e.g. 16 * 2^7 = 2048) from flooring to 2047.
    return [int(math.floor(base_resolution * growth**level + 1e-6)) for level in range(levels)]


class HashGrid(Encoding):
    """x01 [N, in_dim] in [0,1] → [N, levels * features (+ in_dim)] (see the module docstring)."""

    def __init__(self, in_dim: int = 3, levels: int = 16, log2_size: int = 19, features: int = 2,
                 base_resolution: int = 16, max_resolution: int = 2048, include_input: bool = False):
        super().__init__()
        if in_dim not in (2, 3):
            raise UserError(f"hash grid input dimension {in_dim} is unsupported; use 2 or 3")
        if levels < 1 or features < 1 or not 4 <= log2_size <= 30:
            raise UserError(f"hashgrid_levels={levels}, hashgrid_features={features}, hashgrid_log2_size={log2_size}: "
                            "levels and features must be >= 1 and log2_size in 4..30")
        if not 1 <= base_resolution <= max_resolution:
            raise UserError(f"hashgrid_base_resolution={base_resolution} must be >= 1 and <= "
                            f"hashgrid_max_resolution={max_resolution}")
        self.in_dim, self.levels, self.features = in_dim, levels, features
        self.include_input = include_input
        self.out_dim = levels * features + (in_dim if include_input else 0)
        self.table_size = 2**log2_size
        self.resolutions = level_resolutions(levels, base_resolution, max_resolution)
        sizes, hashed = [], []
        for res in self.resolutions:
            dense = (res + 1) ** in_dim
            hashed.append(dense > self.table_size)
            sizes.append(min(dense, self.table_size))
        self.level_sizes = sizes  # entries of each level's table
        self.hashed = hashed  # whether the level uses the spatial hash (else dense indexing)
        offsets = [0]
        for s in sizes:
            offsets.append(offsets[-1] + s)
        self.table = nn.Parameter(torch.empty(offsets[-1], features).uniform_(-INIT_SCALE, INIT_SCALE))

        # Per-level constants, [L] each, as buffers so they follow .to(device).
        self.register_buffer("_res", torch.tensor(self.resolutions, dtype=torch.float32), persistent=False)
        self.register_buffer("_offset", torch.tensor(offsets[:-1], dtype=torch.long), persistent=False)
        self.register_buffer("_hashed", torch.tensor(hashed), persistent=False)
        # Dense strides (N_l + 1)^k, [L, in_dim].
        strides = [[(res + 1) ** k for k in range(in_dim)] for res in self.resolutions]
        self.register_buffer("_stride", torch.tensor(strides, dtype=torch.long), persistent=False)

    @classmethod
    def from_config(cls, cfg: ModelConfig, in_dim: int = 3) -> "HashGrid":
        return cls(in_dim, levels=cfg.hashgrid_levels, log2_size=cfg.hashgrid_log2_size,
                   features=cfg.hashgrid_features, base_resolution=cfg.hashgrid_base_resolution,
                   max_resolution=cfg.hashgrid_max_resolution, include_input=cfg.include_input)

    def forward(self, x01: Tensor) -> Tensor:
        with torch.autocast(device_type=x01.device.type, enabled=False):
            x = x01.float()
            n, levels = x.shape[0], self.levels
            # NaN positions look up the origin instead of indexing out of range (a device assert on CUDA).
            p = torch.nan_to_num(x.clamp(0.0, 1.0), nan=0.0)[:, None, :] * self._res[None, :, None]  # [N, L, d]
            # Lower corner, capped at N_l - 1 so x01 = 1 interpolates inside the last cell (f = 1).
            cell = torch.minimum(p.floor(), (self._res - 1)[None, :, None])
            frac = p - cell  # [N, L, d] in [0, 1]
            cell = cell.long()
            # Corner j = sum_k c_k 2^k. Per axis, the two candidate terms (c_k = 0, 1) of the dense
            # index, the hash and the weight are combined into [N, L, 2^(k+1)] by broadcasting, so
            # the 2^d corners are never materialised as coordinates.
            dense = hashed = w = None
            for k in range(self.in_dim):
                ck = torch.stack([cell[:, :, k], cell[:, :, k] + 1], dim=-1)  # [N, L, 2]
                fk = frac[:, :, k, None]
                d_k = ck * self._stride[None, :, None, k]
                h_k = ck * PRIMES[k]  # int64: products stay below 2^44
                w_k = torch.cat([1.0 - fk, fk], dim=-1)
                if k == 0:
                    dense, hashed, w = d_k, h_k, w_k
                else:  # new axis slower than the previous ones: [N, L, 2, 2^k] → [N, L, 2^(k+1)]
                    # (sizes spelled out: with no points, n = 0, a -1 would be ambiguous)
                    corners = 2 ** (k + 1)
                    dense = (d_k[..., :, None] + dense[..., None, :]).reshape(n, levels, corners)
                    hashed = (h_k[..., :, None] ^ hashed[..., None, :]).reshape(n, levels, corners)
                    w = (w_k[..., :, None] * w[..., None, :]).reshape(n, levels, corners)
            hashed &= self.table_size - 1  # T is a power of two: mod T
            index = torch.where(self._hashed[None, :, None], hashed, dense) + self._offset[None, :, None]  # [N, L, C]
            # index_select's backward is index_add_ into a zero table: ~3x faster on the CPU than
            # F.embedding's backward (atomics on CUDA, so not bitwise reproducible there).
            feats = self.table.index_select(0, index.reshape(-1)).view(n, levels, 2**self.in_dim, self.features)  # [N, L, C, F]
            out = (w[..., None] * feats).sum(2).reshape(n, levels * self.features)  # [N, L*F]
            if self.include_input:
                out = torch.cat([out, x], dim=-1)  # [N, L*F + d]
            return out
