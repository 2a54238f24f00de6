"""The one exception type a user should ever see, and the one line for failures of the machine.

Library code raises `UserError("what is wrong; what to do")` for anything caused by input
(files, configs, flags). The CLI prints it as a single line and exits with code 2. Failures of the
machine rather than the input (a folder that cannot be written, a full disk, memory running out) are
printed as one line too, with exit code 1 (`one_line`); every other exception is a bug and keeps its
traceback (shown with --debug for all of them).
"""

from __future__ import annotations

import re
from typing import Optional


class UserError(Exception):
    """Bad input. The message is one line: what is wrong, then what to do about it."""


def first_sentence(text: str, limit: int = 160) -> str:
    """The first sentence of a library's message (ANSI colour codes dropped), whole or cut with an ellipsis."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", text).strip()
    first = re.split(r"(?<=[.!?])\s|\n", text, maxsplit=1)[0].strip() if text else ""
    return first if len(first) <= limit else first[:limit - 1].rstrip() + "…"


def one_line(exc: BaseException) -> tuple[Optional[str], int]:
    """(message, exit code) for an error the user can act on; (None, 1) for a bug (keep the traceback)."""
    if isinstance(exc, UserError):
        return str(exc), 2
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror}; check the path, its permissions and the free disk space", 1
    text = str(exc).strip()
    if isinstance(exc, MemoryError) or (isinstance(exc, RuntimeError) and (
            "out of memory" in text.lower() or "can't allocate memory" in text)):
        first = text.splitlines()[0][:160] if text else "MemoryError"
        return (f"out of memory ({first}); training: smaller images (--set scene.downscale=N), fewer samples a "
                "step (--set train.target_samples=N), smaller eval chunks (--set eval.chunk=N); render / export: a "
                "smaller --resolution or --chunk"), 1
    return None, 1
