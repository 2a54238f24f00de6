"""Image-quality metrics: MSE, PSNR, SSIM and LPIPS v0.1 (AlexNet / VGG16), pure PyTorch.

Images are float tensors [H, W, 3] in [0, 1] (numpy arrays are accepted; uint8 is divided by
255). PSNR and SSIM are computed in float64 on the images' device and returned as Python floats.
LPIPS weights are the official v0.1 ones, fetched once by `nerf_ff.lpips_weights`
(`nerf-ff fetch-lpips`); without them `compare_images` reports lpips = None and says why.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn

from .errors import UserError
from .lpips_weights import NETS, check_net, load_lpips_npz, lpips_weights_path, require_lpips_weights

# --- PSNR / MSE ----------------------------------------------------------------------------------


def _as_image(img) -> torch.Tensor:
    t = torch.as_tensor(img)
    if t.dtype == torch.uint8:
        return t.to(torch.float64) / 255.0
    if not t.is_floating_point():
        raise ValueError(f"expected a float image in [0, 1], got dtype {t.dtype}")
    return t.to(torch.float64)


def _pair(pred, gt) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = _as_image(pred), _as_image(gt)
    if x.shape != y.shape or x.dim() != 3:
        raise ValueError(f"expected two images [H, W, C] of one shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    return x, y.to(x.device)


def mse(pred, gt) -> float:
    """Mean squared error over all pixels and channels of two [H, W, C] images."""
    x, y = _pair(pred, gt)
    return float(torch.mean((x - y) ** 2))


def psnr(pred, gt, mask=None) -> float:
    """PSNR in dB for images in [0, 1] (data range 1): -10 log10(MSE); inf for identical images.
    mask [H, W] bool: only those pixels are scored (masked-out transients)."""
    if mask is not None:
        pred, gt = pred[mask][None], gt[mask][None]  # the scored pixels as one row of an image
    m = mse(pred, gt)
    return math.inf if m == 0.0 else -10.0 * math.log10(m)


# --- SSIM ----------------------------------------------------------------------------------------

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """Normalised 1-D Gaussian taps [size] (float64), centred on the middle tap."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def _valid_blur_1d(t: torch.Tensor, taps: list[float], dim: int) -> torch.Tensor:
    """Correlate `t` with `taps` along `dim`, keeping only positions where all taps fit.

    A weighted sum of shifted views: float64 grouped convolutions are slow on CPU, and
    unfold + matmul would materialise every window.
    """
    n = t.shape[dim] - len(taps) + 1
    out = taps[0] * t.narrow(dim, 0, n)
    for k in range(1, len(taps)):
        out.add_(t.narrow(dim, k, n), alpha=taps[k])
    return out


def ssim(pred, gt) -> float:
    """Mean SSIM of two [H, W, C] images in [0, 1] (data range 1).

    Gaussian window 11x11, sigma 1.5, K1 = 0.01, K2 = 0.03, local statistics with population
    (biased) variances; the SSIM map is computed with a 'valid' convolution (no padding: only the
    (H-10) x (W-10) positions where the window fits), averaged per channel, then over channels.
    This is the NeRF-evaluation SSIM: tf.image.ssim and multinerf's `compute_ssim`; skimage's
    `structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
    data_range=1, channel_axis=-1)` gives the same number (it crops the padded border).
    """
    x, y = _pair(pred, gt)
    h, w, c = x.shape
    if h < SSIM_WINDOW or w < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW}, got {h}x{w}")
    # the five local moments of every channel, blurred by a separable 'valid' Gaussian
    stack = torch.cat([x, y, x * x, y * y, x * y], dim=-1).permute(2, 0, 1)  # [5C, H, W]
    g = gaussian_window().tolist()
    blur = _valid_blur_1d(_valid_blur_1d(stack, g, dim=2), g, dim=1)  # [5C, H-10, W-10]
    mu_x, mu_y, e_xx, e_yy, e_xy = blur.split(c)  # each [C, H-10, W-10]
    var_x, var_y = e_xx - mu_x**2, e_yy - mu_y**2
    cov = e_xy - mu_x * mu_y
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
        (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    )
    return float(ssim_map.mean(dim=(1, 2)).mean())


