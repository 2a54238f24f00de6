"""Novel-view videos: a camera path → rendered frames → mp4, gif or a folder of PNGs.

    run folder(s) ──load_run──► model
    run's scene ──trajectories──► Cameras
        ──render_image (no autograd; occupancy-grid skipping; samples behind opaque surfaces dropped
          before the colour pass; chunks of rays)──► rgb / depth / opacity
        ──panels (uint8)──► frame ──writer (streamed)──► file

A frame holds one panel per requested output (rgb, depth colour-mapped, opacity in grey), side by
side. With several runs (`--compare`) the frame is a grid: one column per run, labelled at its top,
one row per output. A PNG folder gets one file per output and frame (`rgb_0000.png`,
`depth_0000.png`, ...), each holding that output's panels of all runs side by side.

Depth colours use one range for the whole video (and every run in it), the 2nd-98th percentile of
the depth of opaque pixels over a few low-resolution probe frames of the path, so colours do not
flicker from frame to frame. Unbounded scenes map disparity (-1/depth, up to 0 at infinity) instead,
so the sky does not squash the near scene into one colour (depth.py).

Memory: one frame is rendered at a time, in chunks of rays (`render_image`), with the field
evaluated in bounded slices of samples (render.py); frames go to the writer as uint8 as
soon as they are made. mp4 and PNG output stream; a GIF is assembled by Pillow at the end, so it
holds every frame (as 8-bit palette images) until then: use mp4 for long or large videos. Files
appear only when complete: a video is written under a temporary name and renamed at the end; PNG
frames go to a hidden folder inside the PNG folder and replace the folder's earlier frames
(`OUTPUT_NNNN.png`) only when all are written, so an interrupted render leaves the earlier frames
and a shorter one leaves none of them behind; other files in the folder are kept.
"""

from __future__ import annotations

import math
import os
import shutil
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from . import backends
from .config import RunConfig
from .data.cameras import Cameras
from .depth import colormap_lut, colorize_depth, depth_value, parse_depth
from .errors import UserError
from .model import NeRFModel
from .video_paths import PATHS, at_most, auto_path, camera_path, field_focus_depth
from .video_paths import render_view as _render

OUTPUTS = ("rgb", "depth", "opacity")
VIDEO_SUFFIXES = (".mp4", ".gif")
DEFAULT_FPS = 30.0
PROBE_FRAMES = 5  # frames rendered (small) to fix the depth colour range
PROBE_SIDE = 96  # longest side of those probe renders, pixels
MAX_SIDE = 16384  # --resolution: a 16K frame's float buffers alone take gigabytes
FRAME_NAME = re.compile(r"(rgb|depth|opacity)_\d{4,}\.png")  # the PNG frames a render writes (OUTPUTS)


# ---------------------------------------------------------------- argument parsing

