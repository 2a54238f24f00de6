"""Depth as a picture: a colormap over a robust range, faded to black where the field is transparent.

Object scenes map depth linearly; unbounded scenes map disparity (1 / depth), so the sky (depth far
beyond the cameras) does not squash everything near into one colour. The range is the 2nd-98th
percentile of the opaque pixels unless given.

Which depth: by default the *median* depth, where half of a ray's weight is reached (the surface the
ray sees). The *expected* depth, the weighted mean distance, is pulled behind a surface by any fainter
layers beyond it, which views from a narrow baseline cannot rule out (forward-facing captures:
1.7x the true depth where the median is within 1 %, BENCHMARKS.md); `--depth expected` shows it.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from torch import Tensor

from .errors import UserError

DEPTH_KINDS = ("median", "expected")  # what a rendered depth is (render.render_image)


def parse_depth(kind: str) -> str:
    """--depth: 'median' (where half a ray's weight is reached) or 'expected' (its weighted mean)."""
    if kind not in DEPTH_KINDS:
        raise UserError(f"--depth {kind!r} is unknown; use median (the surface, the default) or expected "
                        "(the weighted mean distance)")
    return kind


def colormap_lut(name: str = "turbo") -> Tensor:
    """256-entry uint8 RGB lookup table [256, 3] of a matplotlib colormap."""
    import matplotlib  # noqa: PLC0415 (slow import, only needed for depth)

    try:
        cmap = matplotlib.colormaps[name]
    except KeyError:
        raise UserError(f"colormap {name!r} is unknown to matplotlib; use e.g. turbo or viridis") from None
    return torch.from_numpy(cmap(np.linspace(0.0, 1.0, 256), bytes=True)[:, :3].copy())


def colorize_depth(depth: Tensor, opacity: Tensor, lo: float, hi: float, lut: Tensor) -> Tensor:
    """depth, opacity [H, W] → uint8 [H, W, 3]: near = low end of the colormap, faded to black
    where the field is transparent (the depth of a ray that hits nothing means nothing)."""
    t = ((depth.float() - lo) / (hi - lo)).nan_to_num(0.0).clamp(0, 1)
    rgb = lut[(t * 255 + 0.5).to(torch.long)]  # [H, W, 3] uint8
    return (rgb.float() * opacity.float().clamp(0, 1)[..., None] + 0.5).to(torch.uint8)


def depth_value(depth: Tensor, disparity: bool) -> Tensor:
    """What the colormap shows: depth, or -1/depth (near = most negative, infinity = 0)."""
    return -1.0 / depth.float().clamp_min(1e-6) if disparity else depth.float()


def depth_image(depth: Tensor, opacity: Tensor, disparity: bool = False, lo_hi: Optional[tuple[float, float]] = None,
                lut: Optional[Tensor] = None) -> np.ndarray:
    """depth, opacity [H, W] → uint8 [H, W, 3], near at the low end of the colormap (as in videos).
    With `disparity` the value mapped is -1/depth, whose range ends at 0 (infinitely far)."""
    value = depth_value(depth, disparity)
    if lo_hi is None:
        v = value[opacity > 0.5]
        if v.numel() < 16:
            v = value.flatten()
        lo, hi = torch.quantile(v, torch.tensor([0.02, 0.98])).tolist()
        hi = 0.0 if disparity else hi
        lo_hi = (lo, hi if hi > lo else lo + 1e-3)
    return colorize_depth(value, opacity, *lo_hi, colormap_lut() if lut is None else lut).numpy()
