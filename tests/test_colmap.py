"""COLMAP sparse models: .bin / .txt parsers, the pose and lens conventions, scene loading, bad input.

Models are written here by a small writer of COLMAP's documented formats (independent of the
parser), and, where pycolmap is installed, by pycolmap itself.
"""

import math
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nerf_ff.config import SceneConfig
from nerf_ff.data import detect_format, load_scene
from nerf_ff.data.cameras import look_at, project
from nerf_ff.data.colmap import (
    ColmapCamera, ColmapImage, ColmapPoints, MODEL_IDS, SparseModel, c2w_opengl, find_model, qvec_to_rotmat,
    read_model, rotmat_to_qvec, to_cameras,
)
from nerf_ff.errors import UserError

try:
    import pycolmap

    HAVE_PYCOLMAP = True
except ImportError:
    HAVE_PYCOLMAP = False
needs_pycolmap = pytest.mark.skipif(not HAVE_PYCOLMAP, reason="pycolmap is not installed (pip install -e .[sfm])")

W, H = 64, 48


# --------------------------------------------------------------------------- a small model and a writer

def w2c_from_gl(c2w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OpenGL camera-to-world [3, 4] → COLMAP (qvec wxyz, tvec) world-to-camera in OpenCV axes."""
    r_cv = c2w[:, :3] * np.array([1.0, -1.0, -1.0])  # flip the y and z camera axes
    R = r_cv.T
    return rotmat_to_qvec(R), -R @ c2w[:, 3]


def small_model(n_images: int = 10, n_points: int = 40, seed: int = 0) -> SparseModel:
    rng = np.random.default_rng(seed)
    cams = {1: ColmapCamera(1, "OPENCV", W, H, np.array([60.0, 58.0, 31.7, 24.2, 0.05, -0.01, 0.002, -0.001])),
            2: ColmapCamera(2, "SIMPLE_RADIAL", W, H, np.array([55.0, 32.0, 24.0, -0.03]))}
    images = {}
    for i in range(n_images):
        a = 2 * math.pi * i / n_images
        eye = torch.tensor([3 * math.cos(a), 3 * math.sin(a), 0.8 + 0.1 * i], dtype=torch.float64)
        c2w = look_at(eye, torch.tensor([0.1, 0.0, 0.1], dtype=torch.float64),
                      torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)).numpy()
        q, t = w2c_from_gl(c2w)
        m = 5
        ids = rng.integers(-1, n_points, m).astype(np.int64)
        # ids deliberately out of order, names out of order: the loader sorts by name
        images[100 + i] = ColmapImage(100 + i, q, t, 1 + i % 2, f"img_{(7 * i) % n_images:02d}.png",
                                      rng.uniform(0, 60, (m, 2)), ids)
    pts = ColmapPoints(np.arange(n_points, dtype=np.int64) * 3 + 1, rng.uniform(-0.8, 0.8, (n_points, 3)),
                       rng.integers(0, 256, (n_points, 3)).astype(np.uint8), rng.uniform(0.1, 2.0, n_points),
                       rng.integers(2, 5, n_points).astype(np.int64))
    return SparseModel(cams, images, pts)


def write_model(model: SparseModel, folder: Path, binary: bool, model_ids=None) -> Path:
    """COLMAP's documented sparse formats. model_ids overrides the written model ids (bad-input tests)."""
    folder.mkdir(parents=True, exist_ok=True)
    ids = model_ids or MODEL_IDS
    tracks = {int(pid): [(img_id, 0) for img_id in list(model.images)[:int(n)]]
              for pid, n in zip(model.points.ids, model.points.track_length)}
    if binary:
        with open(folder / "cameras.bin", "wb") as f:
            f.write(struct.pack("<Q", len(model.cameras)))
            for c in model.cameras.values():
                f.write(struct.pack("<IiQQ", c.camera_id, ids[c.model], c.width, c.height))
                f.write(struct.pack(f"<{len(c.params)}d", *c.params))
        with open(folder / "images.bin", "wb") as f:
            f.write(struct.pack("<Q", len(model.images)))
            for im in model.images.values():
                f.write(struct.pack("<I7dI", im.image_id, *im.qvec, *im.tvec, im.camera_id))
                f.write(im.name.encode() + b"\0")
                f.write(struct.pack("<Q", len(im.xys)))
                for (x, y), pid in zip(im.xys, im.point3D_ids):
                    f.write(struct.pack("<ddq", x, y, pid))
        with open(folder / "points3D.bin", "wb") as f:
            p = model.points
            f.write(struct.pack("<Q", len(p.ids)))
            for k in range(len(p.ids)):
                tr = tracks[int(p.ids[k])]
                f.write(struct.pack("<Q3d3BdQ", p.ids[k], *p.xyz[k], *p.rgb[k], p.error[k], len(tr)))
                for img_id, idx in tr:
                    f.write(struct.pack("<II", img_id, idx))
    else:
        lines = ["# Camera list", "#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]"]
        lines += [f"{c.camera_id} {c.model} {c.width} {c.height} " + " ".join(repr(float(v)) for v in c.params)
                  for c in model.cameras.values()]
        (folder / "cameras.txt").write_text("\n".join(lines) + "\n")
        lines = ["# Image list with two lines of data per image:"]
        for im in model.images.values():
            lines.append(" ".join([str(im.image_id)] + [repr(float(v)) for v in (*im.qvec, *im.tvec)]
                                  + [str(im.camera_id), im.name]))
            lines.append(" ".join(f"{x!r} {y!r} {pid}" for (x, y), pid in zip(im.xys.tolist(), im.point3D_ids)))
        (folder / "images.txt").write_text("\n".join(lines) + "\n")
        p = model.points
        lines = ["# 3D point list"]
        for k in range(len(p.ids)):
            tr = " ".join(f"{a} {b}" for a, b in tracks[int(p.ids[k])])
            lines.append(f"{p.ids[k]} " + " ".join(repr(float(v)) for v in p.xyz[k]) + " "
                         + " ".join(str(int(v)) for v in p.rgb[k]) + f" {float(p.error[k])!r} {tr}")
        (folder / "points3D.txt").write_text("\n".join(lines) + "\n")
    return folder


def assert_same_model(a: SparseModel, b: SparseModel) -> None:
    assert a.cameras.keys() == b.cameras.keys() and a.images.keys() == b.images.keys()
    for k, c in a.cameras.items():
        d = b.cameras[k]
        assert (c.model, c.width, c.height) == (d.model, d.width, d.height)
        np.testing.assert_array_equal(c.params, d.params)
    for k, im in a.images.items():
        jm = b.images[k]
        assert (im.name, im.camera_id) == (jm.name, jm.camera_id)
        np.testing.assert_array_equal(im.qvec, jm.qvec)
        np.testing.assert_array_equal(im.tvec, jm.tvec)
        np.testing.assert_array_equal(im.xys, jm.xys)
        np.testing.assert_array_equal(im.point3D_ids, jm.point3D_ids)
    for key in ("ids", "xyz", "rgb", "error", "track_length"):
        np.testing.assert_array_equal(getattr(a.points, key), getattr(b.points, key))


# --------------------------------------------------------------------------- parsers

@pytest.mark.parametrize("binary", [True, False])
def test_parsers_round_trip(tmp_path, binary):
    model = small_model()
    back = read_model(write_model(model, tmp_path / "m", binary))
    assert_same_model(model, back)
    assert back.images[100].point3D_ids.dtype == np.int64 and (back.images[100].point3D_ids >= -1).all()


def test_binary_wins_and_both_formats_agree(tmp_path):
    model = small_model()
    folder = write_model(model, tmp_path / "m", binary=True)
    write_model(small_model(seed=5), folder, binary=False)  # a different model in .txt
    assert_same_model(model, read_model(folder))


def test_quaternions_and_pose_convention():
    rng = np.random.default_rng(3)
    for _ in range(20):
        q = rng.normal(size=4)
        q /= np.linalg.norm(q)
        R = qvec_to_rotmat(q)
        np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(R) == pytest.approx(1.0)
        np.testing.assert_allclose(rotmat_to_qvec(R), q * np.sign(q[0]), atol=1e-10)
    # a camera at (0, 0, 5) looking down -z with COLMAP's identity-like pose: x right, y down, z forward
    R = np.diag([1.0, -1.0, -1.0])  # world → OpenCV camera: looking along world -z
    img = ColmapImage(1, rotmat_to_qvec(R), -R @ np.array([0.0, 0.0, 5.0]), 1, "a.png")
    c2w = c2w_opengl(img)
    np.testing.assert_allclose(c2w[:, 3], [0, 0, 5], atol=1e-12)
    np.testing.assert_allclose(c2w[:, 2], [0, 0, 1], atol=1e-12)  # OpenGL: the camera looks down its -z
    np.testing.assert_allclose(c2w[:, 1], [0, 1, 0], atol=1e-12)  # image up (OpenCV -y) is world +y


def colmap_project(cam: ColmapCamera, img: ColmapImage, X: np.ndarray) -> np.ndarray:
    """COLMAP's projection written from its documentation: x = R X + t, then the lens model. [P, 2]"""
    x = X @ qvec_to_rotmat(img.qvec).T + img.tvec
    u, v = x[:, 0] / x[:, 2], x[:, 1] / x[:, 2]
    p = cam.params
    if cam.model == "SIMPLE_RADIAL":
        f, cx, cy, k = p
        r2 = u * u + v * v
        return np.stack([f * u * (1 + k * r2) + cx, f * v * (1 + k * r2) + cy], -1)
    assert cam.model == "OPENCV"
    fx, fy, cx, cy, k1, k2, p1, p2 = p
    r2 = u * u + v * v
    radial = k1 * r2 + k2 * r2 * r2
    du = u * radial + 2 * p1 * u * v + p2 * (r2 + 2 * u * u)
    dv = v * radial + 2 * p2 * u * v + p1 * (r2 + 2 * v * v)
    return np.stack([fx * (u + du) + cx, fy * (v + dv) + cy], -1)


def test_converted_cameras_project_like_colmap():
    model = small_model()
    images = sorted(model.images.values(), key=lambda i: i.name)
    cams = to_cameras(model, images)
    assert cams.distortion is not None and (cams.width, cams.height) == (W, H)
    X = np.random.default_rng(1).uniform(-0.5, 0.5, (30, 3))
    for k, img in enumerate(images):
        expect = colmap_project(model.cameras[img.camera_id], img, X)
        uv, depth = project(cams, k, torch.from_numpy(X).float())
        assert (depth > 0).all()
        np.testing.assert_allclose(uv.double().numpy(), expect, atol=2e-3)


# --------------------------------------------------------------------------- pycolmap as the reference

def _pycolmap_reconstruction():
    rec = pycolmap.Reconstruction()
    rec.add_camera_with_trivial_rig(pycolmap.Camera.create_from_model_name(1, "OPENCV", 60.0, W, H))
    cam = rec.cameras[1]
    cam.params = np.array([60.0, 58.0, 31.7, 24.2, 0.05, -0.01, 0.002, -0.001])
    model = small_model(n_images=6)
    for im in model.images.values():
        pose = pycolmap.Rigid3d(pycolmap.Rotation3d(np.r_[im.qvec[1:], im.qvec[0]]), im.tvec)  # xyzw
        rec.add_image_with_trivial_frame(pycolmap.Image(name=im.name, camera_id=1, image_id=im.image_id), pose)
    for xyz in model.points.xyz[:10]:
        rec.add_point3D(xyz, pycolmap.Track(), np.array([10, 20, 30], dtype=np.uint8))
    return rec


@needs_pycolmap
@pytest.mark.parametrize("binary", [True, False])
def test_pycolmap_models_read_back(tmp_path, binary):
    rec = _pycolmap_reconstruction()
    folder = tmp_path / "m"
    folder.mkdir()
    (rec.write_binary if binary else rec.write_text)(str(folder))
    model = read_model(folder)
    assert set(model.images) == set(rec.images) and len(model.points.ids) == rec.num_points3D()
    cam = rec.cameras[1]
    np.testing.assert_array_equal(model.cameras[1].params, cam.params)
    assert (model.cameras[1].model, model.cameras[1].width, model.cameras[1].height) == ("OPENCV", W, H)
    for pid, p in rec.points3D.items():
        k = int(np.nonzero(model.points.ids == pid)[0][0])
        np.testing.assert_allclose(model.points.xyz[k], p.xyz)
    images = sorted(model.images.values(), key=lambda i: i.name)
    cams = to_cameras(model, images)
    X = np.random.default_rng(2).uniform(-0.5, 0.5, (20, 3))
    for k, img in enumerate(images):
        ref = rec.images[img.image_id]
        np.testing.assert_allclose(c2w_opengl(img)[:, 3], ref.projection_center(), atol=1e-9)
        expect = np.array([cam.img_from_cam(ref.cam_from_world() * x) for x in X])  # pycolmap's own projection
        uv, _ = project(cams, k, torch.from_numpy(X).float())
        np.testing.assert_allclose(uv.double().numpy(), expect, atol=2e-3)


# --------------------------------------------------------------------------- scenes

def write_scene(root: Path, model: SparseModel, binary: bool = True, sub: str = "sparse/0") -> Path:
    write_model(model, root / sub, binary)
    (root / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for im in model.images.values():
        Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8)).save(root / "images" / im.name)
    return root


