"""SfM keypoints with depth (data/keypoints.py) and the depth loss they feed: a generated forward-facing
capture's COLMAP model gives keypoints of the training images whose depths are the ray-traced surface
depths; they follow a downscale; a model beside a transforms.json counts only in the scene's world
frame; subsets renumber them; training with train.depth_loss uses them and says when there are none."""

import json
import shutil

import pytest
import torch
from conftest import FACING

from nerf_ff.config import RunConfig, SceneConfig
from nerf_ff.data import load_scene
from nerf_ff.data.cameras import pixel_rays
from nerf_ff.data.outdoor import trace_outdoor
from nerf_ff.errors import UserError
from nerf_ff.evaluate import evaluate
from nerf_ff.trainer import Trainer
from nerf_ff.trainlog import read_log

W = FACING[1]  # the `facing` fixture's rig (conftest.py)


def test_keypoint_depths_are_the_surface_depths(facing):
    scene = load_scene(SceneConfig(name="f", path=str(facing["colmap"])))
    kp = scene.train.keypoints
    assert kp is not None and kp.shape[1] == 4 and len(kp) > 100
    assert scene.meta["keypoints"].startswith(f"{len(kp)} from")
    cam = kp[:, 0].long()
    assert cam.min() >= 0 and cam.max() < len(scene.train)  # training images only
    assert set(cam.tolist()) == set(range(len(scene.train)))
    o, d = pixel_rays(scene.train.cameras, cam, kp[:, 1] - 0.5, kp[:, 2] - 0.5)
    _, t = trace_outdoor(o, d)
    rel = (kp[:, 3].double() / t - 1).abs()
    # 0.3 px keypoint noise: exact on surfaces, off only where a keypoint slides over an edge
    assert float(rel.median()) < 0.01 and float((rel < 0.05).double().mean()) > 0.9

    half = load_scene(SceneConfig(name="f", path=str(facing["colmap"]), downscale=2))
    assert half.train.cameras.width == W // 2
    torch.testing.assert_close(half.train.keypoints[:, :3], kp[:, :3] * torch.tensor([1.0, 0.5, 0.5]))
    torch.testing.assert_close(half.train.keypoints[:, 3], kp[:, 3], rtol=1e-4, atol=1e-4)


def test_a_model_beside_transforms_json_counts_only_in_the_same_frame(facing, tmp_path):
    same = tmp_path / "same"
    shutil.copytree(facing["ngp"], same)
    shutil.copytree(facing["colmap"] / "sparse", same / "sparse")
    scene = load_scene(SceneConfig(name="f", path=str(same)))
    ref = load_scene(SceneConfig(name="f", path=str(facing["colmap"])))
    assert scene.source_format == "ngp"
    torch.testing.assert_close(scene.train.keypoints, ref.train.keypoints, rtol=1e-4, atol=1e-3)

    moved = tmp_path / "moved"
    shutil.copytree(same, moved)
    doc = json.loads((moved / "transforms.json").read_text())
    for frame in doc["frames"]:
        frame["transform_matrix"][0][3] += 1.0  # another world frame: shifted by one unit
    (moved / "transforms.json").write_text(json.dumps(doc))
    scene = load_scene(SceneConfig(name="f", path=str(moved)))
    assert scene.train.keypoints is None and "another world frame" in scene.meta["keypoints"]
    assert load_scene(SceneConfig(name="f", path=str(facing["ngp"]))).train.keypoints is None  # no model


def test_nerfstudio_layout_model_in_colmap_folder_with_applied_transform(facing, tmp_path):
    """ns-process-data writes colmap/sparse/0 in COLMAP's world and transforms.json in world' = A @ world
    (y and z swapped, z flipped), stating A as applied_transform: the keypoints are found and used."""
    import numpy as np

    ns = tmp_path / "ns"
    shutil.copytree(facing["ngp"], ns)
    shutil.copytree(facing["colmap"] / "sparse", ns / "colmap" / "sparse")
    A = np.eye(4)[[0, 2, 1, 3]]
    A[2] *= -1
    doc = json.loads((ns / "transforms.json").read_text())
    for frame in doc["frames"]:
        frame["transform_matrix"] = (A @ np.array(frame["transform_matrix"])).tolist()
    doc["applied_transform"] = A[:3].tolist()
    (ns / "transforms.json").write_text(json.dumps(doc))
    scene = load_scene(SceneConfig(name="f", path=str(ns)))
    ref = load_scene(SceneConfig(name="f", path=str(facing["colmap"])))
    assert "colmap/sparse" in scene.meta["keypoints"]
    torch.testing.assert_close(scene.train.keypoints, ref.train.keypoints, rtol=1e-4, atol=1e-3)  # depths: rigid
    del doc["applied_transform"]  # without it the model is in another frame, and says so
    (ns / "transforms.json").write_text(json.dumps(doc))
    scene = load_scene(SceneConfig(name="f", path=str(ns)))
    assert scene.train.keypoints is None and "another world frame" in scene.meta["keypoints"]
    doc["applied_transform"] = [[1, 0], [0, 1]]
    (ns / "transforms.json").write_text(json.dumps(doc))
    with pytest.raises(UserError, match="applied_transform"):
        load_scene(SceneConfig(name="f", path=str(ns)))


def test_subset_renumbers_keypoints(facing):
    train = load_scene(SceneConfig(name="f", path=str(facing["colmap"]))).train
    idx = [5, 1, 3]
    sub = train.subset(idx)
    assert sub.names == [train.names[i] for i in idx]
    for new, old in enumerate(idx):
        mine = train.keypoints[train.keypoints[:, 0] == old, 1:]
        torch.testing.assert_close(sub.keypoints[sub.keypoints[:, 0] == new, 1:], mine)
    assert len(sub.keypoints) == sum(int((train.keypoints[:, 0] == i).sum()) for i in idx)


def _cfg(path, tmp_path, **train):
    cfg = RunConfig.from_dict({"scene": {"name": "f", "path": str(path)},
                               "model": {"width": 32, "depth": 2, "n_features": 16, "sigma": 4.0},
                               "sampler": {"grid_resolution": 32, "render_steps": 64},
                               "train": {"steps": 40, "device": "cpu", "target_samples": 4096, "log_every": 10,
                                         **train}})
    return cfg.validate()


def test_training_with_the_depth_loss(facing, tmp_path):
    cfg = _cfg(facing["colmap"], tmp_path, depth_loss=0.1)
    trainer = Trainer(cfg, load_scene(cfg.scene), tmp_path / "run", progress=False)
    trainer.fit()
    rows = read_log(tmp_path / "run")
    depth = [r["depth_loss"] for r in rows]
    assert len(depth) == 4 and all(d is not None and 0 <= d <= 1 for d in depth)
    o, d, depth, _ = trainer.keypoint_batch(256)  # the rays the depth loss sees end on the surface
    assert len(depth) == 32
    rel = (depth.double() / trace_outdoor(o, d)[1] - 1).abs()
    assert float(rel.median()) < 0.01
    cfg.eval.lpips_net, cfg.eval.save_images = "none", False
    metrics = evaluate(tmp_path / "run", trainer.scene, cfg, trainer.model, trainer.state(), progress=False)
    assert metrics["depth_supervision"].startswith("train.depth_loss 0.1 on SfM keypoints: ")

    cfg = _cfg(facing["ngp"], tmp_path, depth_loss=0.1)  # no COLMAP model: nothing to supervise with
    with pytest.raises(UserError, match="train.depth_loss needs SfM keypoints"):
        Trainer(cfg, load_scene(cfg.scene), tmp_path / "run2", progress=False)
