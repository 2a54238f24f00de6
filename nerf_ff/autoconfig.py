"""Automatic defaults: model, grid, marching and batch sized for the device and the scene kind.

`nerf-ff train SCENE` with no `--config` preset builds its config as
    defaults < configs/auto/<device>-<kind>.yaml < scene YAML < flags < --set
where device is cpu or cuda and kind object or unbounded (space.py), and then picks σ from the scene's
resolution unless a layer sets it (`auto_sigma`). A preset switches all of this off: presets are exact
protocols (defaults < scene YAML < presets < flags < --set), as before. The run prints what it picked
and `config.yaml` records it.

σ from the resolution. Fourier features of σ cycles per box put most of their energy below ~2σ; an
image shows at most P/2 cycles over P pixels. With P the pixels the box spans in a typical training
view (its largest side at the median camera distance; for unbounded scenes the contracted box, twice
the region of interest), σ = P / SIGMA_PIXELS_PER_CYCLE clamped to [1, 64]: on the built-in scene at
64x64 (P ≈ 55) that is σ ≈ 2, the argmax of its σ sweep (BENCHMARKS.md). Cameras inside the box (a
forward-facing rig whose box is its own spread) are taken at the box's half-size: what they see lies
at least that far out, in the contracted shell. Dividing by their tiny distance to the centre gave a
forward-facing transforms.json σ 39 instead of 12 and cost it 9.4-9.7 dB (two measurements, BENCHMARKS.md).

Resolution. Unless a layer sets scene.downscale, the images are downscaled (by the smallest integer)
so that their long side is at most AUTO_MAX_SIDE pixels for the device, decided from one image
header before anything is decoded (`pick_downscale`). On the CPU that is 256 px: fox at 240x135
reached ~25 dB held-out in 10 minutes, while at full size (1920x1080) σ came out at 64, a step
trained 256 rays, and one held-out view took minutes to render. On CUDA it is 1600 px, nerfstudio's
cap: NeRF-synthetic stays at full size, a phone video at 1920x1080 is halved.

Depth from SfM keypoints. A scene that comes with a COLMAP model (COLMAP scenes, `nerf-ff process`
output, LLFF captures with their model; data/keypoints.py) gets train.depth_loss = AUTO_DEPTH_LOSS
unless a layer sets it: on a forward-facing rig it removed the seed spread of depth and PSNR (4
seeds, BENCHMARKS.md), and the weight is small enough that colour still wins where a keypoint is wrong.

Floaters in front of the cameras. An unbounded scene whose cameras look at a common focus (a walk
around, an orbit) gets train.near_grad = AUTO_NEAR_GRAD unless a layer sets it: fox lost the floater
in front of one held-out camera (+1.5 dB on a loaded CPU; idle +0.3, within run-to-run spread). A forward-facing rig does not:
its subject is near the cameras on the box's scale, and the scaled gradients cost it 2.5 dB.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from .backends import resolve_device
from .config import RunConfig, compose, load_yaml, project_root
from .data.bounds import camera_axes, focus_point
from .data.scene import SceneData

SIGMA_PIXELS_PER_CYCLE = 25.0
SIGMA_RANGE = (1.0, 64.0)
AUTO_MAX_SIDE = {"cpu": 256, "cuda": 1600}  # pixels on the long side of the training images
AUTO_NEAR_GRAD = 1.0  # train.near_grad for unbounded scenes with a common focus (module docstring)
AUTO_DEPTH_LOSS = 0.01  # 0.1 made depth right too but cost 6-8 dB against 0.01: thin far structures turned to fog


def device_name(device: torch.device) -> str:
    return "cuda" if device.type == "cuda" else "cpu"


def auto_layer_path(device: torch.device, kind: str) -> Path:
    return project_root() / "configs" / "auto" / f"{device_name(device)}-{kind}.yaml"


def auto_layer(device: torch.device, kind: str) -> tuple[dict, Path]:
    """The automatic-defaults layer for this device and scene kind, and the file it came from."""
    path = auto_layer_path(device, kind)
    return load_yaml(path), path


def pixels_across_box(scene: SceneData) -> float:
    """Pixels the (contracted) box's largest side spans in a training view at the median camera distance
    from its centre, or at its half-size for cameras inside it (module docstring)."""
    cams = scene.train.cameras
    box = scene.aabb.double()
    centre, side = (box[:3] + box[3:]) / 2, float((box[3:] - box[:3]).max())
    dist = float(torch.median((cams.c2w[:, :, 3].double() - centre).norm(dim=-1)))
    reach = max(dist, side / 2)
    if scene.kind == "unbounded":
        side *= 2  # the contracted box: the region of interest fills its central half
    focal = float(torch.median(torch.minimum(cams.fx, cams.fy)))
    return focal * side / reach


def auto_sigma(scene: SceneData) -> tuple[float, float]:
    """(σ, pixels across the box): σ = pixels / SIGMA_PIXELS_PER_CYCLE, rounded to 2 significant digits."""
    p = pixels_across_box(scene)
    sigma = float(np.clip(p / SIGMA_PIXELS_PER_CYCLE, *SIGMA_RANGE))
    digits = 1 - int(math.floor(math.log10(sigma)))
    return round(sigma, digits), p


def pick_downscale(layers: list[tuple[str, dict]], cfg: RunConfig) -> Optional[dict]:
    """The automatic image downscale, chosen before the scene is loaded and set on `cfg.scene` (so it
    loads at that size): {"downscale", "size" (full width, height), "max_side", "device"}; None when a
    layer sets scene.downscale or the size is unknown (the built-in scene, a broken folder: load_scene
    says what is wrong)."""
    from .data import full_size  # noqa: PLC0415

    if sets(layers, "scene", "downscale"):
        return None
    size = full_size(cfg.scene)
    if size is None:
        return None
    device = device_name(resolve_device(cfg.train.device))
    cap = AUTO_MAX_SIDE[device]
    cfg.scene.downscale = max(1, math.ceil(max(size) / cap))
    return {"downscale": cfg.scene.downscale, "size": size, "max_side": cap, "device": device}


def resolution_note(picked: Optional[dict], scene: SceneData) -> str:
    if not picked or picked["downscale"] == 1:
        return ""
    w, h = picked["size"]
    cams = scene.train.cameras
    return (f", images {cams.width}x{cams.height} ({w}x{h} / {picked['downscale']}: long side ≤ {picked['max_side']} px "
            f"on {picked['device']}; --set scene.downscale=N to change)")


def sets(layers: list[tuple[str, dict]], section: str, key: str) -> bool:
    """Whether any config layer sets section.key."""
    return any(isinstance(d, dict) and isinstance(d.get(section), dict) and key in d[section] for _, d in layers)


def summary(cfg: Any, scene: SceneData, path: Path, sigma_note: str, resolution: str = "", sweep: bool = False) -> str:
    """One line: what the automatic defaults picked (for a sweep: without the encoding, its axis)."""
    m, s, t = cfg.model, cfg.sampler, cfg.train
    enc = m.encoding + (f" σ={m.sigma:g}{sigma_note} m={m.n_features}" if m.encoding in ("gaussian", "learned") else "")
    enc += f" ({m.hashgrid_levels} levels of 2^{m.hashgrid_log2_size} entries)" if m.encoding == "hashgrid" else ""
    enc = f"m={m.n_features}" if sweep else enc
    budget = f", time budget {t.time_budget:g} s" if t.time_budget else ""
    kp = scene.train.keypoints
    depth = f", depth loss {t.depth_loss:g} on {len(kp)} SfM keypoints" if t.depth_loss > 0 and kp is not None else ""
    depth += ", camera poses refined" if t.pose_refine else ""
    depth += f", near-camera gradients scaled (near_grad {t.near_grad:g})" if t.near_grad > 0 else ""
    return (f"automatic defaults for an {scene.kind} scene on {'cuda' if 'cuda' in path.name else 'cpu'} "
            f"({path.relative_to(project_root())}){resolution}: {enc}, MLP {m.depth}x{m.width}, grid {s.grid_resolution}^3"
            f"{' contracted' if scene.kind == 'unbounded' else ''}, {s.render_steps} steps per box diagonal, "
            f"{t.target_samples or 'auto'} samples per step{depth}, {t.steps} steps{budget} "
            + ("(a preset: in the sweep file turns this off; set: changes any value)" if sweep else
               "(a --config preset turns this off; --set changes any value)"))


def auto_config(layers: list[tuple[str, dict]], yaml_dir, scene: SceneData, pick_sigma: bool = True,
                resolution: Optional[dict] = None, sweep: bool = False) -> tuple[RunConfig, str]:
    """The run config with the automatic layer for the device and scene kind under `layers`
    (config.config_layers), σ from the resolution unless a layer sets it (or pick_sigma is False:
    --sigma auto searches instead), the downscale `pick_downscale` chose (the scene was loaded with
    it); and the line saying what was picked."""
    device = resolve_device(compose(layers, yaml_dir).validate().train.device)
    auto, path = auto_layer(device, scene.kind)
    note = ""
    if pick_sigma and not sets([("auto", auto)] + layers, "model", "sigma"):
        sigma, pixels = auto_sigma(scene)
        auto.setdefault("model", {})["sigma"] = sigma
        note = f" (the box spans ~{pixels:.0f} px)"
    if resolution is not None:
        auto.setdefault("scene", {})["downscale"] = resolution["downscale"]
    keypoints = scene.train.keypoints
    if keypoints is not None and len(keypoints) and not sets([("auto", auto)] + layers, "train", "depth_loss"):
        auto.setdefault("train", {})["depth_loss"] = AUTO_DEPTH_LOSS
    if scene.kind == "unbounded" and not sets([("auto", auto)] + layers, "train", "near_grad"):
        focus = focus_point(*camera_axes(scene.train.cameras))
        auto.setdefault("train", {})["near_grad"] = AUTO_NEAR_GRAD if focus is not None else 0.0
    cfg = compose([(str(path), auto)] + layers, yaml_dir).validate()
    return cfg, summary(cfg, scene, path, note, resolution_note(resolution, scene), sweep)