def test_colmap_scene_loads(tmp_path):
    model = small_model()
    root = write_scene(tmp_path / "scene", model)
    assert detect_format(root) == "colmap"
    scene = load_scene(SceneConfig(name="c", path=str(root), kind="object"))  # the points-based object box
    assert scene.source_format == "colmap"
    assert scene.test.names == ["img_00.png", "img_08.png"] and len(scene.train) == 8
    by_name = {im.name: im for im in model.images.values()}
    for split in (scene.train, scene.test):
        for k, name in enumerate(split.names):
            im = by_name[name]
            np.testing.assert_allclose(split.cameras.c2w[k].double().numpy(), c2w_opengl(im), atol=1e-6)
            cam = model.cameras[im.camera_id]
            assert float(split.cameras.fx[k]) == pytest.approx(cam.params[0])
            assert float(split.cameras.cy[k]) == pytest.approx(cam.params[3 if cam.model == "OPENCV" else 2])
    assert scene.train.cameras.distortion is not None
    # the cameras converge on (0.1, 0, 0.1): the box is centred there, the cameras outside it but
    # inside the outermost cascade
    lo, hi = scene.aabb[:3].double(), scene.aabb[3:].double()
    np.testing.assert_allclose(((lo + hi) / 2).numpy(), [0.1, 0.0, 0.1], atol=1e-3)
    centres = torch.cat([scene.train.cameras.c2w, scene.test.cameras.c2w])[:, :, 3].double()
    half = (hi - lo) / 2
    cheb = ((centres - (lo + hi) / 2).abs() / half).max(-1).values
    assert (cheb > 1).all() and (cheb <= 2 ** (scene.grid_levels - 1)).all()
    assert 0 < scene.near < scene.far
    # Opaque photos by default: unbounded, the region of interest at the same focus.
    unbounded = load_scene(SceneConfig(name="c", path=str(root)))
    assert unbounded.kind == "unbounded" and unbounded.grid_levels == 1
    np.testing.assert_allclose(((unbounded.aabb[:3] + unbounded.aabb[3:]) / 2).double().numpy(), [0.1, 0.0, 0.1],
                               atol=1e-3)
    # downscale halves the intrinsics and the images
    half_scene = load_scene(SceneConfig(name="c", path=str(root), downscale=2))
    assert half_scene.train.images.shape[1:3] == (H // 2, W // 2)
    assert float(half_scene.train.cameras.fx[0]) == pytest.approx(float(scene.train.cameras.fx[0]) / 2)


def test_model_folder_choice_and_detection(tmp_path):
    small, big = small_model(n_images=4), small_model(n_images=10)
    root = write_scene(tmp_path / "multi", small, sub="sparse/a")
    write_scene(root, big, binary=False, sub="sparse/b")
    assert find_model(root) == root / "sparse" / "b"  # no sparse/0: the model with the most images
    flat = write_scene(tmp_path / "flat", small, sub="sparse")
    assert find_model(flat) == flat / "sparse"
    (flat / "transforms.json").write_text("{}")
    assert detect_format(flat) == "ngp"  # a transforms file wins


def test_bad_models_fail_cleanly(tmp_path):
    model = small_model()
    # unsupported lens models, binary and text
    for i in model.images.values():
        i.camera_id = 1
    f = [float(W), float(W), W / 2, H / 2]
    for name, params, message in [("FOV", np.array(f + [0.9]), "FOV.*not supported.*undistort"),
                                  ("FULL_OPENCV", np.array(f + [0.1, 0, 0, 0, 0, 0.2, 0, 0]), "rational.*undistort"),
                                  ("OPENCV_FISHEYE", np.zeros(8), "focal length")]:
        bad = SparseModel({1: ColmapCamera(1, name, W, H, params)}, model.images, model.points)
        for binary in (True, False):
            root = write_scene(tmp_path / f"{name}{binary}", bad, binary=binary)
            with pytest.raises(UserError, match=message):
                load_scene(SceneConfig(name="c", path=str(root)))
    root = tmp_path / "unknown"
    write_model(model, root / "sparse" / "0", True, model_ids={"OPENCV": 99, "SIMPLE_RADIAL": 2})
    with pytest.raises(UserError, match="unknown model id 99"):
        read_model(root / "sparse" / "0")
    # truncated binary file
    root = write_scene(tmp_path / "cut", small_model())
    data = (root / "sparse" / "0" / "images.bin").read_bytes()
    (root / "sparse" / "0" / "images.bin").write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="images.bin is truncated or malformed"):
        load_scene(SceneConfig(name="c", path=str(root)))
    # empty sparse/, missing images/, images of another size
    empty = tmp_path / "empty"
    (empty / "sparse").mkdir(parents=True)
    with pytest.raises(UserError, match="no COLMAP model"):
        load_scene(SceneConfig(name="c", path=str(empty)))
    noimg = tmp_path / "noimg"
    write_model(small_model(), noimg / "sparse" / "0", True)
    with pytest.raises(UserError, match="no images/ folder"):
        load_scene(SceneConfig(name="c", path=str(noimg)))
    resized = write_scene(tmp_path / "resized", small_model())
    for p in (resized / "images").iterdir():
        Image.fromarray(np.zeros((H * 2, W * 2, 3), np.uint8)).save(p)
    with pytest.raises(UserError, match="the model's camera of img_01.png is 64x48 but the image is 128x96"):
        load_scene(SceneConfig(name="c", path=str(resized)))
