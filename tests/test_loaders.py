"""Scene loaders on small generated scenes: formats, intrinsics, downscale, splits, bad input."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nerf_ff.config import SceneConfig, datasets_root
from nerf_ff.data import detect_format, load_scene
from nerf_ff.data.cameras import look_at
from nerf_ff.errors import UserError

W, H = 8, 6


def pose(i: int, radius: float = 4.0) -> list:
    """A 4x4 camera-to-world on a circle around the origin, looking at it."""
    a = 2 * math.pi * i / 7
    eye = torch.tensor([radius * math.cos(a), radius * math.sin(a), 1.0])
    c2w = look_at(eye, torch.zeros(3), torch.tensor([0.0, 0.0, 1.0])).double()
    return torch.cat([c2w, torch.tensor([[0.0, 0.0, 0.0, 1.0]], dtype=torch.float64)]).tolist()


def image_for(i: int, channels: int, w: int = W, h: int = H) -> np.ndarray:
    rng = np.random.default_rng(i)
    img = rng.integers(0, 256, (h, w, channels), dtype=np.uint8)
    if channels == 4:
        img[0, 0, 3] = 0  # one transparent pixel, as in renders
    return img


def write_blender(root: Path, counts=None, fov=0.8) -> Path:
    """A tiny NeRF-synthetic scene: RGBA PNGs, file_path without extension."""
    counts = counts or {"train": 3, "val": 2, "test": 2}
    root.mkdir(parents=True, exist_ok=True)
    k = 0
    for split, n in counts.items():
        (root / split).mkdir(exist_ok=True)
        frames = []
        for i in range(n):
            Image.fromarray(image_for(k, 4)).save(root / split / f"r_{i}.png")
            frames.append({"file_path": f"./{split}/r_{i}", "rotation": 0.0, "transform_matrix": pose(k)})
            k += 1
        (root / f"transforms_{split}.json").write_text(json.dumps({"camera_angle_x": fov, "frames": frames}))
    return root


def write_ngp(root: Path, n=10, w=W, h=H, top=None, frame_extra=None, shuffle=True) -> Path:
    """A tiny instant-ngp scene: RGB PNGs (lossless, so pixels can be compared), transforms.json."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    frames = []
    for i in range(n):
        Image.fromarray(image_for(100 + i, 3, w, h)).save(root / "images" / f"{i:04d}.png")
        frame = {"file_path": f"images/{i:04d}.png", "sharpness": 30.0, "transform_matrix": pose(i)}
        frame.update((frame_extra or {}).get(i, {}))
        frames.append(frame)
    if shuffle:  # the loader must sort by file_path itself
        frames = frames[::2] + frames[1::2]
    data = {"fl_x": 7.0, "fl_y": 6.5, "cx": 4.2, "cy": 2.9, "w": float(w), "h": float(h),
            "k1": 0.05, "k2": -0.01, "p1": 0.001, "p2": -0.002, "aabb_scale": 4}
    data.update(top or {})
    data = {k: v for k, v in data.items() if v is not None}
    data["frames"] = frames
    (root / "transforms.json").write_text(json.dumps(data))
    return root


def edit_json(path: Path, fn) -> None:
    data = json.loads(path.read_text())
    fn(data)
    path.write_text(json.dumps(data))


def load(path, **kw):
    return load_scene(SceneConfig(name="t", path=str(path), **kw))


def raises_user_error(fn, *fragments):
    """Call fn, expect a one-line UserError containing every fragment."""
    with pytest.raises(UserError) as exc:
        fn()
    msg = str(exc.value)
    assert "\n" not in msg, msg
    for f in fragments:
        assert f in msg, f"{f!r} not in {msg!r}"
    return msg


# --- Blender -------------------------------------------------------------------------------------