def parse_resolution(text: str) -> tuple[int, int]:
    """'WxH' → (W, H), both positive integers, at most MAX_SIDE."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", str(text))
    if not m or int(m.group(1)) < 1 or int(m.group(2)) < 1:
        raise UserError(f"--resolution {text!r} is not WIDTHxHEIGHT with positive integers; pass e.g. 1280x720")
    if max(int(m.group(1)), int(m.group(2))) > MAX_SIDE:
        raise UserError(f"--resolution {text.strip()} is larger than {MAX_SIDE} pixels on a side (16K); pass e.g. "
                        "3840x2160")
    return int(m.group(1)), int(m.group(2))


def parse_outputs(text: str | Sequence[str]) -> list[str]:
    """'rgb,depth' (or a list) → ['rgb', 'depth'], checked against OUTPUTS, duplicates removed."""
    items = [s.strip() for s in text.split(",")] if isinstance(text, str) else [str(s).strip() for s in text]
    items = [s for s in items if s]
    bad = [s for s in items if s not in OUTPUTS]
    if bad or not items:
        raise UserError(f"--outputs {text!r} must be a comma-separated subset of {','.join(OUTPUTS)}; "
                        "pass e.g. rgb,depth")
    return list(dict.fromkeys(items))


def output_kind(out: Path) -> str:
    """'mp4', 'gif' or 'dir' (an existing folder, or a path without a suffix)."""
    if out.is_dir() or out.suffix == "":
        return "dir"
    if out.suffix.lower() in VIDEO_SUFFIXES:
        return out.suffix.lower()[1:]
    raise UserError(f"--out {out} must end in .mp4 or .gif, or name a folder for PNG frames; change --out")


# ---------------------------------------------------------------- runs and camera paths

@dataclass
class VideoRun:
    """A trained run ready to render."""
    run_dir: Path
    cfg: RunConfig
    model: NeRFModel
    label: str
    amp: str


def default_label(cfg: RunConfig) -> str:
    """'none', 'posenc', 'gaussian sigma=8' ... (ASCII: OpenCV's fonts have no Greek letters)."""
    m = cfg.model
    if m.encoding in ("gaussian", "learned"):
        return f"{m.encoding} sigma={m.sigma:g}"
    return m.encoding


def _scene_identity(cfg: RunConfig, state: dict) -> tuple:
    """What makes two runs share a world frame: the same data source and scene box."""
    sc = cfg.scene
    source = str(Path(sc.path).resolve()) if sc.path else f"builtin:{sc.name}"
    return source, tuple(round(float(v), 6) for v in state["scene"]["aabb"])


def load_runs(run_dirs: Sequence[str | os.PathLike], device: Optional[str] = None,
              labels: Optional[Sequence[str]] = None) -> list[VideoRun]:
    """Load every run (same device); they must share one scene. labels: one per run or None."""
    from .evaluate import load_run  # noqa: PLC0415 (evaluate pulls in the metrics stack)

    if labels is not None and len(labels) != len(run_dirs):
        raise UserError(f"--labels gives {len(labels)} labels for {len(run_dirs)} runs; give one label per run "
                        "(RUN_DIR first, then the --compare runs)")
    runs, first_id = [], None
    for i, run_dir in enumerate(run_dirs):
        cfg, model, state = load_run(run_dir, device=device)
        ident = _scene_identity(cfg, state)
        if first_id is None:
            first_id = ident
        elif ident != first_id:
            raise UserError(f"run {run_dir} was trained on another scene ({ident[0]}) than {run_dirs[0]} "
                            f"({first_id[0]}) or with another scene box; compare runs of one scene")
        amp = backends.resolve_amp(cfg.train.amp, model.field.aabb.device)
        label = labels[i] if labels is not None else default_label(cfg)
        runs.append(VideoRun(Path(run_dir), cfg, model, label, amp))
    if labels is None:  # equal default labels of different runs: tell them apart by folder name
        names = [r.label for r in runs]
        for r in runs:
            if names.count(r.label) > 1 and len({x.run_dir.resolve() for x in runs if x.label == r.label}) > 1:
                r.label = f"{r.label} ({r.run_dir.name})"
    return runs


# ---------------------------------------------------------------- panels

def depth_range(runs: Sequence[VideoRun], cams: Cameras, background: Tensor, chunk: int,
                n_probe: int = PROBE_FRAMES, side: int = PROBE_SIDE, opaque: bool = False,
                depth: str = "median") -> tuple[float, float]:
    """(lo, hi): 2nd and 98th percentile of depth (disparity, up to 0, for unbounded scenes) where opacity
    > 0.5, over `n_probe` evenly spaced frames rendered with the longest side `side` pixels, all runs together."""
    small = at_most(cams, side)
    frames = sorted({int(round(i)) for i in np.linspace(0, len(cams) - 1, min(n_probe, len(cams)))})
    depths, weak = [], []
    for run in runs:
        for i in frames:
            out = _render(run, small, i, background, chunk, opaque, depth)
            value = depth_value(out["depth"], run.model.field.space.contracted)
            depths.append(value[out["opacity"] > 0.5].flatten())
            weak.append(value[out["opacity"] > 0.05].flatten())
    d = torch.cat(depths)
    if d.numel() < 16:  # a nearly transparent field (barely trained): take what is there
        d = torch.cat(weak)
    if d.numel() < 16:
        m = runs[0].model
        return (-1.0 / float(m.near), 0.0) if m.field.space.contracted else (float(m.near), float(m.far))
    lo, hi = torch.quantile(d.float(), torch.tensor([0.02, 0.98])).tolist()
    if runs[0].model.field.space.contracted:
        hi = 0.0  # disparity: the range ends at infinity
    if not hi > lo:
        hi = lo + max(1e-3, abs(lo) * 1e-3)
    return lo, hi


def to_u8(x: Tensor) -> Tensor:
    """[H, W, 3] or [H, W] floats in [0, 1] → uint8 [H, W, 3]."""
    x = (x.float().clamp(0, 1) * 255 + 0.5).to(torch.uint8)
    return x if x.dim() == 3 else x[..., None].expand(*x.shape, 3)


def panels(out: dict, outputs: Sequence[str], depth_lo_hi: Optional[tuple[float, float]],
           lut: Optional[Tensor], disparity: bool = False) -> dict[str, np.ndarray]:
    """render_image's output → {output name: uint8 [H, W, 3] numpy}."""
    res = {}
    for name in outputs:
        if name == "rgb":
            img = to_u8(out["rgb"])
        elif name == "opacity":
            img = to_u8(out["opacity"])
        else:
            img = colorize_depth(depth_value(out["depth"], disparity), out["opacity"], *depth_lo_hi, lut)
        res[name] = np.ascontiguousarray(img.numpy())
    return res


def draw_label(img: np.ndarray, text: str) -> None:
    """White text with a dark outline in the top-left corner of img [H, W, 3] uint8 (in place)."""
    if not text:
        return
    import cv2  # noqa: PLC0415

    text = text.encode("ascii", "replace").decode()  # Hershey fonts draw ASCII only
    h = img.shape[0]
    scale = max(0.3, h / 540)
    thick = max(1, round(h / 360))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    org = (max(2, round(h / 90)), max(2, round(h / 90)) + th)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick, cv2.LINE_AA)


