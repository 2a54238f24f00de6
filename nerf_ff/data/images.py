"""Scene images → compact uint8 arrays, checked, optionally area-downscaled, decoded in threads.

Pre-downscaled copies are used where a dataset ships them (`load_scaled`; mip-NeRF 360, LLFF,
nerfstudio's ns-process-data): for `scene.downscale` d, `images_k/` beside `images/` for the largest
factor k of d that exists, area-downscaled by d / k more (the CPU's automatic downscale 16 of a 4032-px
LLFF capture reads its images_8/ and halves it). Copies are matched by file name (any image suffix),
or by sorted order when the two folders hold equally many images (LLFF renames them:
images/IMG_4026.JPG → images_4/image000.png). They are used only when every copy is within one
pixel of the calibrated size / k, and the cameras are scaled to their exact size; otherwise the
originals are area-downscaled here. Benchmarks (mip-NeRF 360, LLFF) are scored against those copies.

Images of different sizes (several cameras; portrait and landscape) share one canvas, each top-left
(`load_any_size`); the cameras know each one's own size (cameras.Cameras.sizes).

Images keep their channels: RGB stays [H, W, 3], anything with alpha becomes straight-alpha RGBA
[H, W, 4]. Pixel rows are taken as stored: EXIF orientation is ignored, as in instant-ngp and COLMAP
(which computed the intrinsics from the stored pixels).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional, Sequence

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg", ".wmv", ".3gp")


def scaled_size(width: int, height: int, downscale: int) -> tuple[int, int]:
    """Image size after an integer downscale; the same rounding as `Cameras.scaled(1 / downscale)`."""
    factor = 1.0 / downscale
    return round(width * factor), round(height * factor)


def read_image(path: Path, upright: bool = False) -> np.ndarray:
    """Decode one image file → [H, W, 3 | 4] uint8, as stored or (`upright`) turned by its EXIF
    orientation. Any decoding problem is a UserError."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"image {path} does not exist; restore the file or fix the frame's file_path")
    try:
        with Image.open(path) as im:
            im.load()  # Pillow raises on truncated files here (LOAD_TRUNCATED_IMAGES is off)
            return _as_rgb_or_rgba(ImageOps.exif_transpose(im) if upright else im)
    except UserError:
        raise
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        msg = f"image {path} is unreadable, corrupt or truncated ({reason}); re-export or replace it"
        raise UserError(msg) from None


def _as_rgb_or_rgba(im: Image.Image) -> np.ndarray:
    if im.mode.startswith("I;16") or im.mode == "I":
        # 16-bit greyscale: keep the top 8 bits.
        grey = (np.asarray(im).astype(np.uint32) >> 8).clip(0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=-1)
    if im.mode in ("RGB", "RGBA"):
        return np.asarray(im)
    has_alpha = "A" in im.getbands() or (im.mode == "P" and "transparency" in im.info)
    return np.asarray(im.convert("RGBA" if has_alpha else "RGB"))


