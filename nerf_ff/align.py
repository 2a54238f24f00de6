"""Test-time camera alignment: each evaluated view's pose fitted to the trained field before it is scored.

A held-out photo of a captured scene carries a pose from structure from motion, off by a fraction of a
degree like every other; scored at that pose, its PSNR measures the camera's error as much as the
field's. With `eval.align_steps` each evaluated camera gets a correction of its own (the same
parametrisation as train.pose_refine, poses.py), fitted by the photometric loss against the frozen
field, and the view is scored again at the fitted pose. This is the protocol BARF (Lin et al. 2021)
and nerfstudio's camera optimiser report for refined runs, where the held-out cameras cannot follow
the training cameras' corrections. The given-pose metrics stay the primary figures: aligned ones are
reported beside them, never in their place (the fit sees the test image; it moves 6 numbers per view,
not the field).

With per-image appearance codes (model.appearance_dim) the view's code is fitted too, as NeRF-W
(Martin-Brualla et al. 2021) evaluates: from the left half of the image only, and the aligned view is
scored on its right half, so the code cannot copy what it is scored on.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import Tensor

from .data.cameras import Cameras, pixel_rays
from .fields import RadianceField
from .poses import PoseRefinement
from .render import render_rays
from .samplers import RaySampler

LR = 2e-3  # Adam steps on (radians, box fractions): ~0.1 degree and 0.2 % of the box per step at first
LR_FINAL = 2e-5  # decayed exponentially: the last steps settle instead of jittering around the optimum
CODE_LR = 1e-2  # the appearance code's rate (decayed alike): codes are O(0.1) numbers, poses O(0.01)


def left_half(width: int, cols: Tensor) -> Tensor:
    """Pixels whose column `cols` lies in the left half of the image: where an appearance code is fitted;
    the right half is where the aligned view is scored."""
    return cols < width // 2


def align_camera(field: RadianceField, sampler: RaySampler, cams: Cameras, index: int, gt: Tensor,
                 used: Optional[Tensor], background: Optional[Tensor], steps: int, n_rays: int,
                 box_size: float, seed: int = 0, amp: str = "off") -> tuple[Cameras, dict, Optional[Tensor]]:
    """Fit camera `index` of `cams` to the image gt [H, W, 3] (float, on the evaluation background; only
    pixels where `used` [H, W] is true) against the frozen field: `steps` Adam steps on `n_rays` random
    pixels each. Returns that camera alone with the fitted pose, how far it moved (degrees, % of the box),
    and the view's appearance code [appearance_dim] fitted on the left half (None without codes)."""
    device = field.aabb.device
    cam = cams[index].to(device)
    W, H = cam.size(0)  # the view's own image
    pool = torch.arange(H * W) if used is None else used.reshape(-1).nonzero()[:, 0]
    target = gt.reshape(-1, 3).to(device)
    corr = PoseRefinement(1, box_size).to(device)
    opt = torch.optim.Adam([corr.delta], lr=LR)
    code = None
    if field.appearance is not None:  # starts as the code every novel view gets: the training images' mean
        code = torch.nn.Parameter(field.appearance.weight.detach().mean(0).clone())
        opt.add_param_group({"params": [code], "lr": CODE_LR})
    decay = (LR_FINAL / LR) ** (1 / max(1, steps - 1))
    gen = torch.Generator().manual_seed(seed)
    zeros = torch.zeros(min(n_rays, len(pool)), dtype=torch.long, device=device)
    bg = None if background is None else background.to(device)
    for _ in range(steps):
        pix = pool[torch.randint(len(pool), (len(zeros),), generator=gen)].to(device)
        cols = pix % W
        o, d = corr.rays(cam.c2w, zeros, *pixel_rays(cam, zeros, cols, pix // W))
        codes = None
        if code is not None:  # the code learns from the left half only; the pose from every pixel
            codes = torch.where(left_half(W, cols)[:, None], code, code.detach())
        out = render_rays(field, sampler, o, d, bg, train=False, amp=amp, codes=codes)
        loss = torch.nn.functional.mse_loss(out["rgb"], target[pix])
        # only the view's own gradients: the field is frozen (its weights' gradients are never computed)
        params = [corr.delta] + ([code] if code is not None else [])
        for p, g in zip(params, torch.autograd.grad(loss, params)):
            p.grad = g
        opt.step()
        for group in opt.param_groups:
            group["lr"] *= decay
    with torch.no_grad():
        c2w = corr.refined_c2w(cam.c2w)
        moved = corr.summary()
    fitted = Cameras(c2w.cpu(), cam.fx.cpu(), cam.fy.cpu(), cam.cx.cpu(), cam.cy.cpu(), W, H,
                     None if cam.distortion is None else cam.distortion.cpu())
    return (fitted, {"align_rot_deg": moved["rotation_deg_mean"], "align_move_pct": moved["translation_pct_of_box_mean"]},
            None if code is None else code.detach())


def aligned_summary(mean: Callable[[str], Optional[float]], steps: int, n_rays: int, appearance: bool) -> dict:
    """metrics.json's `aligned` block: the per-view aligned scores and corrections averaged by `mean`
    (a per_view column name → its mean over the views, as for the given-pose figures)."""
    return {"psnr": mean("psnr_aligned"), "ssim": mean("ssim_aligned"),
            "lpips": mean("lpips_aligned"), "rotation_deg_mean": mean("align_rot_deg"),
            "translation_pct_of_box_mean": mean("align_move_pct"), "steps": steps, "rays": n_rays,
            "note": (f"each view's camera fitted to the frozen field ({steps} Adam steps of {n_rays} rays on its own "
                     "image) before scoring, as BARF reports refined runs; the top-level psnr / ssim / lpips are at "
                     "the given poses" + ("; each view's appearance code fitted on the left half of its image, "
                                          "aligned scores over the right half (NeRF-W)" if appearance else ""))}

