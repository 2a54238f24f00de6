"""Checkpoints: atomic writes, safe loads, a version check.

Format: a `torch.save` dict of tensors and plain Python values only, so it loads with
`torch.load(weights_only=True)` — no code runs on load. `format` and `version` are checked.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from .errors import UserError, first_sentence
from .files import atomic_write

FORMAT = "nerf_ff-checkpoint"
VERSION = 1


def save_checkpoint(state: dict, path: str | os.PathLike) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over `path`.

    A crash or a full disk during the write leaves the previous checkpoint untouched."""
    state = {"format": FORMAT, "version": VERSION, **state}
    atomic_write(path, lambda f: torch.save(state, f), fsync=True)


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no checkpoint at {path}; train first (nerf-ff train ...) or check the run folder")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # truncated file, foreign pickle, not a torch file at all
        first = first_sentence(str(exc)) or type(exc).__name__
        if str(exc).startswith("Weights only load failed"):  # torch's safe loader met something but tensors
            first = "its contents are not a plain PyTorch tensor file"
        raise UserError(f"{path} is not a readable nerf_ff checkpoint ({first}); retrain or restore a backup") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise UserError(f"{path} is not a nerf_ff checkpoint; point to a run folder written by nerf-ff train")
    if state.get("version") != VERSION:
        raise UserError(f"{path} has checkpoint version {state.get('version')}, this nerf_ff reads version "
                        f"{VERSION}; retrain with this version or use the nerf_ff that wrote it")
    return state