def downscale_image(img: np.ndarray, downscale: int) -> np.ndarray:
    """Area-downscale [H, W, C] uint8 by an integer factor → [round(H/d), round(W/d), C] uint8.

    RGBA is resized premultiplied (colour x alpha), then un-premultiplied, so the colour of fully
    transparent pixels (black in NeRF-synthetic) does not darken object edges.
    """
    if downscale == 1:
        return img
    h, w = img.shape[:2]
    new_w, new_h = scaled_size(w, h, downscale)
    if new_w < 1 or new_h < 1:
        raise UserError(f"scene.downscale={downscale} shrinks a {w}x{h} image to nothing; use a smaller downscale")
    if img.shape[-1] != 4:
        return cv2.resize(img, (new_w, new_h), interpolation=cv2.INTER_AREA)
    f = img.astype(np.float32) / 255.0
    f[..., :3] *= f[..., 3:]
    small = cv2.resize(f, (new_w, new_h), interpolation=cv2.INTER_AREA)  # [h, w, 4]
    alpha = small[..., 3:]
    small[..., :3] = np.where(alpha > 1e-6, small[..., :3] / np.maximum(alpha, 1e-6), 0.0)
    return (small.clip(0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def header_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image file from its header, without decoding the pixels."""
    with Image.open(path) as im:
        return im.size


def list_images(folder: Path) -> list[Path]:
    """Image files directly in `folder`, sorted by name (hidden files skipped)."""
    return sorted(p for p in Path(folder).iterdir()
                  if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))


def _same_stem(path: Path) -> Optional[Path]:
    if path.is_file():
        return path
    return next((q for q in (path.with_suffix(s) for s in (*IMAGE_SUFFIXES, *(x.upper() for x in IMAGE_SUFFIXES)))
                 if q.is_file()), None)


def copy_factors(downscale: int) -> list[int]:
    """Factors k > 1 of `downscale`, largest first: an `images_k/` copy downscaled by downscale / k more
    gives the same size as the originals downscaled by `downscale` (fewer, smaller files to decode)."""
    return [k for k in range(downscale, 1, -1) if downscale % k == 0]


def prescaled(paths: Sequence[Path], downscale: int, calibrated: tuple[int, int]) -> Optional[tuple[list[Path], int]]:
    """The copies of `paths` already downscaled by the largest factor k of `downscale` that a dataset
    ships (see the module docstring), and k; or None."""
    if downscale <= 1 or not paths:
        return None
    for k in copy_factors(downscale):
        small = _copies([Path(p) for p in paths], k)
        if small is not None and copies_fit(small, k, calibrated):
            return small, k
    return None


def _copies(paths: list[Path], k: int) -> Optional[list[Path]]:
    """`paths`' twins in `<folder>_k/`, by file name or else by sorted order; None if any is missing."""
    small = [_same_stem(p.parent.with_name(f"{p.parent.name}_{k}") / p.name) for p in paths]
    if all(small):
        return small
    parents = {p.parent for p in paths}
    folder = next(iter(parents))
    twin = folder.with_name(f"{folder.name}_{k}")
    if len(parents) != 1 or not twin.is_dir():
        return None
    big, little = list_images(folder), list_images(twin)
    if len(big) != len(little):
        return None
    by_order = dict(zip(big, little))
    small = [by_order.get(p) for p in paths]
    return small if all(small) else None


def copies_fit(copies: Sequence[Path], downscale: int, calibrated: tuple[int, int]) -> bool:
    """Whether every copy is within a pixel of the calibrated size / downscale (headers only)."""
    want_w, want_h = calibrated[0] / downscale, calibrated[1] / downscale
    try:
        for q in copies:
            with Image.open(q) as im:
                w, h = im.size
            if abs(w - want_w) > 1 or abs(h - want_h) > 1:
                return False
    except (OSError, ValueError, UnidentifiedImageError):
        return False  # an unreadable copy: decode and downscale the originals instead
    return True


def pixels_note(downscale: int, copies: Optional[Path] = None, rest: int = 1) -> str:
    """Where a scene's pixels came from, for its meta (and `nerf-ff train`'s first line): the originals
    area-downscaled by `downscale`, or the pre-downscaled `copies` area-downscaled by `rest` more."""
    if copies is not None:
        return f"pre-downscaled copies in {copies}" + (f", area-downscaled by {rest} more" if rest > 1 else "")
    return "originals" + (f", area-downscaled by {downscale}" if downscale > 1 else "")


def load_scaled(paths: Sequence[Path], downscale: int, label: str,
                calibrated: Optional[tuple[int, int]] = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Like `load_any_size`, preferring pre-downscaled copies when `calibrated` (the one size the cameras
    are calibrated for) is known. Returns the images on their canvas, their sizes [N, 2] (w, h) before
    and after downscaling, and where the pixels came from (for the scene's meta). Fit the cameras to the
    stored sizes afterwards (`Cameras.fitted`)."""
    found = prescaled(paths, downscale, calibrated) if calibrated is not None else None
    if found is None:
        images, before, after = load_any_size(paths, downscale, label)
        return images, before, after, pixels_note(downscale)
    small, k = found
    images, _, after = load_any_size(small, downscale // k, label)
    before = np.tile(np.array(calibrated, dtype=np.int64), (len(paths), 1))
    return images, before, after, pixels_note(downscale, small[0].parent, downscale // k)


def load_images(paths: Sequence[Path], downscale: int = 1, label: str = "images") -> tuple[np.ndarray, tuple[int, int]]:
    """Decode (and downscale) images that share one size (formats with one camera for all: NeRF-synthetic,
    LLFF). Returns images [N, H', W', C] uint8 and the original (width, height) before downscaling.
    `label` names the group in error messages (e.g. "the train split of transforms_train.json")."""
    images, before, _ = load_any_size(paths, downscale, label)
    odd = np.flatnonzero((before != before[0]).any(1))
    if len(odd):
        (w0, h0), (w, h) = before[0], before[odd[0]]
        raise UserError(f"images of {label} differ in size: {paths[0]} is {w0}x{h0} but {paths[odd[0]]} is "
                        f"{w}x{h}; this format has one camera for all images: resize them to one size")
    return images, (int(before[0, 0]), int(before[0, 1]))


def load_any_size(paths: Sequence[Path], downscale: int = 1,
                  label: str = "images") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode (and downscale) images in a thread pool. Images of different sizes are stored top-left on
    one canvas (the largest width and height; zeros elsewhere, which the loaders mask: Split.mask_canvas).

    Returns images [N, H', W', C] uint8 and each image's (w, h) [N, 2] int64 before and after downscaling.
    """
    if not paths:
        raise UserError(f"{label} lists no images; add frames to it")

    def work(p: Path) -> tuple[tuple[int, int], np.ndarray]:
        img = read_image(p)
        return (img.shape[1], img.shape[0]), downscale_image(img, downscale)

    workers = max(1, min(8, os.cpu_count() or 1, len(paths)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(work, paths))

    before = np.array([size for size, _ in results], dtype=np.int64)  # [N, 2]
    arrays = [a for _, a in results]
    after = np.array([(a.shape[1], a.shape[0]) for a in arrays], dtype=np.int64)
    if len({a.shape[-1] for a in arrays}) > 1:
        # A mix of RGB and RGBA files: give the RGB ones an opaque alpha channel.
        arrays = [a if a.shape[-1] == 4 else np.concatenate([a, np.full_like(a[..., :1], 255)], -1) for a in arrays]
    if (after == after[0]).all():
        return np.stack(arrays), before, after
    w, h = after.max(0)
    canvas = np.zeros((len(arrays), h, w, arrays[0].shape[-1]), dtype=np.uint8)
    for k, a in enumerate(arrays):
        canvas[k, :a.shape[0], :a.shape[1]] = a
    return canvas, before, after


def load_masks(paths: Sequence[Optional[Path]], sizes: np.ndarray, stored: np.ndarray, canvas_hw: tuple[int, int],
               label: str) -> np.ndarray:
    """Pixel masks [N, H', W'] bool on the images' canvas, for images of full sizes `sizes` [N, 2] (w, h)
    stored at `stored` [N, 2]: a mask file's first channel, non-zero = use the pixel (nerfstudio's
    convention); None = every pixel. A downscaled pixel is used only if every pixel it averages is
    (masked-out content never leaks in)."""
    out = np.ones((len(paths), *canvas_hw), dtype=bool)
    for k, path in enumerate(paths):
        if path is None:
            continue
        if not Path(path).is_file():
            raise UserError(f"{label}: mask {path} does not exist; restore the file or fix the frame's mask_path")
        m = read_image(Path(path))[..., 0] > 0
        size, (w, h) = tuple(int(v) for v in sizes[k]), (int(v) for v in stored[k])
        if (m.shape[1], m.shape[0]) != size:
            raise UserError(f"{label}: mask {path} is {m.shape[1]}x{m.shape[0]} but its image is {size[0]}x{size[1]}; "
                            "use masks of the images' size")
        if m.shape != (h, w):
            m = cv2.resize(m.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA) > 1 - 1e-4
        out[k, :h, :w] = m
    if not any(out[k, :h, :w].any() for k, (w, h) in enumerate(stored)):
        raise UserError(f"{label}: the masks leave no pixel to use (they should be non-zero where the pixel is kept); "
                        "fix or invert the masks")
    return out
