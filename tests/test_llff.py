"""LLFF scenes (poses_bounds.npy): the generated forward-facing capture written as LLFF and as COLMAP
loads to the same cameras and images; LLFF's renamed images_d/ copies are used; bad files are
one-line errors; detection."""

import numpy as np
import pytest
import torch
from conftest import FACING
from PIL import Image

from nerf_ff.config import SceneConfig, resolve_scene
from nerf_ff.data import detect_format, load_scene
from nerf_ff.data.outdoor import facing_cameras
from nerf_ff.errors import UserError

N, W, H = FACING  # the `facing` fixture's rig (conftest.py)


def test_llff_and_colmap_layouts_load_the_same_scene(facing):
    assert detect_format(facing["llff"]) == "llff"
    llff = load_scene(SceneConfig(name="f", path=str(facing["llff"])))
    colmap = load_scene(SceneConfig(name="f", path=str(facing["colmap"])))
    assert llff.source_format == "llff" and llff.kind == "unbounded"
    for a, b in ((llff.train, colmap.train), (llff.test, colmap.test)):
        assert a.names == b.names
        assert torch.equal(a.images, b.images)
        torch.testing.assert_close(a.cameras.c2w, b.cameras.c2w, atol=1e-5, rtol=0)
        torch.testing.assert_close(a.cameras.fx, b.cameras.fx)
        torch.testing.assert_close(a.cameras.cx, b.cameras.cx)
    assert llff.test.names == ["view_000.png", "view_008.png"]  # LLFF's llffhold 8
    # The rig faces the objects: no common focus, so the box comes from the (stand-in) points. It
    # holds the objects' centre and lies in front of the cameras, like the box from COLMAP's points.
    assert "forward-facing" in llff.meta["roi_rule"] and "forward-facing" in colmap.meta["roi_rule"]
    for scene in (llff, colmap):
        lo, hi = scene.aabb[:3], scene.aabb[3:]
        assert (lo < 0).all() and (hi > 0).all() and float(lo[1]) > -3.6, scene.aabb
    ratio = (llff.aabb[3:] - llff.aabb[:3]).max() / (colmap.aabb[3:] - colmap.aabb[:3]).max()
    assert 0.5 < float(ratio) < 2.0


def test_llff_reads_its_renamed_copies(facing, tmp_path):
    root = tmp_path / "llff"
    root.mkdir()
    (root / "poses_bounds.npy").write_bytes((facing["llff"] / "poses_bounds.npy").read_bytes())
    (root / "images_2").mkdir()
    for k in range(N):  # no images/ at all, as some downloads ship only the small copies
        Image.fromarray(np.full((H // 2, W // 2, 3), k * 20, np.uint8)).save(root / "images_2" / f"image{k:03d}.png")
    with pytest.raises(UserError, match="scene.downscale to use images_2"):
        load_scene(SceneConfig(name="f", path=str(root)))
    scene = load_scene(SceneConfig(name="f", path=str(root), downscale=2))
    assert "pre-downscaled" in scene.meta["pixels"]
    assert scene.test.names == ["image000.png", "image008.png"]
    assert int(scene.test.images[1, 0, 0, 0]) == 160
    assert scene.train.cameras.width == W // 2 and float(scene.train.cameras.fx[0]) == pytest.approx(
        float(facing_cameras(N, W, H).fx[0]) / 2)


def test_bad_llff_files_are_one_line_errors(facing, tmp_path):
    root = tmp_path / "bad"
    (root / "images").mkdir(parents=True)
    np.save(root / "poses_bounds.npy", np.zeros((3, 15)))
    with pytest.raises(UserError, match=r"not \[N, 17\]"):
        load_scene(SceneConfig(name="b", path=str(root)))
    good = np.load(facing["llff"] / "poses_bounds.npy")
    np.save(root / "poses_bounds.npy", good)
    with pytest.raises(UserError, match="holds 0 images but poses_bounds.npy has 12 poses"):
        load_scene(SceneConfig(name="b", path=str(root)))
    bad = good.copy()
    bad[2, 15] = -1.0
    np.save(root / "poses_bounds.npy", bad)
    with pytest.raises(UserError, match="near/far"):
        load_scene(SceneConfig(name="b", path=str(root)))


def test_detection_hints(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(photos / "a.jpg")
    with pytest.raises(UserError, match="photos but no camera poses; run `nerf-ff process"):
        detect_format(photos)
    video = tmp_path / "walk.mp4"
    video.write_bytes(b"")
    with pytest.raises(UserError, match="is a video; run `nerf-ff process"):
        detect_format(video)
    with pytest.raises(UserError, match="is a file, not a dataset folder .* run `nerf-ff process"):
        resolve_scene(str(video))  # what `nerf-ff train walk.mp4` says
    # An empty sparse/ beside LLFF poses: LLFF
    both = tmp_path / "both"
    (both / "sparse").mkdir(parents=True)
    np.save(both / "poses_bounds.npy", np.zeros((1, 17)))
    assert detect_format(both) == "llff"
