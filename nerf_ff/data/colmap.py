"""COLMAP sparse models: read cameras / images / points3D (.bin or .txt) and load them as a scene.

File formats (COLMAP's documented output format; binary files are little-endian):
    cameras.bin   u64 n; n x {u32 camera_id, i32 model_id, u64 width, u64 height, f64 params[p(model)]}
    images.bin    u64 n; n x {u32 image_id, f64 qw qx qy qz, f64 tx ty tz, u32 camera_id, name (NUL-ended),
                              u64 m; m x {f64 x, f64 y, i64 point3D_id (-1: none)}}
    points3D.bin  u64 n; n x {u64 point3D_id, f64 x y z, u8 r g b, f64 error, u64 t; t x {u32 image_id, u32 point2D_idx}}
    *.txt         the same fields as text, '#' comment lines; images.txt has two lines per image
                  ("ID QW QX QY QZ TX TY TZ CAMERA_ID NAME", then "X Y POINT3D_ID ..."), cameras.txt
                  "ID MODEL W H PARAMS...", points3D.txt "ID X Y Z R G B ERROR (IMAGE_ID POINT2D_IDX)...".
COLMAP 3.12+ also writes rigs and frames; images still carry their own pose, so those files are not read.

Conventions. An image's (q, t) maps world to camera, x_cam = R(q) x_world + t, in OpenCV camera
axes (x right, y down, z forward); the centre is -R^T t. Our c2w (OpenGL axes) is R^T with its y
and z columns negated, and that centre. COLMAP puts pixel centres at +0.5, as we do, so cx, cy are
used as stored. Lens models: SIMPLE_PINHOLE (f cx cy), PINHOLE (fx fy cx cy), SIMPLE_RADIAL
(f cx cy k), RADIAL (f cx cy k1 k2), OPENCV (fx fy cx cy k1 k2 p1 p2), FULL_OPENCV with k4 = k5 = k6 = 0
(… k3: its rational terms are not modelled) — the OpenCV radial-tangential model of cameras.py with some
coefficients zero; and the fisheyes OPENCV_FISHEYE (fx fy cx cy k1 k2 k3 k4), SIMPLE_RADIAL_FISHEYE
(f cx cy k), RADIAL_FISHEYE (f cx cy k1 k2): cameras.py's equidistant model. Other models (FOV, thin
prism, ...) are rejected: their coefficients would otherwise be silently dropped.

Scene box: for an unbounded scene (opaque photos, the usual case) the region of interest of the
cameras (`bounds.roi_from_cameras`, the same rule as for transforms.json, so the two layouts of one
capture agree); for an object scene (`scene.kind: object`) `bounds.scene_bounds`, which also uses
the sparse points, with `bounds.cascade_levels` occupancy cascades around it.

`load_colmap` reads `sparse/0` (or `sparse/`, or the sub-model of sparse/ with the most images)
plus `images/` (or, with scene.downscale d, the copies in `images_d/` where they exist: images.py), keeps COLMAP's world frame (no re-centring: the box is computed in it), and holds
out every cfg.test_every-th image in name order.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Optional, Sequence

import numpy as np
import torch

from ..config import SceneConfig
from ..errors import UserError
from .bounds import cascade_levels, half_fov, scene_bounds
from .cameras import Cameras, lens
from .images import load_scaled
from .scene import SceneData, Split, every_nth_split

# model id -> (name, number of parameters); the ids are COLMAP's.
MODELS = {0: ("SIMPLE_PINHOLE", 3), 1: ("PINHOLE", 4), 2: ("SIMPLE_RADIAL", 4), 3: ("RADIAL", 5), 4: ("OPENCV", 8),
          5: ("OPENCV_FISHEYE", 8), 6: ("FULL_OPENCV", 12), 7: ("FOV", 5), 8: ("SIMPLE_RADIAL_FISHEYE", 4),
          9: ("RADIAL_FISHEYE", 5), 10: ("THIN_PRISM_FISHEYE", 12), 11: ("RAD_TAN_THIN_PRISM_FISHEYE", 16)}
MODEL_IDS = {name: i for i, (name, _) in MODELS.items()}
SUPPORTED_MODELS = ("SIMPLE_PINHOLE", "PINHOLE", "SIMPLE_RADIAL", "RADIAL", "OPENCV", "FULL_OPENCV", "OPENCV_FISHEYE",
                    "SIMPLE_RADIAL_FISHEYE", "RADIAL_FISHEYE")


@dataclass
class ColmapCamera:
    camera_id: int
    model: str
    width: int
    height: int
    params: np.ndarray  # [p] float64, in the model's order


@dataclass
class ColmapImage:
    image_id: int
    qvec: np.ndarray  # [4] world-to-camera rotation, (w, x, y, z)
    tvec: np.ndarray  # [3] world-to-camera translation
    camera_id: int
    name: str
    xys: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))  # [m, 2] keypoints (pixels)
    point3D_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # [m], -1: none


@dataclass
class ColmapPoints:
    ids: np.ndarray  # [P] int64
    xyz: np.ndarray  # [P, 3] float64
    rgb: np.ndarray  # [P, 3] uint8
    error: np.ndarray  # [P] mean reprojection error (pixels)
    track_length: np.ndarray  # [P] int64: number of images observing the point


@dataclass
class SparseModel:
    cameras: dict[int, ColmapCamera]
    images: dict[int, ColmapImage]
    points: ColmapPoints
    path: Optional[Path] = None


# --------------------------------------------------------------------------- reading

def has_model(folder: Path) -> bool:
    folder = Path(folder)
    return all((folder / f"{n}.bin").is_file() for n in ("cameras", "images", "points3D")) or \
        all((folder / f"{n}.txt").is_file() for n in ("cameras", "images", "points3D"))


def find_model(scene: Path) -> Path:
    """The sparse model of a scene folder: sparse/0, else sparse/ itself, else the sparse/* sub-model
    with the most images. `scene` may also be a model folder itself."""
    scene = Path(scene)
    if has_model(scene):
        return scene
    sparse = scene / "sparse"
    for cand in (sparse / "0", sparse):
        if has_model(cand):
            return cand
    subs = [p for p in sorted(sparse.iterdir()) if p.is_dir() and has_model(p)] if sparse.is_dir() else []
    if not subs:
        raise UserError(f"no COLMAP model in {scene} (expected sparse/0/cameras.bin, images.bin, points3D.bin "
                        "or the .txt versions); run `nerf-ff process` or COLMAP's mapper first")
    return max(subs, key=_count_images)


def read_model(folder: Path) -> SparseModel:
    """Read a sparse model folder; the binary files win when both kinds are complete."""
    folder = Path(folder)
    binary = all((folder / f"{n}.bin").is_file() for n in ("cameras", "images", "points3D"))
    if not binary and not has_model(folder):
        raise UserError(f"{folder} is not a COLMAP sparse model (needs cameras, images and points3D as .bin "
                        "or .txt); point at the model folder, e.g. sparse/0")
    readers = (_read_cameras_bin, _read_images_bin, _read_points_bin) if binary else \
        (_read_cameras_txt, _read_images_txt, _read_points_txt)
    parts = []
    for reader, name in zip(readers, ("cameras", "images", "points3D")):
        path = folder / f"{name}.{'bin' if binary else 'txt'}"
        try:
            parts.append(reader(path))
        except (struct.error, ValueError, IndexError, UnicodeDecodeError) as exc:
            raise UserError(f"{path} is truncated or malformed ({type(exc).__name__}: {exc}); "
                            "re-export the model from COLMAP") from None
    model = SparseModel(*parts, path=folder)
    for img in model.images.values():
        if img.camera_id not in model.cameras:
            raise UserError(f"{folder}: image {img.name!r} refers to camera {img.camera_id}, which cameras."
                            f"{'bin' if binary else 'txt'} lacks; re-export the model")
    return model


def full_size(scene: Path) -> tuple[int, int]:
    """(width, height) of the model's largest camera (cameras.bin / .txt only)."""
    model = find_model(scene)
    cams = _read_cameras_bin(model / "cameras.bin") if (model / "cameras.bin").is_file() else \
        _read_cameras_txt(model / "cameras.txt")
    return max(((c.width, c.height) for c in cams.values()), key=lambda wh: wh[0] * wh[1])


def _count_images(folder: Path) -> int:
    if (folder / "images.bin").is_file():
        with open(folder / "images.bin", "rb") as f:
            return struct.unpack("<Q", f.read(8))[0]
    return sum(1 for _ in _data_lines(folder / "images.txt")) // 2


def _read(f: BinaryIO, fmt: str) -> tuple:
    size = struct.calcsize(fmt)
    data = f.read(size)
    if len(data) != size:
        raise struct.error(f"file ends early (wanted {size} more bytes)")
    return struct.unpack(fmt, data)


def _read_cameras_bin(path: Path) -> dict[int, ColmapCamera]:
    cams = {}
    with open(path, "rb") as f:
        (n,) = _read(f, "<Q")
        for _ in range(n):
            cam_id, model_id, w, h = _read(f, "<IiQQ")
            if model_id not in MODELS:
                raise UserError(f"{path}: camera {cam_id} has unknown model id {model_id}; use one of "
                                f"{', '.join(SUPPORTED_MODELS)} (COLMAP image_undistorter can convert)")
            name, n_params = MODELS[model_id]
            cams[cam_id] = ColmapCamera(cam_id, name, w, h, np.array(_read(f, f"<{n_params}d")))
    return cams


def _read_images_bin(path: Path) -> dict[int, ColmapImage]:
    images = {}
    point_dtype = np.dtype([("xy", "<f8", 2), ("id", "<i8")])
    with open(path, "rb") as f:
        (n,) = _read(f, "<Q")
        for _ in range(n):
            image_id, *pose, cam_id = _read(f, "<I7dI")
            name = bytearray()
            while (ch := f.read(1)) not in (b"\0", b""):
                name += ch
            if ch == b"":
                raise struct.error("file ends inside an image name")
            (m,) = _read(f, "<Q")
            buf = f.read(m * point_dtype.itemsize)
            if len(buf) != m * point_dtype.itemsize:
                raise struct.error("file ends inside an image's 2D points")
            pts = np.frombuffer(buf, point_dtype)
            images[image_id] = ColmapImage(image_id, np.array(pose[:4]), np.array(pose[4:]), cam_id,
                                           name.decode("utf-8"), pts["xy"].copy(), pts["id"].copy())
    return images


def _read_points_bin(path: Path) -> ColmapPoints:
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack_from("<Q", data, 0)
    ids, xyz, rgb, err, tlen = np.zeros(n, np.int64), np.zeros((n, 3)), np.zeros((n, 3), np.uint8), \
        np.zeros(n), np.zeros(n, np.int64)
    head, off = struct.Struct("<Q3d3BdQ"), 8
    for i in range(n):
        pid, x, y, z, r, g, b, e, t = head.unpack_from(data, off)
        ids[i], xyz[i], rgb[i], err[i], tlen[i] = pid, (x, y, z), (r, g, b), e, t
        off += head.size + 8 * t  # skip the track: (u32 image_id, u32 point2D_idx) pairs
    if off > len(data):
        raise struct.error("file ends inside a point's track")
    return ColmapPoints(ids, xyz, rgb, err, tlen)


def _data_lines(path: Path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line.startswith("#"):
                continue
            yield line


def _read_cameras_txt(path: Path) -> dict[int, ColmapCamera]:
    cams = {}
    for line in _data_lines(path):
        if not line:
            continue
        tok = line.split()
        cam_id, model = int(tok[0]), tok[1]
        if model not in MODEL_IDS:
            raise UserError(f"{path}: camera {cam_id} has unknown model {model!r}; use one of {', '.join(SUPPORTED_MODELS)}")
        params = np.array([float(v) for v in tok[4:]])
        if len(params) != MODELS[MODEL_IDS[model]][1]:
            raise ValueError(f"camera {cam_id} ({model}) has {len(params)} parameters")
        cams[cam_id] = ColmapCamera(cam_id, model, int(tok[2]), int(tok[3]), params)
    return cams


def _read_images_txt(path: Path) -> dict[int, ColmapImage]:
    images = {}
    lines = list(_data_lines(path))
    i = 0
    while i < len(lines):
        if not lines[i]:  # blank lines between entries (the points line itself may be empty)
            i += 1
            continue
        tok = lines[i].split()
        if len(tok) < 10:
            raise ValueError(f"image line {lines[i]!r} has {len(tok)} fields, expected 10")
        vals = [float(v) for v in tok[1:8]]
        pts = lines[i + 1].split() if i + 1 < len(lines) else []
        if len(pts) % 3:
            raise ValueError(f"points line of image {tok[0]} is not (X Y POINT3D_ID) triples")
        arr = np.array(pts, dtype=np.float64).reshape(-1, 3)
        # The name is the rest of the line (names may contain spaces).
        name = lines[i].split(None, 9)[9]
        images[int(tok[0])] = ColmapImage(int(tok[0]), np.array(vals[:4]), np.array(vals[4:]), int(tok[8]), name,
                                          arr[:, :2].copy(), arr[:, 2].astype(np.int64))
        i += 2
    return images


def _read_points_txt(path: Path) -> ColmapPoints:
    rows = [line.split() for line in _data_lines(path) if line]
    n = len(rows)
    ids, xyz, rgb, err, tlen = np.zeros(n, np.int64), np.zeros((n, 3)), np.zeros((n, 3), np.uint8), \
        np.zeros(n), np.zeros(n, np.int64)
    for i, tok in enumerate(rows):
        if len(tok) < 8 or (len(tok) - 8) % 2:
            raise ValueError(f"point line {' '.join(tok[:8])!r}... is malformed")
        ids[i], xyz[i], rgb[i], err[i] = int(tok[0]), [float(v) for v in tok[1:4]], [int(v) for v in tok[4:7]], float(tok[7])
        tlen[i] = (len(tok) - 8) // 2
    return ColmapPoints(ids, xyz, rgb, err, tlen)


# --------------------------------------------------------------------------- conventions

def qvec_to_rotmat(q: np.ndarray) -> np.ndarray:
    """Unit quaternion (w, x, y, z) → rotation matrix [3, 3] (normalised first)."""
    w, x, y, z = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                     [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                     [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


def rotmat_to_qvec(R: np.ndarray) -> np.ndarray:
    """Rotation matrix [3, 3] → unit quaternion (w, x, y, z) with w >= 0."""
    # The eigenvector of the symmetric 4x4 K (Bar-Itzhack) with the largest eigenvalue.
    r = np.asarray(R, dtype=np.float64)
    K = np.array([[r[0, 0] - r[1, 1] - r[2, 2], 0, 0, 0],
                  [r[1, 0] + r[0, 1], r[1, 1] - r[0, 0] - r[2, 2], 0, 0],
                  [r[2, 0] + r[0, 2], r[2, 1] + r[1, 2], r[2, 2] - r[0, 0] - r[1, 1], 0],
                  [r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1], r[0, 0] + r[1, 1] + r[2, 2]]]) / 3
    vals, vecs = np.linalg.eigh(K)  # reads the lower triangle
    x, y, z, w = vecs[:, np.argmax(vals)]
    q = np.array([w, x, y, z])
    return q if w >= 0 else -q


def c2w_opengl(img: ColmapImage) -> np.ndarray:
    """COLMAP world-to-camera (OpenCV axes) → camera-to-world [3, 4] in OpenGL axes."""
    R = qvec_to_rotmat(img.qvec)
    c2w = np.concatenate([R.T, (-R.T @ img.tvec)[:, None]], 1)
    c2w[:, 1:3] *= -1  # OpenCV (y down, z forward) → OpenGL (y up, z backward)
    return c2w


def camera_intrinsics(cam: ColmapCamera, where: str = "") -> np.ndarray:
    """fx, fy, cx, cy and the lens row of cameras.py (k1, k2, p1, p2, k3, k4, fisheye) [11] of a supported
    COLMAP camera (pixels of its width x height)."""
    p, m = list(cam.params), cam.model
    if m == "FULL_OPENCV" and any(p[9:12]):
        raise UserError(f"{where or 'COLMAP model'}: camera {cam.camera_id} is FULL_OPENCV with rational coefficients "
                        f"k4 k5 k6 = {p[9:12]}, which are not modelled; undistort the images with COLMAP "
                        "image_undistorter or re-run the mapper with the OPENCV model")
    rows = {"SIMPLE_PINHOLE": lambda: [p[0], p[0], p[1], p[2], *lens()],
            "PINHOLE": lambda: [*p[:4], *lens()],
            "SIMPLE_RADIAL": lambda: [p[0], p[0], p[1], p[2], *lens(p[3])],
            "RADIAL": lambda: [p[0], p[0], p[1], p[2], *lens(p[3], p[4])],
            "OPENCV": lambda: [*p[:4], *lens(*p[4:8])],
            "FULL_OPENCV": lambda: [*p[:4], *lens(*p[4:9])],
            "OPENCV_FISHEYE": lambda: [*p[:4], *lens(p[4], p[5], 0, 0, p[6], p[7], fisheye=True)],
            "SIMPLE_RADIAL_FISHEYE": lambda: [p[0], p[0], p[1], p[2], *lens(p[3], fisheye=True)],
            "RADIAL_FISHEYE": lambda: [p[0], p[0], p[1], p[2], *lens(p[3], p[4], fisheye=True)]}
    if m not in rows:
        raise UserError(f"{where or 'COLMAP model'}: camera {cam.camera_id} uses the {m} model, which is not "
                        f"supported (only {', '.join(SUPPORTED_MODELS)}); undistort the images with COLMAP "
                        "image_undistorter or re-run the mapper with the OPENCV model")
    row = np.array(rows[m](), dtype=np.float64)
    if not (np.all(np.isfinite(row)) and row[0] > 0 and row[1] > 0):
        raise UserError(f"{where or 'COLMAP model'}: camera {cam.camera_id} has focal length {row[:2].tolist()} "
                        "(or non-finite parameters); re-run the mapper")
    return row


def to_cameras(model: SparseModel, images: Sequence[ColmapImage]) -> Cameras:
    """Cameras (OpenGL c2w, distortion when any coefficient is non-zero) of `images`; cameras of
    different image sizes share a canvas (Cameras.sizes)."""
    where = str(model.path or "COLMAP model")
    sizes = torch.tensor([(model.cameras[i.camera_id].width, model.cameras[i.camera_id].height) for i in images],
                         dtype=torch.long)  # [N, 2]
    intr = np.stack([camera_intrinsics(model.cameras[i.camera_id], where) for i in images])  # [N, 4 + 7]
    c2w = torch.from_numpy(np.stack([c2w_opengl(i) for i in images])).float()  # [N, 3, 4]
    t = lambda col: torch.from_numpy(intr[:, col]).float()  # noqa: E731
    dist = torch.from_numpy(intr[:, 4:]).float() if np.any(intr[:, 4:] != 0) else None
    w, h, own = Cameras.canvas_of(sizes)
    return Cameras(c2w, t(0), t(1), t(2), t(3), w, h, dist, own)


# --------------------------------------------------------------------------- loading

def load_colmap(folder: Path, cfg: SceneConfig, splits: Optional[Sequence[str]] = None) -> SceneData:
    """Load a COLMAP scene folder (sparse model + images/) as SceneData; see the module docstring."""
    from .ngp import captured_scene, scene_kind  # the same box, near and far rules as instant-ngp scenes

    folder = Path(folder)
    model_dir = find_model(folder)
    model = read_model(model_dir)
    if not model.images:
        raise UserError(f"{model_dir} registers no images; re-run SfM with more overlapping images")
    image_dir = folder / "images"
    if not image_dir.is_dir():
        raise UserError(f"{folder} has a COLMAP model but no images/ folder; put the images it was made from there")
    images = sorted(model.images.values(), key=lambda i: i.name)
    train, test = every_nth_split(len(images), cfg.test_every)
    if not train:
        raise UserError(f"{model_dir} registers only {len(images)} image(s), too few for a held-out split; add images")
    split_idx = {"train": train, "test": test}
    wanted = set(split_idx if splits is None else splits) | {"train", "test"}

    out, sources = {}, set()
    for name, idx in split_idx.items():
        if name not in wanted:
            continue
        imgs = [images[i] for i in idx]
        label = f"the {name} split of {model_dir}"
        cams = to_cameras(model, imgs)
        model_sizes = cams.all_sizes()
        pixels, before, after, source = load_scaled([image_dir / i.name for i in imgs], cfg.downscale, label,
                                                    (cams.width, cams.height) if cams.sizes is None else None)
        odd = np.flatnonzero((model_sizes.numpy() != before).any(1))
        if len(odd):
            (mw, mh), (w0, h0) = model_sizes[odd[0]].tolist(), before[odd[0]]
            raise UserError(f"{label}: the model's camera of {imgs[odd[0]].name} is {mw}x{mh} but the image is {w0}x{h0}; "
                            "use the images the model was made from (not resized copies)")
        cams = cams.fitted(model_sizes, torch.from_numpy(after))
        out[name] = Split(torch.from_numpy(pixels), cams, [i.name for i in imgs])
        sources.add(source)

    # Box in COLMAP's world frame (the rule in the module docstring).
    all_cams = to_cameras(model, images)
    c2w = all_cams.c2w.double().numpy()  # [N, 3, 4]
    centres, forward = c2w[:, :, 3], -c2w[:, :, 2]
    fov = 2 * half_fov(all_cams)
    box, levels, facts = None, 1, {}
    if scene_kind(cfg, out) == "object":  # unbounded scenes take the cameras' region of interest
        centre, half, facts = scene_bounds(model.points.xyz, centres, forward, fov / 2)
        levels = cascade_levels(centre, half, centres, model.points.xyz)
        box = np.concatenate([centre - half, centre + half])
    note = (f"test split: COLMAP defines none, so after sorting images by name every {cfg.test_every}th "
            f"(0, {cfg.test_every}, ...) is held out; {len(train)} train / {len(test)} test views")
    return captured_scene(cfg, out, box, levels, note, "colmap",
                          {"model": str(model_dir), "n_images": len(images), "n_points3D": len(model.points.ids),
                           "downscale": cfg.downscale, "pixels": "; ".join(sorted(sources)), "distortion": all_cams.distortion is not None, **facts},
                          points=model.points.xyz)
