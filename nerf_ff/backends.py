"""Device and accelerator resolution. The only module that may import optional GPU packages.

Importing nerf_ff never imports nerfacc or tinycudann (nerfacc JIT-builds CUDA code on first use).
What a run actually used is returned as a dict and written into its metrics.json.
"""

from __future__ import annotations

import importlib.util
import re

import torch

from .errors import UserError


def resolve_device(name: str) -> torch.device:
    """auto → cuda when available, else cpu. Asking for cuda without one is an error, not a fallback."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not (name in ("cpu", "cuda") or re.fullmatch(r"cuda:\d+", name)):
        raise UserError(f"--device {name!r} is unknown; use auto, cpu, cuda or cuda:N")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {name} was requested but PyTorch sees no CUDA GPU "
                        f"(torch {torch.__version__}); use --device cpu or install a CUDA build of torch")
    return torch.device(name)


def max_field_samples(device: torch.device) -> int:
    """Samples per field call outside autograd (the occupancy-grid update, the sampler's density pass,
    rendering). A CPU runs small calls faster per sample (their activations stay in cache: fox views
    rendered 1.8 → 1.45 s, lego training steps 87 → 75 ms at 2^13 instead of 2^17-2^18; BENCHMARKS.md)."""
    return 2**19 if device.type == "cuda" else 2**13


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


_NERFACC: dict = {}


def load_nerfacc():
    """(module, None) where nerfacc imports and its CUDA ops build, else (None, reason).

    nerfacc JIT-compiles its CUDA extension on first use (about 80 s); that happens here, once per
    process, and only when a CUDA backend was asked for. Never called on CPU-only machines."""
    if "result" in _NERFACC:
        return _NERFACC["result"]
    if not torch.cuda.is_available():
        result = (None, "nerfacc needs a CUDA GPU")
    elif not optional_package("nerfacc"):
        result = (None, "nerfacc is not installed (pip install nerfacc==0.5.3)")
    else:
        try:
            import nerfacc  # noqa: PLC0415 (optional accelerator, imported on request only)

            # Touch a CUDA op so a failing JIT build shows up here, not in the middle of training.
            nerfacc.render_weight_from_density(
                torch.zeros(1, device="cuda"), torch.ones(1, device="cuda"), torch.ones(1, device="cuda"),
                ray_indices=torch.zeros(1, dtype=torch.long, device="cuda"), n_rays=1)
            result = (nerfacc, None)
        except Exception as exc:  # a build failure has many exception types
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            result = (None, f"nerfacc failed to load or build: {first}")
    _NERFACC["result"] = result
    return result


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
