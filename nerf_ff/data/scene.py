"""What every loader returns: images (uint8, compact) and cameras per split, plus the scene box."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import torch
from torch import Tensor

from .cameras import Cameras, lens_valid


@dataclass
class Split:
    images: Tensor  # [N, H, W, C] uint8, C = 3 (RGB) or 4 (RGBA, straight alpha)
    cameras: Cameras
    names: list[str] = field(default_factory=list)  # file names or view ids, for reports
    # SfM keypoints with depth (keypoints.py), [K, 4] float32: camera index, u, v, depth; train split
    # of COLMAP models only
    keypoints: Optional[Tensor] = None
    # Pixels to learn from and score, [N, H, W] bool (False: a transient object, the photographer's
    # shadow...; nerfstudio's per-frame mask_path), or None: every pixel
    masks: Optional[Tensor] = None

    def __len__(self) -> int:
        return self.images.shape[0]

    def mask_lens_range(self) -> int:
        """Leave out the pixels beyond the lens model's range (cameras.lens_valid); returns how many of
        the images' own pixels that is."""
        valid = lens_valid(self.cameras)
        if valid is None:
            return 0
        lost = int((~valid & self.on_image()).sum())
        self.masks = valid if self.masks is None else self.masks & valid
        return lost

    def on_image(self) -> Tensor:
        """[N, H, W] bool: the canvas pixels that belong to each view's own image (all of them unless the
        images differ in size; cameras.Cameras.sizes)."""
        n, h, w = self.images.shape[:3]
        sizes = self.cameras.all_sizes()
        rows = torch.arange(h)[None, :, None] < sizes[:, 1, None, None]
        cols = torch.arange(w)[None, None, :] < sizes[:, 0, None, None]
        return rows & cols

    def mask_canvas(self) -> None:
        """With images of different sizes: leave the canvas beyond each image out of training and scoring."""
        if self.cameras.sizes is not None:
            inside = self.on_image()
            self.masks = inside if self.masks is None else self.masks & inside

    def view(self, i: int) -> tuple[Tensor, Optional[Tensor]]:
        """Image `i` [h, w, C] uint8 and its mask [h, w] (None: every pixel used), at its own size."""
        w, h = self.cameras.size(i)
        return self.images[i, :h, :w], None if self.masks is None else self.masks[i, :h, :w]

    @property
    def has_alpha(self) -> bool:
        return self.images.shape[-1] == 4

    def subset(self, idx: list[int]) -> "Split":
        """The views `idx`, in that order, with their keypoints renumbered."""
        names = [self.names[i] for i in idx] if len(self.names) == len(self) else []
        kp = self.keypoints
        if kp is not None:
            new = torch.full((len(self),), -1, dtype=torch.long)
            new[torch.as_tensor(idx, dtype=torch.long)] = torch.arange(len(idx))
            slot = new[kp[:, 0].long()]
            kp = torch.cat([slot[slot >= 0, None].to(kp.dtype), kp[slot >= 0, 1:]], dim=1)
        return Split(self.images[idx], self.cameras[idx], names, kp, None if self.masks is None else self.masks[idx])


@dataclass
class SceneData:
    name: str
    splits: dict[str, Split]  # "train", "test" (and "val" where the source has one)
    aabb: Tensor  # [6] float32: xmin, ymin, zmin, xmax, ymax, zmax (world units)
    near: float
    far: float
    background: Tensor = field(default_factory=lambda: torch.ones(3))  # evaluation background
    grid_levels: int = 1  # occupancy-grid cascades: level l covers the aabb scaled by 2^l (object kind)
    kind: str = "object"  # object: bounded by aabb | unbounded: aabb is the region of interest, space
    # beyond it is contracted (space.py)
    split_note: str = ""  # how the held-out split was chosen, written into reports
    source_format: str = ""
    meta: dict = field(default_factory=dict)  # loader-specific facts (e.g. ngp aabb_scale)

    def describe(self, load_seconds: float) -> str:
        """One line on what was loaded: kind, views, image size, and where pixels / keypoints / masks came from."""
        cams = self.train.cameras
        extras = [f"SfM keypoints: {self.meta['keypoints']}"] if "keypoints" in self.meta else []
        extras += [f"masks: {self.meta['masks']}"] if "masks" in self.meta else []
        extras += [f"sparse points: {self.meta['points']}"] if "points" in self.meta else []
        extras += [self.meta["lens_range"]] if "lens_range" in self.meta else []
        if cams.distortion is not None:  # what the loader understood of the lens
            extras += ["lens: " + " and ".join(name for kind, name in ((1, "fisheye (equidistant, k1..k4)"),
                                                                      (0, "OpenCV distortion")) if kind in cams.lens_kinds)]
        pixels = f" ({self.meta['pixels']})" if "pre-downscaled" in self.meta.get("pixels", "") else ""
        size = f"{cams.width}x{cams.height}"
        if any(s.cameras.sizes is not None for s in self.splits.values()):
            sizes = sorted({(int(w), int(h)) for s in self.splits.values() for w, h in s.cameras.all_sizes().tolist()})
            size = f"images of {len(sizes)} sizes ({', '.join(f'{w}x{h}' for w, h in sizes[:4])}{', ...' if len(sizes) > 4 else ''})"
        return (f"scene {self.name}: {self.kind}, {len(self.train)} train / {len(self.test)} test views, "
                f"{size}, loaded in {load_seconds:.1f}s{pixels}" + "".join(f"; {e}" for e in extras))

    @property
    def train(self) -> Split:
        return self.splits["train"]

    @property
    def test(self) -> Split:
        return self.splits["test"]


def every_nth_split(n_frames: int, every: int) -> tuple[list[int], list[int]]:
    """Fixed held-out split for sources that define none: frames 0, every, 2*every, ... are test."""
    test = list(range(0, n_frames, every))
    train = [i for i in range(n_frames) if i % every != 0]
    return train, test
