"""Scene loading: one entry point, `load_scene`, dispatching on the scene format.

Formats: blender (NeRF-synthetic transforms_{train,val,test}.json), ngp (instant-ngp / nerfstudio
transforms.json), colmap (a COLMAP sparse model in sparse/0 or sparse/ plus images/), llff
(poses_bounds.npy plus images/), builtin (the procedural scene, no files). `auto` detects from the
folder; transforms files win over sparse/, and sparse/ over poses_bounds.npy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from ..config import SceneConfig, expand_path
from ..errors import UserError
from .scene import SceneData

FORMATS = ("auto", "blender", "ngp", "colmap", "llff", "builtin")


def detect_format(path: Path) -> str:
    """Format of a scene folder (or transforms file) from the files it holds."""
    from .images import VIDEO_SUFFIXES, list_images  # noqa: PLC0415 (decoders load with the images)

    path = Path(path)
    if path.is_file():
        if path.suffix.lower() == ".json":
            return "blender" if path.name.startswith("transforms_") else "ngp"
        if path.suffix.lower() in VIDEO_SUFFIXES:
            raise UserError(f"{path} is a video; run `nerf-ff process {path} --out FOLDER` to get camera poses first, "
                            "then train on FOLDER")
        raise UserError(f"scene.path {path} is a file, not a scene folder; point it at the dataset folder")
    if (path / "transforms_train.json").is_file():
        return "blender"
    if (path / "transforms.json").is_file():
        return "ngp"
    has_llff = (path / "poses_bounds.npy").is_file()
    if (path / "sparse").is_dir():
        if not has_llff:
            return "colmap"  # load_colmap says what is missing (model files, images/)
        from .colmap import find_model  # noqa: PLC0415

        try:
            find_model(path)
            return "colmap"
        except UserError:
            return "llff"  # an empty or partial sparse/ beside LLFF poses
    if has_llff:
        return "llff"
    if not any(path.iterdir()):
        raise UserError(f"scene folder {path} is empty; put the dataset there or fix scene.path")
    if list_images(path) or ((path / "images").is_dir() and list_images(path / "images")):
        raise UserError(f"{path} holds photos but no camera poses; run `nerf-ff process {path} --out FOLDER` "
                        "first, then train on FOLDER")
    raise UserError(f"no transforms_train.json (blender), transforms.json (ngp), sparse/ (colmap) or poses_bounds.npy "
                    f"(llff) in {path}; point scene.path at a dataset folder or set scene.format")


def load_scene(cfg: SceneConfig, yaml_dir: Optional[Path] = None,
               splits: Optional[Sequence[str]] = None) -> SceneData:
    """Load the scene `cfg` describes.

    cfg.path may contain `{datasets}`; relative paths are taken from `yaml_dir` (the scene YAML's
    folder). `splits` limits which splits are decoded (train and test always are; None: all).
    """
    fmt = (cfg.format or "auto").lower()
    if fmt not in FORMATS:
        raise UserError(f"scene.format={cfg.format!r} is unknown; use one of {', '.join(FORMATS)}")
    if fmt == "builtin" or (fmt == "auto" and not cfg.path):
        from .procedural import make_builtin_scene  # lazy: only the built-in scene needs it

        return make_builtin_scene(cfg)
    if not cfg.path:
        raise UserError(f"scene.path is not set for scene.format={fmt}; set scene.path to the dataset folder")

    path = Path(expand_path(cfg.path, yaml_dir))
    if not path.exists():
        raise UserError(f"scene folder {path} does not exist; fix scene.path "
                        "(or set NERF_FF_DATASETS for {datasets})")
    if fmt == "auto":
        fmt = detect_format(path)
    folder = path.parent if path.is_file() else path
    scene = _load(fmt, path, folder, cfg, splits)
    for split in scene.splits.values():  # images of different sizes: each trains and scores its own pixels
        split.mask_canvas()
    beyond = {name: split.mask_lens_range() for name, split in scene.splits.items()}
    if any(beyond.values()):
        scene.meta["lens_range"] = ("pixels beyond the lens model's range left out: "
                                    + ", ".join(f"{n} {name}" for name, n in beyond.items() if n))
    if fmt in ("ngp", "colmap", "llff"):  # SfM keypoints for train.depth_loss, where a COLMAP model is there
        from .keypoints import attach_keypoints

        attach_keypoints(scene, folder)
    return scene


def full_size(cfg: SceneConfig, yaml_dir: Optional[Path] = None) -> Optional[tuple[int, int]]:
    """(width, height) of the scene's images at full size, read cheaply (one image header or the
    format's own metadata) so a resolution can be chosen before the images are decoded. None for the
    built-in scene, or when the folder is broken: load_scene then says what is wrong."""
    fmt = (cfg.format or "auto").lower()
    if fmt == "builtin" or not cfg.path:
        return None
    try:
        path = Path(expand_path(cfg.path, yaml_dir))
        fmt = detect_format(path) if fmt == "auto" else fmt
        folder = path.parent if path.is_file() else path
        if fmt == "blender":
            from .blender import full_size as size
        elif fmt == "ngp":
            from .ngp import full_size as size

            folder = path if path.is_file() else path / "transforms.json"
        elif fmt == "colmap":
            from .colmap import full_size as size
        elif fmt == "llff":
            from .llff import full_size as size
        else:
            return None
        w, h = size(folder)
        return (int(w), int(h)) if w > 0 and h > 0 else None
    except (UserError, OSError, KeyError, IndexError, TypeError, ValueError, AttributeError):
        return None


def _load(fmt: str, path: Path, folder: Path, cfg: SceneConfig, splits: Optional[Sequence[str]]) -> SceneData:
    if fmt == "blender":
        from .blender import load_blender

        return load_blender(folder, cfg, splits)
    if fmt == "ngp":
        from .ngp import load_ngp

        json_path = path if path.is_file() else path / "transforms.json"
        if not json_path.is_file():
            raise UserError(f"{folder} has no transforms.json; point scene.path at an instant-ngp scene "
                            "or set scene.format")
        return load_ngp(json_path, cfg, splits)
    if fmt == "colmap":
        from .colmap import load_colmap

        return load_colmap(folder, cfg, splits)
    if fmt == "llff":
        from .llff import POSES_FILE, load_llff

        if not (folder / POSES_FILE).is_file():
            raise UserError(f"{folder} has no {POSES_FILE}; point scene.path at an LLFF scene or set scene.format")
        return load_llff(folder, cfg, splits)
    raise AssertionError(fmt)
