"""Atomic file writes: a file is written through a hidden temporary file in its own folder and renamed
into place, so a reader, a crash, a kill or a full disk never leaves half a file under the real name
(a half-written metrics.json would make a sweep take an unfinished run as done)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Callable


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], Any], fsync: bool = False) -> Path:
    """Call `write(f)` on a temporary binary file beside `path`, then rename it over `path`.
    `fsync` forces the bytes to disk before the rename (checkpoints: the old one survives a power cut)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        if hasattr(os, "fchmod"):  # mkstemp makes 0600; the file gets what open() would give it
            os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            write(f)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)  # reading the umask means setting it; set it straight back
    os.umask(mask)
    return mask


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return atomic_write(path, lambda f: f.write(data))


def write_json(path: str | os.PathLike, data: Any, indent: int = 2) -> Path:
    return write_bytes(path, (json.dumps(data, indent=indent) + "\n").encode())
