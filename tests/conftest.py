"""Shared fixtures."""

import copy

import pytest

from nerf_ff.config import RunConfig, dump_yaml
from nerf_ff.data import load_scene
from nerf_ff.trainer import Trainer

TINY_RUN = {
    "scene": {"name": "builtin", "format": "builtin", "builtin_resolution": 24, "builtin_views": 12},
    "model": {"width": 32, "depth": 2, "n_features": 16, "sigma": 4.0, "color_width": 16, "color_depth": 1,
              "dir_degree": 2},
    "sampler": {"grid_resolution": 16, "render_steps": 64, "update_every": 8, "warmup_steps": 16},
    "train": {"steps": 30, "lr": 1e-2, "lr_final": 1e-3, "warmup": 5, "target_samples": 4096, "init_rays": 256,
              "log_every": 10, "checkpoint_every": 1000, "device": "cpu"},
    "eval": {"lpips_net": "none", "chunk": 1024, "cost_frame": 32},
}


def tiny_trainer(scene_path, run_dir, name: str = "scene") -> Trainer:
    """A Trainer with TINY_RUN's settings on the scene folder `scene_path` (not yet trained)."""
    d = copy.deepcopy(TINY_RUN)
    d["scene"] = {"name": name, "path": str(scene_path)}
    cfg = RunConfig.from_dict(d).validate()
    return Trainer(cfg, load_scene(cfg.scene), run_dir, progress=False)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """Folder of a run trained for a few seconds on the built-in scene (24x24 images): config.yaml and
    checkpoint.pt, as `nerf-ff train` leaves them (without the evaluation). Treat it as read-only."""
    run_dir = tmp_path_factory.mktemp("tiny_run")
    cfg = RunConfig.from_dict(TINY_RUN).validate()
    dump_yaml(cfg, run_dir / "config.yaml")
    Trainer(cfg, load_scene(cfg.scene), run_dir, progress=False).fit()
    return run_dir


FACING = (12, 48, 36)  # views, width, height of the generated forward-facing capture


@pytest.fixture(scope="session")
def facing(tmp_path_factory):
    """The generated outdoor scene seen by a forward-facing rig (FACING), written as LLFF, COLMAP (with
    keypoints) and instant-ngp folders: {layout: folder}. Treat them as read-only."""
    from nerf_ff.data.outdoor import facing_cameras, render_outdoor, write_outdoor_scene  # noqa: PLC0415

    n, w, h = FACING
    root = tmp_path_factory.mktemp("facing")
    images = render_outdoor(facing_cameras(n, w, h), supersample=1)
    return {layout: write_outdoor_scene(root / layout, layout, n, w, h, images=images, rig="facing")
            for layout in ("llff", "colmap", "ngp")}
