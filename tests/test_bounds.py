"""Scene kind, box / region of interest and near / far found from the cameras (data/bounds.py), on
generated scenes whose geometry is known exactly."""

import json

import numpy as np
import pytest
import torch

from nerf_ff.config import SceneConfig
from nerf_ff.data import load_scene
from nerf_ff.data.cameras import image_rays
from nerf_ff.data.outdoor import GROUND_Z, render_outdoor, ring_cameras, trace_outdoor, write_outdoor_scene
from nerf_ff.data.procedural import make_builtin_scene, trace_builtin, write_blender_folder


@pytest.fixture(scope="module")
def outdoor(tmp_path_factory):
    """The outdoor scene at 32x24, 16 views, in both layouts (one render)."""
    root = tmp_path_factory.mktemp("outdoor")
    images = render_outdoor(ring_cameras(16, 32, 24), supersample=1)
    return {layout: write_outdoor_scene(root / layout, layout, 16, 32, 24, images=images) for layout in ("ngp", "colmap")}


def test_blender_box_is_the_visual_hull_and_holds_the_objects(tmp_path):
    scene = make_builtin_scene(SceneConfig(builtin_resolution=32, builtin_views=20))
    loaded = load_scene(SceneConfig(name="b", path=str(write_blender_folder(scene, tmp_path / "b"))))
    assert loaded.kind == "object" and "visual hull" in loaded.meta["box_rule"]
    box = loaded.aabb.numpy()
    hits = []
    for i in range(len(scene.train)):
        o, d = image_rays(scene.train.cameras, i)
        _, hit, t = trace_builtin(o, d)
        hits.append((o.double() + t[:, None] * d.double())[hit].numpy())
    hits = np.concatenate(hits)
    assert (hits >= box[:3] - 1e-6).all() and (hits <= box[3:] + 1e-6).all()  # every visible surface inside
    assert (box[:3] > -1.1).all() and (box[3:] < 1.1).all()  # tight: the objects span [-0.9, 0.9]
    centres = scene.train.cameras.c2w[:, :, 3].numpy()
    dist = np.linalg.norm(hits[None, ::50] - centres[:, None], axis=-1)
    assert loaded.near < dist.min() and loaded.far > dist.max()
    # The scene YAML's box still wins.
    given = load_scene(SceneConfig(name="b", path=str(tmp_path / "b"), aabb=[-1.5, -1.5, -1.5, 1.5, 1.5, 1.5]))
    assert given.aabb.tolist() == [-1.5, -1.5, -1.5, 1.5, 1.5, 1.5]


def test_unbounded_layouts_agree_and_frame_the_objects(outdoor):
    ngp = load_scene(SceneConfig(name="o", path=str(outdoor["ngp"])))
    colmap = load_scene(SceneConfig(name="o", path=str(outdoor["colmap"])))
    for s in (ngp, colmap):
        assert s.kind == "unbounded" and s.grid_levels == 1 and len(s.train) == 14 and len(s.test) == 2
    assert torch.allclose(ngp.aabb, colmap.aabb, atol=1e-4)
    assert abs(ngp.near - colmap.near) < 1e-4 and abs(ngp.far / colmap.far - 1) < 1e-4
    box = ngp.aabb.numpy()
    # The region of interest holds the objects (within 0.9 of the axis) and the ground under them,
    # and stops short of the camera ring (radius ~3.2) and the far posts.
    assert (box[:2] < -0.9).all() and (box[3:5] > 0.9).all() and box[2] < GROUND_Z < box[5]
    assert (box[3:] - box[:3]).max() < 2 * 3.0
    assert ngp.far > 100 * (box[3:] - box[:3]).max()  # rays reach the sky


def test_kind_follows_alpha_and_config(outdoor, tmp_path):
    forced = load_scene(SceneConfig(name="o", path=str(outdoor["ngp"]), kind="object"))
    assert forced.kind == "object" and forced.grid_levels == 5  # instant-ngp's box and aabb_scale 16
    # RGBA frames: an object capture, instant-ngp's box.
    import imageio.v3 as iio

    root = tmp_path / "rgba"
    (root / "images").mkdir(parents=True)
    doc = json.loads((outdoor["ngp"] / "transforms.json").read_text())
    for f in doc["frames"]:
        rgb = iio.imread(outdoor["ngp"] / f["file_path"])
        iio.imwrite(root / f["file_path"], np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], -1))
    (root / "transforms.json").write_text(json.dumps(doc))
    assert load_scene(SceneConfig(name="r", path=str(root))).kind == "object"


def test_outdoor_trace_ground_sky_and_objects():
    o = torch.tensor([[0.0, -3.0, 0.5]] * 3, dtype=torch.float64)
    d = torch.nn.functional.normalize(torch.tensor([[0.4, 2.75, -0.8], [0.0, 0.0, 1.0], [0.0, 0.2, -1.0]],
                                                   dtype=torch.float64), dim=-1)
    rgb, t = trace_outdoor(o, d)
    assert torch.isinf(t[1])  # straight up: sky
    assert abs(float(o[2, 2] + t[2] * d[2, 2]) - GROUND_Z) < 1e-9  # straight down: the ground
    assert 2.0 < float(t[0]) < 3.0  # towards the box at (0.4, -0.25, -0.3): its near face
    assert ((rgb >= 0) & (rgb <= 1)).all()