def grid(rows: Sequence[Sequence[np.ndarray]]) -> np.ndarray:
    """Tile equal-sized uint8 images: rows of columns → one image."""
    return np.concatenate([np.concatenate(list(r), axis=1) for r in rows], axis=0)


def pad_even(img: np.ndarray) -> np.ndarray:
    """Pad [H, W, 3] with black to even H and W (yuv420p halves the chroma resolution)."""
    ph, pw = img.shape[0] % 2, img.shape[1] % 2
    return np.pad(img, ((0, ph), (0, pw), (0, 0))) if ph or pw else img


# ---------------------------------------------------------------- writers

def _partial(path: Path) -> Path:
    """Hidden temporary name next to `path`, keeping its suffix (ffmpeg picks the format by it)."""
    return path.with_name(f".{path.stem}.partial{path.suffix}")


class FrameWriter:
    """Streams frames to mp4 / gif / a PNG folder; the file(s) appear only when complete.

    mp4: `write(frame)` with one composed uint8 [H, W, 3] frame. dir: `write_pngs({output: image})`.
    Use as a context manager: leaving with an exception deletes the temporary video.
    """

    def __init__(self, out: Path, kind: str, fps: float):
        self.out, self.kind, self.fps = Path(out), kind, float(fps)
        self.index = 0
        self._writer = None
        self._gif: list = []
        if kind == "dir":
            self.created = not self.out.exists()
            self.out.mkdir(parents=True, exist_ok=True)
            self.tmp = None
            self.frames = self.out / ".partial-frames"  # moved over the earlier frames at close
            shutil.rmtree(self.frames, ignore_errors=True)  # an interrupted render's
            self.frames.mkdir()
        else:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            self.tmp = _partial(self.out)
            try:  # here, not in ffmpeg's pipe (a broken pipe there says nothing about the folder)
                self.tmp.touch()
            except OSError as exc:
                raise UserError(f"cannot write {self.out} ({exc.strerror}); choose another --out or make "
                                f"{self.out.parent} writable") from None

    def write(self, frame: np.ndarray) -> None:
        if self.kind == "mp4":
            if self._writer is None:
                import imageio.v2 as iio2  # noqa: PLC0415

                # macro_block_size=1: frames are padded to even sizes here, not resized by imageio.
                self._writer = iio2.get_writer(self.tmp, format="FFMPEG", mode="I", fps=self.fps, codec="libx264",
                                               pixelformat="yuv420p", quality=8, macro_block_size=1,
                                               ffmpeg_log_level="error")
            self._writer.append_data(pad_even(frame))
        elif self.kind == "gif":
            from PIL import Image  # noqa: PLC0415

            # One byte per pixel while the GIF is assembled (Pillow writes it all at close).
            self._gif.append(Image.fromarray(frame).quantize(256, method=Image.Quantize.MEDIANCUT))
        else:
            raise ValueError("a PNG folder takes write_pngs()")
        self.index += 1

    def write_pngs(self, images: dict[str, np.ndarray]) -> None:
        import imageio.v3 as iio  # noqa: PLC0415

        for name, img in images.items():
            iio.imwrite(self.frames / f"{name}_{self.index:04d}.png", img)
        self.index += 1

    def close(self) -> None:
        if self.kind == "mp4" and self._writer is not None:
            self._writer.close()
        elif self.kind == "gif" and self._gif:
            duration = max(20, round(1000 / self.fps))  # ms per frame; most viewers clamp below 20
            self._gif[0].save(self.tmp, save_all=True, append_images=self._gif[1:], duration=duration, loop=0)
            self._gif = []
        if self.tmp is not None:
            os.replace(self.tmp, self.out)
        if self.kind == "dir":
            for old in self.out.iterdir():
                if FRAME_NAME.fullmatch(old.name):
                    old.unlink()
            for new in sorted(self.frames.iterdir()):
                os.replace(new, self.out / new.name)
            self.frames.rmdir()

    def abort(self) -> None:
        try:
            if self._writer is not None:
                self._writer.close()
        except Exception:  # noqa: BLE001 (already failing; the partial file is removed below)
            pass
        self._gif = []
        if self.tmp is not None and self.tmp.exists():
            self.tmp.unlink()
        if self.kind == "dir":
            shutil.rmtree(self.frames, ignore_errors=True)
            if self.created and not any(self.out.iterdir()):
                self.out.rmdir()

    def __enter__(self) -> "FrameWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


