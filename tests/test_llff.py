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
    # The rig faces the objects: no common focus, so the region of interest is the rig itself (the same box
    # for both layouts) and the objects, 3.6 units ahead, lie in the contracted shell; the box of what it
    # looks at comes from the (stand-in) points: it holds the objects' centre, in front of the cameras.
    assert "forward-facing" in llff.meta["roi_rule"] and "forward-facing" in colmap.meta["roi_rule"]
    torch.testing.assert_close(llff.aabb, colmap.aabb)
    centres = colmap.train.cameras.c2w[:, :, 3]
    assert (colmap.aabb[:3] < centres.min(0).values).all() and (colmap.aabb[3:] > centres.max(0).values).all()
    assert float(colmap.aabb[4]) < -2.0  # far short of the objects (y in [-0.9, 0.9])
    for scene in (llff, colmap):
        lo, hi = np.array(scene.meta["subject_box"][:3]), np.array(scene.meta["subject_box"][3:])
        assert (lo < 0).all() and (hi > 0).all() and lo[1] > -3.6, scene.meta["subject_box"]
    size = lambda b: max(b[k + 3] - b[k] for k in range(3))  # noqa: E731
    assert 0.5 < size(llff.meta["subject_box"]) / size(colmap.meta["subject_box"]) < 2.0


def test_llff_reads_its_renamed_copies(facing, tmp_path):
    root = tmp_path / "llff"
    root.mkdir()
    (root / "poses_bounds.npy").write_bytes((facing["llff"] / "poses_bounds.npy").read_bytes())
    (root / "images_2").mkdir()
    for k in range(N):  # no images/ at all, as some downloads ship only the small copies
        Image.fromarray(np.full((H // 2, W // 2, 3), k * 20, np.uint8)).save(root / "images_2" / f"image{k:03d}.png")
    with pytest.raises(UserError, match="scene.downscale to a multiple of 2 to use images_2"):
        load_scene(SceneConfig(name="f", path=str(root)))
    scene = load_scene(SceneConfig(name="f", path=str(root), downscale=2))
    assert scene.meta["pixels"] == f"pre-downscaled copies in {root / 'images_2'}"
    # A multiple of the copies' factor halves them again (no images/ needed)
    quarter = load_scene(SceneConfig(name="f", path=str(root), downscale=4))
    assert quarter.meta["pixels"] == f"pre-downscaled copies in {root / 'images_2'}, area-downscaled by 2 more"
    assert quarter.train.cameras.width == W // 4 and int(quarter.test.images[1, 0, 0, 0]) == 160
    assert float(quarter.train.cameras.fx[0]) == pytest.approx(float(facing_cameras(N, W, H).fx[0]) / 4)
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


def test_transforms_json_reads_its_sparse_points(facing, tmp_path):
    """`ply_file_path` (nerfstudio, nerf-ff process): a forward-facing transforms.json scene gets what its COLMAP
    twin gets from the points (the box the cameras look at, export's default bounds); points in another world
    frame, or a missing file, are left out and the scene says why."""
    import json  # noqa: PLC0415

    from nerf_ff.data.outdoor import render_outdoor, surface_points, write_outdoor_scene  # noqa: PLC0415
    from nerf_ff.geometry_files import write_ply  # noqa: PLC0415

    n, w, h = FACING
    images = render_outdoor(facing_cameras(n, w, h), supersample=1)
    folder = write_outdoor_scene(tmp_path / "ngp", "ngp", n, w, h, images=images, rig="facing", ply=True)
    with_ply = load_scene(SceneConfig(name="f", path=str(folder)))
    colmap = load_scene(SceneConfig(name="f", path=str(facing["colmap"])))
    torch.testing.assert_close(with_ply.aabb, colmap.aabb)
    np.testing.assert_allclose(with_ply.meta["subject_box"], colmap.meta["subject_box"])
    assert "sparse points:" in with_ply.describe(0.0)
    xyz, _ = surface_points(facing_cameras(n, w, h))
    write_ply(folder / "sparse_pc.ply", xyz + np.array([0.0, -40.0, 0.0]))  # behind the cameras
    shifted = load_scene(SceneConfig(name="f", path=str(folder)))
    assert "another world frame" in shifted.meta["points"]
    assert shifted.meta["subject_box"] != with_ply.meta["subject_box"]  # the no-points reach instead
    torch.testing.assert_close(shifted.aabb, colmap.aabb)
    doc = json.loads((folder / "transforms.json").read_text())
    doc["ply_file_path"] = "missing.ply"
    (folder / "transforms.json").write_text(json.dumps(doc))
    assert "missing.ply" in load_scene(SceneConfig(name="f", path=str(folder))).meta["points"]


def test_ply_points_read_ascii_and_binary_and_refuse_cut_files(tmp_path):
    from nerf_ff.geometry_files import read_ply_points, write_ply  # noqa: PLC0415

    xyz = np.array([[0.5, -1.0, 2.0], [3.0, 4.0, -5.25]])
    write_ply(tmp_path / "le.ply", xyz, np.array([[1, 2, 3], [4, 5, 6]], np.uint8))
    np.testing.assert_allclose(read_ply_points(tmp_path / "le.ply"), xyz)
    header = "ply\nformat {}\ncomment x\nelement vertex 2\nproperty double z\nproperty double x\nproperty double y\n" \
             "property uchar red\nelement face 0\nproperty list uchar int vertex_indices\nend_header\n"
    rows = np.array([(2.0, 0.5, -1.0, 7), (-5.25, 3.0, 4.0, 8)], dtype=[("z", ">f8"), ("x", ">f8"), ("y", ">f8"), ("r", "u1")])
    (tmp_path / "be.ply").write_bytes(header.format("binary_big_endian 1.0").encode() + rows.tobytes())
    np.testing.assert_allclose(read_ply_points(tmp_path / "be.ply"), xyz)
    (tmp_path / "a.ply").write_text(header.format("ascii 1.0") + "2 0.5 -1 7\n-5.25 3 4 8\n")
    np.testing.assert_allclose(read_ply_points(tmp_path / "a.ply"), xyz)
    (tmp_path / "cut.ply").write_bytes((tmp_path / "le.ply").read_bytes()[:-5])
    with pytest.raises(UserError, match="cut short"):
        read_ply_points(tmp_path / "cut.ply")
    (tmp_path / "no.ply").write_text("solid x\n")
    with pytest.raises(UserError, match="not a PLY"):
        read_ply_points(tmp_path / "no.ply")