def test_blender_loads_splits_images_and_cameras(tmp_path):
    root = write_blender(tmp_path / "lego")
    scene = load(root)
    assert scene.source_format == "blender"
    assert {k: len(v) for k, v in scene.splits.items()} == {"train": 3, "val": 2, "test": 2}
    train = scene.train
    assert train.images.dtype == torch.uint8 and train.images.shape == (3, H, W, 4) and train.has_alpha
    assert np.array_equal(train.images[1].numpy(), image_for(1, 4))  # pixels kept exactly, RGBA
    assert np.array_equal(scene.test.images[0].numpy(), image_for(5, 4))
    assert train.names == ["train/r_0.png", "train/r_1.png", "train/r_2.png"]
    cams = train.cameras
    torch.testing.assert_close(cams.fx, torch.full((3,), 0.5 * W / math.tan(0.4)))
    torch.testing.assert_close(cams.cx, torch.full((3,), W / 2))
    torch.testing.assert_close(cams.cy, torch.full((3,), H / 2))
    assert cams.distortion is None and (cams.width, cams.height) == (W, H)
    torch.testing.assert_close(cams.c2w[2].double(), torch.tensor(pose(2), dtype=torch.float64)[:3], atol=1e-6, rtol=0)
    # No box given: the visual hull of the masks (random test images: nearly the frustums' overlap),
    # around the cameras' focus; near / far bracket it from every camera.
    assert "visual hull" in scene.meta["box_rule"] and scene.kind == "object"
    box = scene.aabb
    assert (box[:3] < box[3:]).all() and (box.abs() < 6).all()
    assert 0 < scene.near < scene.far
    assert scene.grid_levels == 1 and scene.background.tolist() == [1.0, 1.0, 1.0]
    assert "transforms_test.json" in scene.split_note


def test_blender_config_values_override_defaults(tmp_path):
    root = write_blender(tmp_path / "s")
    scene = load(root, aabb=[-1, -2, -3, 1, 2, 3], near=0.5, far=9.0, grid_levels=2, background=[0, 0, 0])
    assert scene.aabb.tolist() == [-1, -2, -3, 1, 2, 3]
    assert (scene.near, scene.far, scene.grid_levels) == (0.5, 9.0, 2)
    assert scene.background.tolist() == [0.0, 0.0, 0.0]


def test_blender_splits_argument_skips_val(tmp_path):
    scene = load_scene(SceneConfig(path=str(write_blender(tmp_path / "s"))), splits=["train", "test"])
    assert set(scene.splits) == {"train", "test"}


def test_blender_without_test_file_uses_fixed_every_nth_split(tmp_path):
    root = write_blender(tmp_path / "s", counts={"train": 10})
    scene = load(root, test_every=4)
    # Frames 0, 4, 8 held out.
    assert scene.test.names == ["train/r_0.png", "train/r_4.png", "train/r_8.png"]
    assert len(scene.train) == 7 and "train/r_4.png" not in scene.train.names
    assert np.array_equal(scene.test.images[1].numpy(), image_for(4, 4))
    assert "every 4th" in scene.split_note