# ---------------------------------------------------------------- rendering a video

def render_video(runs: Sequence[VideoRun], cams: Cameras, out: str | os.PathLike, *, background: Tensor,
                 fps: float = DEFAULT_FPS, outputs: Sequence[str] = ("rgb",), chunk: Optional[int] = None,
                 colormap: str = "turbo", progress: bool = True, opaque: bool = False, depth: str = "median") -> dict:
    """Render every camera of `cams` with every run and write the video / PNG folder `out`. opaque: the
    scene's photos are opaque (runs with a learned background then composite over it). depth: which depth
    the depth panels show, "median" or "expected" (render.render_image).

    Returns {"frames", "seconds", "fps", "out", "resolution", "outputs", "depth_range"}; seconds
    cover the depth probe, rendering and encoding."""
    out = Path(out)
    kind = output_kind(out)
    outputs = parse_outputs(outputs)
    depth = parse_depth(depth)
    if not math.isfinite(fps) or fps <= 0:
        raise UserError(f"--fps must be a positive number, got {fps}; pass e.g. 30")
    if chunk is not None and chunk < 1:
        raise UserError(f"--chunk must be a positive number of rays, got {chunk}; pass e.g. 8192")
    chunk = chunk or runs[0].cfg.eval.chunk
    background = background.float().to(runs[0].model.field.aabb.device)
    compare = len(runs) > 1
    t0 = time.perf_counter()
    lo_hi, lut = None, None
    if "depth" in outputs:
        lo_hi = depth_range(runs, cams, background, chunk, opaque=opaque, depth=depth)
        lut = colormap_lut(colormap)
    bar = None
    if progress:
        from tqdm import tqdm  # noqa: PLC0415

        bar = tqdm(total=len(cams), desc=f"render {out.name}", unit="frame", dynamic_ncols=True)
    try:
        with FrameWriter(out, kind, fps) as writer:
            for i in range(len(cams)):
                per_run = []  # [run][output] uint8 panels; floats are dropped as soon as converted
                for run in runs:
                    p = panels(_render(run, cams, i, background, chunk, opaque, depth), outputs, lo_hi, lut,
                               disparity=run.model.field.space.contracted)
                    if compare:
                        draw_label(p[outputs[0]], run.label)
                        if kind == "dir":
                            for name in outputs[1:]:
                                draw_label(p[name], run.label)
                    per_run.append(p)
                if kind == "dir":
                    writer.write_pngs({name: grid([[p[name] for p in per_run]]) for name in outputs})
                elif compare:  # one column per run, one row per output
                    writer.write(grid([[p[name] for p in per_run] for name in outputs]))
                else:
                    writer.write(grid([[per_run[0][name] for name in outputs]]))
                if bar is not None:
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - t0
    return {"frames": len(cams), "seconds": round(seconds, 3), "fps": round(len(cams) / seconds, 3),
            "out": str(out), "resolution": [cams.width, cams.height], "outputs": list(outputs),
            "depth_range": [round(v, 6) for v in lo_hi] if lo_hi else None, "depth": depth if lo_hi else None}


