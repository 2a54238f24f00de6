"""Rays → samples → field → compositing, and whole images rendered in bounded-memory chunks."""

from __future__ import annotations

import contextlib
from typing import Callable, Optional

import torch
from torch import Tensor

from .backends import max_field_samples
from .data.cameras import Cameras, pixel_rays
from .fields import RadianceField
from .depth import parse_depth
from .packed import composite, median_depth, render_weights
from .samplers import RaySampler


def autocast_for(device: torch.device, amp: str):
    """bf16 / fp16 autocast on CUDA where asked; a no-op context elsewhere."""
    if device.type != "cuda" or amp == "off":
        return contextlib.nullcontext()
    dtype = torch.float16 if amp == "fp16" else torch.bfloat16
    return torch.autocast("cuda", dtype=dtype)


# Reuse the density pass's trunk outputs in the colour pass at inference (_DensityPass); a switch for
# scripts/cpu_speed.py, which measures what it saves.
REUSE_TRUNK = True


def _sliced(fn, max_samples: int, *inputs: Tensor):
    """fn(*inputs) evaluated in slices of `max_samples` rows (outputs concatenated)."""
    n = inputs[0].shape[0]
    if n <= max_samples:
        return fn(*inputs)
    parts = [fn(*(t[i:i + max_samples] for t in inputs)) for i in range(0, n, max_samples)]
    if isinstance(parts[0], tuple):
        return tuple(torch.cat(p) for p in zip(*parts))
    return torch.cat(parts)


def render_rays(field: RadianceField, sampler: RaySampler, rays_o: Tensor, rays_d: Tensor,
                background: Optional[Tensor], train: bool = False, gen: Optional[torch.Generator] = None,
                amp: str = "off", max_samples: Optional[int] = None, image_index: Optional[Tensor] = None,
                codes: Optional[Tensor] = None, near_grad: float = 0.0) -> dict:
    """Volume-render a batch of rays. rays_o, rays_d: [R, 3]; background: [3] or [R, 3], or None for the
    field's learned background; image_index [R]: the training image of each ray (appearance codes), None
    for novel cameras; codes [R, appearance_dim]: appearance codes of the rays instead (align.py);
    near_grad: the distance from the ray's origin within which samples' gradients are scaled down
    (train.near_grad; 0: off; unit directions assumed).

    Field calls without autograd (the sampler's density pass; everything at inference) are made in
    slices of `max_samples`, so memory is bounded however many samples a chunk of rays produces.
    Returns rgb [R,3], depth [R], opacity [R], n_samples (a 0-d tensor, no host sync), and the packed
    samples with their weights (`ray_indices`, `t_starts`, `t_ends`, `weights` [S]) for losses."""
    n_rays = rays_o.shape[0]
    ctx = autocast_for(rays_o.device, amp)
    max_samples = max_samples or max_field_samples(rays_o.device)

    # 1. sampler: packed intervals along each ray, empty space and occluded space skipped
    reuse = REUSE_TRUNK and not torch.is_grad_enabled() and image_index is None  # inference
    density = _DensityPass(field, rays_o, rays_d, ctx, max_samples, keep_rows=reuse)
    ray_indices, t_starts, t_ends = sampler.sample(rays_o, rays_d, density, train=train, gen=gen)  # [S] each

    # 2. field at the interval midpoints
    t_mid = 0.5 * (t_starts + t_ends)
    raw = density.rows(ray_indices.numel()) if reuse else None
    with ctx:
        if raw is not None:  # the density pass's trunk outputs: only the colour head is left to run
            args = (raw, rays_d[ray_indices]) + (() if codes is None else (codes[ray_indices],))
            rgbs = _sliced(lambda r, d, *c: field.color_of(r, d, None, *c), max_samples, *args)
            sigmas = field.sigma_of(raw)
        else:
            x = rays_o[ray_indices] + rays_d[ray_indices] * t_mid[:, None]  # [S, 3]
            if image_index is not None:
                rgbs, sigmas = field(x, rays_d[ray_indices], image_index[ray_indices])  # [S, 3], [S]
            elif codes is not None:
                rgbs, sigmas = _sliced(lambda a, b, c: field(a, b, code=c), max_samples, x, rays_d[ray_indices],
                                       codes[ray_indices])
            elif torch.is_grad_enabled():
                rgbs, sigmas = field(x, rays_d[ray_indices])
            else:
                rgbs, sigmas = _sliced(field, max_samples, x, rays_d[ray_indices])

    if near_grad > 0 and torch.is_grad_enabled():  # values unchanged, gradients scaled by (t / near_grad)²
        scale = (t_mid / near_grad).square().clamp(max=1.0)
        rgbs, sigmas = _scale_grad(rgbs, scale[:, None]), _scale_grad(sigmas, scale)

    # 3. compositing (over the learned background where asked)
    if background is None:
        background = field.background(rays_d)  # [R, 3]
    weights, _, _ = render_weights(sigmas.float(), t_starts, t_ends, ray_indices, n_rays)  # [S]
    rgb, depth, opacity = composite(weights, rgbs.float(), t_starts, t_ends, ray_indices, n_rays, background)
    n_samples = torch.tensor(ray_indices.numel(), device=rays_o.device)
    return {"rgb": rgb, "depth": depth, "opacity": opacity, "n_samples": n_samples, "weights": weights,
            "ray_indices": ray_indices, "t_starts": t_starts, "t_ends": t_ends}