# --- LPIPS ---------------------------------------------------------------------------------------

# Backbones as five stages, each ending at a tapped ReLU. ("conv", stride, padding) uses the next
# conv of the weights file; ("pool", kernel, stride) is a max-pool (no padding).
_STAGES = {
    # AlexNet features: relu1 .. relu5
    "alex": [
        [("conv", 4, 2)],
        [("pool", 3, 2), ("conv", 1, 2)],
        [("pool", 3, 2), ("conv", 1, 1)],
        [("conv", 1, 1)],
        [("conv", 1, 1)],
    ],
    # VGG16 features: relu1_2, relu2_2, relu3_3, relu4_3, relu5_3
    "vgg": [
        [("conv", 1, 1)] * 2,
        [("pool", 2, 2)] + [("conv", 1, 1)] * 2,
        [("pool", 2, 2)] + [("conv", 1, 1)] * 3,
        [("pool", 2, 2)] + [("conv", 1, 1)] * 3,
        [("pool", 2, 2)] + [("conv", 1, 1)] * 3,
    ],
}
# smallest image side each backbone accepts (every pooling needs a non-empty input)
LPIPS_MIN_SIZE = {"alex": 31, "vgg": 16}
# LPIPS "scaling layer": inputs in [-1, 1] are shifted and scaled per RGB channel
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)
_EPS = 1e-10
# elements of one feature chunk in the distance head (bounds memory for large images)
_HEAD_CHUNK = 1 << 22


def _build_stage(ops, convs: Sequence[nn.Conv2d]) -> nn.Sequential:
    layers: list[nn.Module] = []
    it = iter(convs)
    for op in ops:
        if op[0] == "pool":
            layers.append(nn.MaxPool2d(op[1], op[2]))
        else:
            conv = next(it)
            conv.stride, conv.padding = (op[1], op[1]), (op[2], op[2])
            layers += [conv, nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


def _conv_from(weight: np.ndarray, bias: np.ndarray) -> nn.Conv2d:
    out_c, in_c, kh, kw = weight.shape
    conv = nn.Conv2d(in_c, out_c, (kh, kw))
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(weight))
        conv.bias.copy_(torch.from_numpy(bias))
    return conv


