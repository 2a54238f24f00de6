"""Progressive rendering for one browser: a small image while the camera moves, refined to full
resolution once it rests, so the viewer stays responsive on a CPU.

    camera message ──► version += 1 ──► [worker] preview (longest side `preview_side`) ──► browser
                                         camera still for `rest_s` ──► full size, abandoned between
                                         ray chunks if the camera moves again ──► browser

The worker renders with the trainer's lock held (no render in the middle of a training step) and, while
training runs, re-renders the resting view every `refresh_s` so the picture follows the model.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Callable, Optional

import numpy as np
import torch

from ..depth import depth_image
from ..render import render_image
from ..video import to_u8
from .camera import camera

OUTPUTS = ("rgb", "depth", "opacity")


class Renderer:
    """What a view needs: the field, sampler, background, and how to show depth. Thread-safe through
    `lock` (the trainer's step lock, or a private one)."""

    def __init__(self, model, background: Optional[torch.Tensor], *, disparity: bool, chunk: int = 4096,
                 amp: str = "off", lock=None):
        self.model = model
        self.background = background
        self.disparity = disparity
        self.chunk = chunk
        self.amp = amp
        self.lock = lock or threading.Lock()

    def render(self, cams, output: str = "rgb", cancel: Optional[Callable[[], bool]] = None) -> Optional[np.ndarray]:
        """uint8 [H, W, 3] of camera 0 of `cams` showing `output`; None if cancelled."""
        with self.lock, torch.no_grad():
            out = render_image(self.model.field, self.model.sampler, cams, 0, self.background, chunk=self.chunk,
                               amp=self.amp, cancel=cancel)
        if out is None:
            return None
        if output == "depth":
            return depth_image(out["depth"], out["opacity"], disparity=self.disparity)
        return np.ascontiguousarray(to_u8(out["rgb"] if output == "rgb" else out["opacity"]).numpy())


class ClientView:
    """The render worker of one browser tab. `update(pose)` is called from viser's camera callback;
    `send(image, full)` puts an image in the browser."""

    def __init__(self, renderer: Renderer, send: Callable[[np.ndarray, bool], None], *, preview_side: int = 64,
                 full_side: int = 512, rest_s: float = 0.15, refresh_s: Optional[float] = None):
        self.renderer = renderer
        self.send = send
        self.preview_side, self.full_side, self.rest_s, self.refresh_s = preview_side, full_side, rest_s, refresh_s
        self.output = "rgb"
        self._pose = None  # (wxyz, position, fov_y, aspect, canvas height)
        self._version = 0
        self._changed_at = 0.0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.hold = threading.Event()  # set: render nothing (a camera-path preview owns the image)
        self.timings: list[dict] = []  # per image sent: version, full or preview, seconds since the change
        self._thread = threading.Thread(target=self._run, daemon=True, name="nerf_ff-view")
        self._thread.start()

    def update(self, wxyz, position, fov_y: float, aspect: float, canvas_height: int) -> None:
        self._pose = (np.asarray(wxyz, np.float64), np.asarray(position, np.float64), float(fov_y), float(aspect),
                      int(canvas_height))
        self._version += 1
        self._changed_at = time.perf_counter()
        self._wake.set()

    def refresh(self) -> None:
        """Re-render the current view (output changed, or the model did)."""
        self._version += 1
        self._changed_at = time.perf_counter() - self.rest_s  # no need to wait for the camera to rest
        self._wake.set()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()

    def _cams(self, side: int):
        wxyz, pos, fov, aspect, canvas_h = self._pose
        canvas_w = canvas_h * aspect
        scale = min(1.0, side / max(canvas_h, canvas_w))
        return camera(wxyz, pos, fov, aspect, max(8, round(canvas_h * scale)))

    def _run(self) -> None:
        shown_preview = shown_full = -1
        last_full_at = time.perf_counter()
        while not self._stop.is_set():
            v = self._version
            if self._pose is None or self.hold.is_set() or (v == shown_full and not self._due(last_full_at)):
                self._wake.wait(0.1 if self.refresh_s else 1.0)
                self._wake.clear()
                continue
            with contextlib.suppress(Exception):  # a closed browser tab must not kill the worker
                if v != shown_preview and v != shown_full and time.perf_counter() - self._changed_at < self.rest_s:
                    img = self.renderer.render(self._cams(self.preview_side), self.output)
                    self._sent(img, False, v)
                    shown_preview = v
                    continue
                if time.perf_counter() - self._changed_at < self.rest_s:
                    time.sleep(0.02)
                    continue
                img = self.renderer.render(self._cams(self.full_side), self.output, cancel=lambda: self._version != v)
                if img is not None:
                    self._sent(img, True, v)
                    shown_full = shown_preview = v
                    last_full_at = time.perf_counter()

    def _due(self, last_full_at: float) -> bool:
        return bool(self.refresh_s) and time.perf_counter() - last_full_at > self.refresh_s

    def _sent(self, img: np.ndarray, full: bool, version: int) -> None:
        self.send(img, full)
        self.timings.append({"version": version, "full": full, "shape": img.shape[:2],
                             "seconds": time.perf_counter() - self._changed_at})
        del self.timings[:-200]