class _DensityPass:
    """The sampler's density function (sigma of samples given by t_starts, t_ends, ray_indices). With
    `keep_rows` (inference) it keeps the trunk outputs of the samples the sampler keeps
    (`visible_samples` calls `kept` after each wave), so the colour pass does not run the trunk a second
    time on them. `rows(S)` gives them in sample order, or None when the sampler did not report every
    kept sample (the field is then evaluated again)."""

    def __init__(self, field: RadianceField, rays_o: Tensor, rays_d: Tensor, ctx, max_samples: int,
                 keep_rows: bool):
        self.field, self.rays_o, self.rays_d, self.ctx, self.max_samples = field, rays_o, rays_d, ctx, max_samples
        self.keep_rows = keep_rows
        self._last: Optional[Tensor] = None
        self._idx: list[Tensor] = []
        self._rows: list[Tensor] = []

    def __call__(self, t_starts: Tensor, t_ends: Tensor, ray_indices: Tensor) -> Tensor:
        x = self.rays_o[ray_indices] + self.rays_d[ray_indices] * (0.5 * (t_starts + t_ends))[:, None]
        with self.ctx:
            raw = _sliced(self.field._trunk, self.max_samples, x)
        self._last = raw if self.keep_rows else None
        return self.field.sigma_of(raw)

    def kept(self, idx: Tensor, keep: Tensor) -> None:
        """idx [s]: the samples just evaluated (positions among the sampler's candidates); keep [s] bool."""
        if self._last is not None:
            self._idx.append(idx[keep])
            self._rows.append(self._last[keep])
            self._last = None

    def rows(self, n_samples: int) -> Optional[Tensor]:
        if not self._idx or sum(i.numel() for i in self._idx) != n_samples:
            return None
        idx = torch.cat(self._idx)  # the kept samples are the candidates in their order: sort by position
        return torch.cat(self._rows)[torch.argsort(idx)]


class _ScaleGrad(torch.autograd.Function):
    """x in the forward pass (no copy); its gradient times `scale` in the backward pass."""

    @staticmethod
    def forward(ctx, x: Tensor, scale: Tensor) -> Tensor:
        ctx.save_for_backward(scale)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor):
        (scale,) = ctx.saved_tensors
        return grad * scale, None


_scale_grad = _ScaleGrad.apply


def eval_background(field: RadianceField, scene_background: Tensor, opaque: bool) -> Optional[Tensor]:
    """What novel views composite over: the learned background for opaque photos when the field has one
    (None tells render_rays to use it), else the scene's evaluation background."""
    return None if (opaque and field.bg_head is not None) else scene_background


@torch.no_grad()
def render_image(field: RadianceField, sampler: RaySampler, cams: Cameras, index: int,
                 background: Optional[Tensor], chunk: int = 8192, amp: str = "off",
                 max_samples: Optional[int] = None, cancel: Optional[Callable[[], bool]] = None,
                 depth: str = "median", code: Optional[Tensor] = None) -> Optional[dict]:
    """Render camera `index` in chunks of rays: rgb [H,W,3], depth [H,W], opacity [H,W] (on the CPU).
    background: [3], or None for the field's learned background. `cancel` is asked between chunks;
    when it answers True the render stops and None is returned (the viewer, when the camera moves).
    `depth`: "median" (where half a ray's weight is reached: the surface, also where fainter layers lie
    behind it) or "expected" (the weighted mean distance, which such layers pull back). `code`
    [appearance_dim]: the appearance code of the view (align.py), else the training images' mean.

    Memory is bounded by `chunk` (rays in flight), not by the image size: rays are generated per
    chunk and each chunk's output is moved to the CPU before the next one is rendered."""
    parse_depth(depth)
    device = field.aabb.device
    W, H = cams.size(index)  # the camera's own image (scenes with images of several sizes)
    rgb = torch.empty(H * W, 3)
    depth_map = torch.empty(H * W)
    opacity = torch.empty(H * W)
    cams_dev = cams.to(device)
    n_samples = 0
    for start in range(0, H * W, chunk):
        if cancel is not None and cancel():
            return None
        pix = torch.arange(start, min(start + chunk, H * W), device=device)
        idx = torch.full_like(pix, index)
        rays_o, rays_d = pixel_rays(cams_dev, idx, pix % W, pix // W)
        out = render_rays(field, sampler, rays_o, rays_d, None if background is None else background.to(device),
                          train=False, amp=amp, max_samples=max_samples,
                          codes=None if code is None else code.to(device).expand(pix.numel(), -1))
        end = start + pix.numel()
        rgb[start:end] = out["rgb"].clamp(0, 1).cpu()
        if depth == "median":
            d = median_depth(out["weights"], out["t_starts"], out["t_ends"], out["ray_indices"], pix.numel(),
                             out["opacity"])
        else:
            d = out["depth"]
        depth_map[start:end] = d.cpu()
        opacity[start:end] = out["opacity"].cpu()
        n_samples += int(out["n_samples"])
    return {"rgb": rgb.view(H, W, 3), "depth": depth_map.view(H, W), "opacity": opacity.view(H, W),
            "n_samples": n_samples}