class LPIPS(nn.Module):
    """LPIPS v0.1 distance (Zhang et al. 2018) with the official linear heads.

    d(x0, x1) = sum over 5 layers l of mean_{h,w} sum_c w_l[c] * (n0 - n1)^2, where n are the
    backbone activations of the scaled inputs, unit-normalised over channels at every pixel.
    `weights`: a converted .npz (default: the fetched cache file for `net`).
    Frozen (no trainable parameters); gradients still flow to the inputs.
    """

    def __init__(self, net: str = "alex", device: str | torch.device = "cpu",
                 weights: str | os.PathLike | None = None):
        super().__init__()
        self.net = check_net(net)
        arrays = load_lpips_npz(weights if weights is not None else require_lpips_weights(net))
        n_convs = NETS[net][2]
        try:
            convs = [_conv_from(arrays[f"conv{i}.weight"], arrays[f"conv{i}.bias"]) for i in range(n_convs)]
            lins = [torch.from_numpy(arrays[f"lin{k}.weight"]).flatten() for k in range(len(_STAGES[net]))]
        except KeyError as e:
            raise UserError(f"LPIPS {net!r} weights lack {e}; delete the file and run `nerf-ff fetch-lpips`")
        stages, i = [], 0
        for ops in _STAGES[net]:
            n = sum(op[0] == "conv" for op in ops)
            stages.append(_build_stage(ops, convs[i:i + n]))
            i += n
        self.stages = nn.ModuleList(stages)
        for k, lin in enumerate(lins):
            self.register_buffer(f"lin{k}", lin)  # [C_k] non-negative channel weights
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()
        self.to(device)

    def forward(self, pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        """pred, gt: [H, W, 3] or [B, H, W, 3] in [0, 1] -> distance [] or [B]."""
        single = pred.dim() == 3
        x0, x1 = (_to_nchw_pm1(t, self.shift.device) for t in (pred, gt))
        if x0.shape != x1.shape or x0.shape[1] != 3:
            raise ValueError(f"LPIPS needs two RGB images of one shape, got {tuple(pred.shape)} and {tuple(gt.shape)}")
        if min(x0.shape[-2:]) < LPIPS_MIN_SIZE[self.net]:
            raise ValueError(f"LPIPS-{self.net} needs images of at least {LPIPS_MIN_SIZE[self.net]} px a side, "
                             f"got {x0.shape[-1]}x{x0.shape[-2]}")
        d = self.distance_nchw(x0, x1)
        return d[0] if single else d

    def distance_nchw(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        """x0, x1: [B, 3, H, W] in [-1, 1] (the lpips package's convention) -> [B]."""
        x0 = (x0 - self.shift) / self.scale
        x1 = (x1 - self.shift) / self.scale
        total = x0.new_zeros(x0.shape[0])
        # stage by stage, so only the current layer's features of both images are alive
        for k, stage in enumerate(self.stages):
            x0, x1 = stage(x0), stage(x1)  # [B, C_k, H_k, W_k]
            total = total + head_distance(x0, x1, getattr(self, f"lin{k}"))
        return total


def head_distance(f0: torch.Tensor, f1: torch.Tensor, weight: torch.Tensor,
                  chunk: int = _HEAD_CHUNK) -> torch.Tensor:
    """One LPIPS layer term: mean over pixels of sum_c weight[c] (f0/|f0| - f1/|f1|)^2 -> [B].

    f0, f1: [B, C, H, W]; weight: [C]. Processed in row bands of about `chunk` elements, so the
    normalised copies never exist at full size.
    """
    b, c, h, w = f0.shape
    rows = max(1, chunk // (b * c * w))
    acc = f0.new_zeros(b)
    for r in range(0, h, rows):
        a, z = f0[:, :, r:r + rows], f1[:, :, r:r + rows]
        na = a / (a.square().sum(1, keepdim=True).sqrt() + _EPS)
        nz = z / (z.square().sum(1, keepdim=True).sqrt() + _EPS)
        acc = acc + torch.einsum("bchw,c->b", (na - nz).square(), weight)
    return acc / (h * w)


def _to_nchw_pm1(img, device) -> torch.Tensor:
    t = torch.as_tensor(img)
    t = t.to(torch.float32) / 255.0 if t.dtype == torch.uint8 else t.to(torch.float32)
    if t.dim() == 3:
        t = t[None]
    if t.dim() != 4:
        raise ValueError(f"expected [H, W, 3] or [B, H, W, 3], got {tuple(t.shape)}")
    return (t.permute(0, 3, 1, 2) * 2 - 1).to(device)  # [B, 3, H, W] in [-1, 1]


_LPIPS_MODELS: dict[tuple[str, str], LPIPS] = {}


def lpips_available(net: str = "alex") -> bool:
    """True when the converted weights for `net` are in the cache."""
    return lpips_weights_path(net) is not None


def get_lpips(net: str = "alex", device: str | torch.device = "cpu") -> LPIPS:
    """The LPIPS module for (net, device), built on first use and reused afterwards."""
    key = (check_net(net), str(torch.device(device)))
    if key not in _LPIPS_MODELS:
        _LPIPS_MODELS[key] = LPIPS(net, device=device)
    return _LPIPS_MODELS[key]


def lpips(pred, gt, net: str = "alex", device: Optional[str | torch.device] = None) -> float:
    """LPIPS distance of two [H, W, 3] images in [0, 1]; `device` defaults to pred's."""
    device = device if device is not None else torch.as_tensor(pred).device
    with torch.inference_mode():
        return float(get_lpips(net, device)(pred, gt))


# --- comparing image files -----------------------------------------------------------------------


def read_image_rgb(path: str | os.PathLike, background: Sequence[float] = (1.0, 1.0, 1.0)) -> np.ndarray:
    """Image file -> float32 [H, W, 3] in [0, 1]; grey is replicated, alpha composited over `background`."""
    import imageio.v3 as iio

    from PIL import Image

    try:
        with Image.open(path) as im:  # a palette's transparency becomes alpha (imageio drops it)
            a = np.asarray(im.convert("RGBA" if "transparency" in im.info else "RGB")) if im.mode == "P" else None
        if a is None:
            a = np.asarray(iio.imread(path))
    except Exception as e:  # noqa: BLE001 - any reader failure is a bad input file
        raise UserError(f"cannot read image {path} ({type(e).__name__}: {e}); check the path and format")
    if a.dtype == np.uint8:
        a = a.astype(np.float32) / 255.0
    elif a.dtype == np.uint16:
        a = a.astype(np.float32) / 65535.0
    elif np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float32)
    else:
        raise UserError(f"image {path} has unsupported pixel type {a.dtype}; save it as 8- or 16-bit PNG")
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[-1] not in (1, 2, 3, 4):
        raise UserError(f"image {path} has shape {a.shape}, not a single grey/RGB/RGBA image; convert it to RGB")
    if a.shape[-1] in (2, 4):  # composite the alpha channel over the background
        alpha = a[..., -1:]
        a = a[..., :-1] * alpha + np.asarray(background, np.float32)[: a.shape[-1] - 1] * (1 - alpha)
    if a.shape[-1] == 1:
        a = np.repeat(a, 3, axis=-1)
    return np.ascontiguousarray(a)


def compare_images(path_a: str | os.PathLike, path_b: str | os.PathLike, lpips_net: str = "alex",
                   device: str | torch.device = "cpu") -> dict:
    """PSNR, SSIM and LPIPS of two image files of equal size.

    Returns {"psnr", "ssim", "lpips", "lpips_net", "width", "height"}; when the LPIPS weights
    are not fetched (or the images are too small for the net), "lpips" is None and "lpips_note"
    says why. Alpha channels are composited over white.
    """
    if lpips_net != "none":
        check_net(lpips_net)
    a, b = read_image_rgb(path_a), read_image_rgb(path_b)
    if a.shape != b.shape:
        raise UserError(f"images differ in size: {Path(path_a).name} is {a.shape[1]}x{a.shape[0]}, "
                        f"{Path(path_b).name} is {b.shape[1]}x{b.shape[0]}; compare images of one size")
    if min(a.shape[:2]) < SSIM_WINDOW:
        raise UserError(f"images are {a.shape[1]}x{a.shape[0]}, too small for SSIM; "
                        f"compare images of at least {SSIM_WINDOW}x{SSIM_WINDOW}")
    ta, tb = torch.from_numpy(a).to(device), torch.from_numpy(b).to(device)
    out = {"psnr": psnr(ta, tb), "ssim": ssim(ta, tb), "lpips": None, "lpips_net": lpips_net,
           "width": a.shape[1], "height": a.shape[0]}
    if math.isinf(out["psnr"]):  # JSON has no Infinity (Python writes it, other readers refuse it)
        out["psnr"], out["psnr_note"] = None, "the images are identical: PSNR is infinite"
    if lpips_net == "none":
        out["lpips_net"] = None
    elif not lpips_available(lpips_net):
        out["lpips_note"] = f"LPIPS {lpips_net!r} weights not fetched; run `nerf-ff fetch-lpips`"
    elif min(a.shape[:2]) < LPIPS_MIN_SIZE[lpips_net]:
        out["lpips_note"] = f"images smaller than {LPIPS_MIN_SIZE[lpips_net]} px a side; LPIPS-{lpips_net} undefined"
    else:
        out["lpips"] = lpips(ta, tb, net=lpips_net, device=device)
    return out
