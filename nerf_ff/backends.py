"""Device and accelerator resolution. The only module that may import optional GPU packages.

Importing nerf_ff never imports nerfacc or tinycudann (nerfacc JIT-builds CUDA code on first use).
What a run actually used is returned as a dict and written into its metrics.json.
"""

from __future__ import annotations

import importlib.util

import torch

from .errors import UserError


def resolve_device(name: str) -> torch.device:
    """auto → cuda when available, else cpu. Asking for cuda without one is an error, not a fallback."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {name} was requested but PyTorch sees no CUDA GPU "
                        f"(torch {torch.__version__}); use --device cpu or install a CUDA build of torch")
    return torch.device(name)


def resolve_amp(amp: str, device: torch.device) -> str:
    """Mixed-precision mode actually used: bf16 on CUDA by default, off on CPU."""
    if device.type != "cuda":
        return "off"
    if amp == "auto":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return amp


def optional_package(name: str) -> bool:
    """Whether an optional accelerator package is installed (without importing it)."""
    return importlib.util.find_spec(name) is not None


def describe(device: torch.device, amp: str, compiled: bool) -> dict:
    """The backends a run used, for metrics.json."""
    info = {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "sampler": "torch",
        "compositing": "torch",
        "field": "torch" + (" + torch.compile" if compiled else ""),
        "amp": amp,
        "nerfacc_installed": optional_package("nerfacc"),
        "tinycudann_installed": optional_package("tinycudann"),
    }
    return info