def render_path(run_dir: str | os.PathLike, path: str = "auto", *, frames: Optional[int] = None,
                fps: Optional[float] = None, resolution: Optional[str | tuple[int, int]] = None,
                outputs: str | Sequence[str] = "rgb", out: Optional[str | os.PathLike] = None,
                compare: Sequence[str | os.PathLike] = (), labels: Optional[str | Sequence[str]] = None,
                chunk: Optional[int] = None, device: Optional[str] = None, progress: bool = True,
                depth: str = "median") -> dict:
    """`nerf-ff render` as a function: load the run(s) and its scene, build the path, render it.

    out defaults to RUN_DIR/videos/<path>.mp4 (<path>-compare.mp4 with compare runs)."""
    from .data import load_scene  # noqa: PLC0415

    if frames is not None and (isinstance(frames, bool) or int(frames) != frames or frames < 1):
        raise UserError(f"--frames must be a positive integer, got {frames}; pass e.g. 120")
    res = parse_resolution(resolution) if isinstance(resolution, str) else resolution
    if res is not None:
        res = parse_resolution(f"{res[0]}x{res[1]}")
    outputs = parse_outputs(outputs)
    depth = parse_depth(depth)
    if isinstance(labels, str):
        labels = [s.strip() for s in labels.split(",")]
    if out is not None:
        output_kind(Path(out))  # a bad suffix fails before anything is loaded
    if path not in PATHS and not path.lower().endswith(".json"):
        raise UserError(f"--path {path!r} is unknown; use {', '.join(PATHS)} or a camera path .json file")
    runs = load_runs([run_dir, *compare], device=device, labels=labels)
    scene = runs[0].model.posed(load_scene(runs[0].cfg.scene, splits=("train", "test")))  # refined cameras
    opaque = not scene.train.has_alpha
    focus = None
    if path in ("auto", "spiral"):
        picked, why = auto_path(scene.train.cameras)
        if path == "auto":
            path = picked
            if progress:
                print(f"path auto: {path} ({why}; --path orbit or spiral to choose)", file=sys.stderr, flush=True)
    if path == "spiral" and picked == "spiral":  # forward-facing: look where the field's surfaces are
        focus = field_focus_depth(runs[0], scene.train.cameras, scene.background, chunk or runs[0].cfg.eval.chunk, opaque)
        if focus is None:
            raise UserError(f"the run in {run_dir} renders nothing opaque from its central training view, so a spiral "
                            "through this forward-facing capture has no subject to look at; train it longer, or use "
                            "--path interpolate or a camera path file")
    cams, file_fps, name = camera_path(scene, path, frames, res, focus_depth=focus)
    if out is None:
        out = Path(run_dir) / "videos" / f"{name}{'-compare' if compare else ''}.mp4"
    result = render_video(runs, cams, out, background=scene.background,
                          fps=fps if fps is not None else (file_fps or DEFAULT_FPS), outputs=outputs, chunk=chunk,
                          progress=progress, opaque=opaque, depth=depth)
    return {**result, "path": name, **({"focus_depth": round(focus, 6)} if focus is not None else {})}