def test_blender_downscale_premultiplied_area(tmp_path):
    root = write_blender(tmp_path / "s", counts={"train": 1, "test": 1})
    # A 2x2 block: two opaque red pixels, two fully transparent black ones.
    img = np.zeros((H, W, 4), np.uint8)
    img[0, 0] = img[1, 0] = [255, 0, 0, 255]
    Image.fromarray(img).save(root / "train" / "r_0.png")
    scene = load(root, downscale=2)
    small = scene.train.images[0].numpy()
    assert small.shape == (H // 2, W // 2, 4)
    # Colour stays pure red (transparent black does not darken it), alpha is the average.
    assert small[0, 0].tolist() == [255, 0, 0, 128]
    cams, full = scene.train.cameras, 0.5 * W / math.tan(0.4)
    assert (cams.width, cams.height) == (W // 2, H // 2)
    torch.testing.assert_close(cams.fx, torch.tensor([full / 2]))
    torch.testing.assert_close(cams.cx, torch.tensor([W / 4]))


# --- instant-ngp -----------------------------------------------------------------------------------

def test_ngp_opaque_photos_are_an_unbounded_scene_around_the_cameras_focus(tmp_path):
    scene = load(write_ngp(tmp_path / "fox", n=10))
    assert scene.kind == "unbounded" and scene.grid_levels == 1
    # The cameras circle the origin at radius 4 (height 1) looking at it: the region of interest is
    # centred there, as wide as they frame at their distance (half-size sqrt(17) x tan(half fov)).
    centre = (scene.aabb[:3] + scene.aabb[3:]) / 2
    assert centre.abs().max() < 1e-3
    half_fov = math.atan(min(W / (2 * 7.0), H / (2 * 6.5)))
    assert float(scene.aabb[3] - centre[0]) == pytest.approx(math.sqrt(17) * math.tan(half_fov), rel=1e-3)
    assert scene.far > 1000 * 4 and scene.near == pytest.approx(0.05 * float(scene.aabb[3] - scene.aabb[0]), rel=1e-4)


def test_ngp_loads_intrinsics_distortion_and_box(tmp_path):
    root = write_ngp(tmp_path / "fox", n=10)
    scene = load(root, kind="object")  # instant-ngp's box, as for RGBA captures
    assert scene.source_format == "ngp"
    all_names = sorted(scene.train.names + scene.test.names)
    assert all_names == [f"images/{i:04d}.png" for i in range(10)]
    cams = scene.train.cameras
    assert cams.fx.tolist() == pytest.approx([7.0] * len(cams)) and cams.fy[0].item() == pytest.approx(6.5)
    assert cams.cx[0].item() == pytest.approx(4.2) and cams.cy[0].item() == pytest.approx(2.9)
    torch.testing.assert_close(cams.distortion[0], torch.tensor([0.05, -0.01, 0.001, -0.002, 0, 0, 0]))
    # Pixels in the sorted order, RGB uint8 as written.
    i = scene.train.names.index("images/0003.png")
    assert np.array_equal(scene.train.images[i].numpy(), image_for(103, 3))
    expected = torch.tensor(pose(3), dtype=torch.float64)[:3]
    torch.testing.assert_close(scene.train.cameras.c2w[i].double(), expected, atol=1e-6, rtol=0)
    # Default scale 0.33, offset 0.5: box centred at 0 with half-size 0.5 / 0.33; aabb_scale 4 → 3 levels.
    half = 0.5 / 0.33
    torch.testing.assert_close(scene.aabb, torch.tensor([-half] * 3 + [half] * 3))
    assert scene.grid_levels == 3
    assert scene.near == pytest.approx(0.05 * 2 * half)
    # far reaches every corner of the outermost cascade (half-size x4) from every camera.
    origins = torch.cat([scene.train.cameras.c2w[:, :, 3], scene.test.cameras.c2w[:, :, 3]])
    corners = torch.tensor([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)]) * half * 4
    dists = (origins[:, None] - corners[None]).norm(dim=-1)
    assert scene.far >= dists.max().item() - 1e-4
    assert scene.far == pytest.approx(dists.max().item(), rel=1e-4)
    assert scene.meta["aabb_scale"] == 4 and scene.meta["distortion"] is True


def test_ngp_scale_offset_define_box(tmp_path):
    root = write_ngp(tmp_path / "s", top={"scale": 0.5, "offset": [0.5, 0.25, 1.0], "aabb_scale": 1})
    scene = load(root, kind="object")
    # World p maps to p * 0.5 + offset; the unit cube is centred at (0.5 - offset) / 0.5, half-size 1.
    torch.testing.assert_close(scene.aabb, torch.tensor([-1.0, -0.5, -2.0, 1.0, 1.5, 0.0]))
    assert scene.grid_levels == 1


def test_ngp_fixed_split_every_nth_after_sorting(tmp_path):
    root = write_ngp(tmp_path / "s", n=10, shuffle=True)
    scene = load(root, test_every=3)
    assert scene.test.names == ["images/0000.png", "images/0003.png", "images/0006.png", "images/0009.png"]
    assert len(scene.train) == 6
    assert "every 3th" in scene.split_note and "sorting frames by file_path" in scene.split_note
    assert np.array_equal(scene.test.images[1].numpy(), image_for(103, 3))


def test_ngp_split_lists_in_file_are_used(tmp_path):
    root = write_ngp(tmp_path / "s", n=5)
    edit_json(root / "transforms.json", lambda d: d.update(
        train_filenames=["images/0000.png", "images/0002.png", "images/0004.png"],
        test_filenames=["images/0001.png", "images/0003.png"]))
    scene = load(root)
    assert scene.test.names == ["images/0001.png", "images/0003.png"]
    assert "test_filenames" in scene.split_note


def test_ngp_intrinsics_fallbacks_and_per_frame_values(tmp_path):
    root = write_ngp(tmp_path / "s", n=4, shuffle=False,
                     top={"fl_y": None, "cx": None, "cy": None, "k1": None, "k2": None, "p1": None, "p2": None},
                     frame_extra={2: {"fl_x": 9.0, "k1": 0.1}})
    scene = load(root, test_every=2)  # train = frames 1, 3; test = 0, 2
    cams = scene.test.cameras
    assert cams.fx.tolist() == pytest.approx([7.0, 9.0])
    assert cams.fy.tolist() == pytest.approx([7.0, 9.0])  # fl_y defaults to fl_x
    assert cams.cx.tolist() == pytest.approx([W / 2] * 2) and cams.cy.tolist() == pytest.approx([H / 2] * 2)
    torch.testing.assert_close(cams.distortion, torch.tensor([[0.0] * 7, [0.1, 0, 0, 0, 0, 0, 0]]))
    assert scene.train.cameras.distortion is None  # no coefficients at all: ideal pinholes

    root2 = write_ngp(tmp_path / "angles", n=3, top={"fl_x": None, "fl_y": None, "camera_angle_x": 1.0,
                                                     "camera_angle_y": 0.9})
    cams2 = load(root2).train.cameras
    assert cams2.fx[0].item() == pytest.approx(0.5 * W / math.tan(0.5))
    assert cams2.fy[0].item() == pytest.approx(0.5 * H / math.tan(0.45))


def test_ngp_downscale_scales_intrinsics_and_area_averages(tmp_path):
    root = write_ngp(tmp_path / "s", n=3, w=8, h=6)
    img = np.zeros((6, 8, 3), np.uint8)
    img[0, 0], img[0, 1], img[1, 0], img[1, 1] = [0, 0, 0], [100, 0, 0], [200, 0, 0], [100, 40, 8]
    Image.fromarray(img).save(root / "images" / "0001.png")
    scene = load(root, downscale=2, test_every=2)  # train = frame 1 only
    assert scene.train.images.shape == (1, 3, 4, 3)
    assert scene.train.images[0, 0, 0].tolist() == [100, 10, 2]  # mean of the 2x2 block
    cams = scene.train.cameras
    assert (cams.width, cams.height) == (4, 3)
    assert cams.fx[0].item() == pytest.approx(3.5) and cams.fy[0].item() == pytest.approx(3.25)
    assert cams.cx[0].item() == pytest.approx(2.1) and cams.cy[0].item() == pytest.approx(1.45)
    torch.testing.assert_close(cams.distortion[0], torch.tensor([0.05, -0.01, 0.001, -0.002, 0, 0, 0]))


# --- format detection and paths -------------------------------------------------------------------

def test_format_detection(tmp_path):
    assert detect_format(write_blender(tmp_path / "b")) == "blender"
    assert detect_format(write_ngp(tmp_path / "n")) == "ngp"
    assert load(tmp_path / "n" / "transforms.json").source_format == "ngp"  # a transforms file works too
    other = tmp_path / "other"
    other.mkdir()
    (other / "readme.txt").write_text("x")
    raises_user_error(lambda: load(other), "transforms_train.json", "transforms.json", str(other))
    colmap = tmp_path / "colmap"
    (colmap / "sparse" / "0").mkdir(parents=True)
    assert detect_format(colmap) == "colmap"
    raises_user_error(lambda: load(colmap), "no COLMAP model", "nerf-ff process")  # empty sparse/0


def test_dataset_placeholder_and_relative_paths(tmp_path, monkeypatch):
    write_blender(tmp_path / "sets" / "lego")
    monkeypatch.setenv("NERF_FF_DATASETS", str(tmp_path / "sets"))
    assert load_scene(SceneConfig(path="{datasets}/lego")).source_format == "blender"
    assert load_scene(SceneConfig(path="sets/lego"), yaml_dir=tmp_path).source_format == "blender"


def test_builtin_dispatch_is_lazy_and_explicit(monkeypatch):
    import sys
    import types

    fake = types.ModuleType("nerf_ff.data.procedural")
    fake.make_builtin_scene = lambda cfg: ("builtin", cfg.name)
    monkeypatch.setitem(sys.modules, "nerf_ff.data.procedural", fake)
    assert load_scene(SceneConfig(name="x", format="builtin")) == ("builtin", "x")
    assert load_scene(SceneConfig(name="y")) == ("builtin", "y")  # auto without a path


# --- bad input: every case is a one-line UserError naming the file and what to do -----------------

def test_errors_paths_and_formats(tmp_path):
    raises_user_error(lambda: load(tmp_path / "nope"), "does not exist", "scene.path")
    empty = tmp_path / "empty"
    empty.mkdir()
    raises_user_error(lambda: load(empty), "is empty", str(empty))
    raises_user_error(lambda: load(tmp_path, format="colmap-ish"), "unknown", "scene.format")
    raises_user_error(lambda: load_scene(SceneConfig(format="ngp")), "scene.path is not set")
    b = write_blender(tmp_path / "b")
    raises_user_error(lambda: load(b, format="ngp"), "no transforms.json")
    n = write_ngp(tmp_path / "n")
    raises_user_error(lambda: load(n, format="blender"), "no transforms_train.json")


def test_errors_images(tmp_path):
    root = write_blender(tmp_path / "missing", counts={"train": 2, "test": 1})
    (root / "train" / "r_1.png").unlink()
    raises_user_error(lambda: load(root), "r_1.png", "does not exist")

    root = write_blender(tmp_path / "corrupt", counts={"train": 2, "test": 1})
    (root / "train" / "r_1.png").write_bytes(b"not an image at all")
    raises_user_error(lambda: load(root), "r_1.png", "unreadable")

    root = write_blender(tmp_path / "trunc_png", counts={"train": 2, "test": 1})
    data = (root / "train" / "r_0.png").read_bytes()
    (root / "train" / "r_0.png").write_bytes(data[: len(data) * 2 // 3])
    raises_user_error(lambda: load(root), "r_0.png", "truncated")

    root = write_ngp(tmp_path / "trunc_jpg", n=3, w=32, h=24)
    jpg = root / "images" / "0001.jpg"
    Image.fromarray(image_for(7, 3, 32, 24)).save(jpg, quality=90)
    data = jpg.read_bytes()
    jpg.write_bytes(data[: len(data) - 200])
    edit_json(root / "transforms.json", lambda d: d["frames"][0].update(file_path="images/0001.jpg")
              if d["frames"][0]["file_path"] == "images/0000.png" else None)
    raises_user_error(lambda: load(root), "0001.jpg", "truncated")

    root = write_blender(tmp_path / "sizes", counts={"train": 3, "test": 1})
    Image.fromarray(image_for(0, 4, w=W + 2)).save(root / "train" / "r_2.png")
    raises_user_error(lambda: load(root), "differ in size", "r_2.png", "transforms_train.json")


def test_errors_transforms_files(tmp_path):
    root = write_blender(tmp_path / "notjson")
    (root / "transforms_train.json").write_text("{ not json")
    raises_user_error(lambda: load(root), "transforms_train.json", "not valid JSON")

    root = write_blender(tmp_path / "noframes")
    edit_json(root / "transforms_test.json", lambda d: d.pop("frames"))
    raises_user_error(lambda: load(root), "transforms_test.json", "'frames'")

    root = write_blender(tmp_path / "nofov")
    edit_json(root / "transforms_train.json", lambda d: d.pop("camera_angle_x"))
    raises_user_error(lambda: load(root), "transforms_train.json", "camera_angle_x")

    root = write_ngp(tmp_path / "nointr", top={"fl_x": None, "fl_y": None})
    raises_user_error(lambda: load(root), "transforms.json", "intrinsics")

    root = write_ngp(tmp_path / "wh", top={"w": 100.0})
    raises_user_error(lambda: load(root), "w x h", "100")

    root = write_ngp(tmp_path / "equirect", top={"camera_model": "EQUIRECTANGULAR"})
    raises_user_error(lambda: load(root), "EQUIRECTANGULAR", "undistort")

    root = write_ngp(tmp_path / "fisheye", top={"camera_model": "OPENCV_FISHEYE"})  # with the fixture's p1 p2
    raises_user_error(lambda: load(root), "fisheye", "p1/p2")

    root = write_ngp(tmp_path / "k5", frame_extra={4: {"k5": 0.01}})
    raises_user_error(lambda: load(root), "transforms.json frame", "k5", "undistort")


def bad_pose(kind: str) -> list:
    m = np.array(pose(1))
    if kind == "nan":
        m[0, 3] = float("nan")
    elif kind == "inf":
        m[1, 1] = float("inf")
    elif kind == "scaled":
        m[:3, :3] *= 2.0
    elif kind == "shear":
        m[0, 1] += 0.2
    elif kind == "mirror":
        m[:3, 0] *= -1
    elif kind == "shape":
        m = m[:2]
    return m.tolist()


@pytest.mark.parametrize("kind, fragment", [("nan", "NaN"), ("inf", "inf"), ("scaled", "scaled by 2"),
                                            ("shear", "not 1"), ("mirror", "determinant -1"),
                                            ("shape", "shape")])
def test_errors_bad_poses(tmp_path, kind, fragment):
    root = write_blender(tmp_path / "b", counts={"train": 3, "test": 1})
    edit_json(root / "transforms_train.json", lambda d: d["frames"][1].update(transform_matrix=bad_pose(kind)))
    raises_user_error(lambda: load(root), "transforms_train.json frame 1", fragment)
    root = write_ngp(tmp_path / "n", n=3)
    edit_json(root / "transforms.json", lambda d: d["frames"][2].update(transform_matrix=bad_pose(kind)))
    raises_user_error(lambda: load(root), "transforms.json frame 2", fragment)


def test_rotation_without_scale_but_not_orthogonal_is_rejected(tmp_path):
    m = np.array(pose(1))
    c, s = math.cos(0.3), math.sin(0.3)
    m[:3, 1] = c * m[:3, 1] + s * m[:3, 0]  # unit length, but no longer orthogonal to column 0
    root = write_ngp(tmp_path / "n", n=3)
    edit_json(root / "transforms.json", lambda d: d["frames"][0].update(transform_matrix=m.tolist()))
    raises_user_error(lambda: load(root), "not orthonormal")


@pytest.mark.parametrize("file_path", ["../outside.png", "images/../../outside.png", "/etc/outside.png"])
def test_errors_file_path_outside_scene(tmp_path, file_path):
    root = write_ngp(tmp_path / "n", n=3)
    Image.fromarray(image_for(0, 3)).save(tmp_path / "outside.png")
    edit_json(root / "transforms.json", lambda d: d["frames"][1].update(file_path=file_path))
    raises_user_error(lambda: load(root), "outside the scene folder", repr(file_path))


# --- real data (skipped without ../shared/datasets) ------------------------------------------------

LEGO = datasets_root() / "nerf_synthetic_400" / "lego"
FOX = datasets_root() / "ngp_fox"


@pytest.mark.dataset
@pytest.mark.skipif(not LEGO.is_dir(), reason="nerf_synthetic_400/lego not found under the datasets root")
def test_real_lego():
    scene = load_scene(SceneConfig(name="lego", path=str(LEGO), downscale=4), splits=["train", "test"])
    assert (len(scene.train), len(scene.test)) == (100, 200)
    cams = scene.train.cameras
    assert (cams.width * 4, cams.height * 4) == (400, 400) and scene.train.images.shape[1:] == (100, 100, 4)
    assert scene.train.images.dtype == torch.uint8


@pytest.mark.dataset
@pytest.mark.skipif(not FOX.is_dir(), reason="ngp_fox not found under the datasets root")
def test_real_fox():
    scene = load_scene(SceneConfig(name="fox", path=str(FOX), downscale=8, test_every=8))
    assert len(scene.train) + len(scene.test) == 67 and len(scene.test) == 9
    cams = scene.train.cameras
    assert (cams.width * 8, cams.height * 8) == (1080, 1920)
    assert cams.distortion is not None and cams.distortion.abs().sum() > 0
    # Opaque photos: unbounded, one grid level over contracted space; as an object scene instant-ngp's
    # aabb_scale 4 gives 3 cascades.
    assert scene.kind == "unbounded" and scene.grid_levels == 1
    as_object = load_scene(SceneConfig(name="fox", path=str(FOX), downscale=8, kind="object"), splits=["train", "test"])
    assert as_object.grid_levels == 3
    # Cameras look at the centre of the box: the point nearest all optical axes is well inside it.
    c2w = torch.cat([cams.c2w, scene.test.cameras.c2w]).double()
    o, d = c2w[:, :, 3], -c2w[:, :, 2]
    proj = torch.eye(3, dtype=torch.float64) - d[:, :, None] * d[:, None, :]  # [N, 3, 3]
    focus = torch.linalg.solve(proj.sum(0), (proj @ o[:, :, None]).sum(0))[:, 0]
    half = (scene.aabb[3:] - scene.aabb[:3]).double() / 2
    centre = (scene.aabb[3:] + scene.aabb[:3]).double() / 2
    assert ((focus - centre).abs() < 0.25 * half).all()


@pytest.mark.dataset
@pytest.mark.skipif(not (FOX.is_dir() and LEGO.is_dir()), reason="ngp_fox or lego not found under the datasets root")
def test_real_full_sizes_pick_the_cpu_resolution():
    from nerf_ff.autoconfig import pick_downscale  # noqa: PLC0415
    from nerf_ff.config import RunConfig  # noqa: PLC0415
    from nerf_ff.data import full_size  # noqa: PLC0415

    for path, size, cpu in ((FOX, (1080, 1920), 8), (LEGO, (400, 400), 2)):
        assert full_size(SceneConfig(name="s", path=str(path))) == size
        cfg = RunConfig.from_dict({"scene": {"name": "s", "path": str(path)}, "train": {"device": "cpu"}})
        assert pick_downscale([], cfg)["downscale"] == cpu


def test_fisheye_capture_loads_in_both_layouts(tmp_path):
    """The generated ring seen through an OpenCV fisheye (~165 degrees across), written as nerfstudio
    transforms.json (camera_model OPENCV_FISHEYE, k1..k4) and as a COLMAP OPENCV_FISHEYE model: both load
    the generator's own rays, so every pixel's colour is explained by the ray it is trained on."""
    from nerf_ff.data.cameras import image_rays
    from nerf_ff.data.outdoor import fisheye_cameras, render_outdoor, write_outdoor_scene

    n, w, h = 8, 32, 24
    truth = fisheye_cameras(n, w, h)
    images = render_outdoor(truth, supersample=1)
    for layout in ("ngp", "colmap"):
        root = write_outdoor_scene(tmp_path / layout, layout, n, w, h, images=images, rig="fisheye")
        scene = load_scene(SceneConfig(name=layout, path=str(root), test_every=4))
        cams = scene.train.cameras
        assert cams.lens_kinds == {1} and scene.meta["distortion"]
        assert "lens: fisheye" in scene.describe(0.0)
        for k, name in enumerate(scene.train.names):
            i = int(Path(name).stem.split("_")[-1])
            o, d = image_rays(cams, k)
            o_true, d_true = image_rays(truth, i)
            assert float((d - d_true).norm(dim=-1).max()) < 1e-4, (layout, name)
            assert float((o - o_true).norm(dim=-1).max()) < 1e-4
            assert torch.equal(scene.train.images[k][..., :3], images[i])
        axis = -cams.c2w[0, :, 2]
        widest = math.degrees(float(torch.acos((image_rays(cams, 0)[1] @ axis).clamp(-1, 1)).max()))
        assert widest > 95  # rays beyond 90 degrees from the axis: no pinhole could hold them
