"""Captured scenes: a folder of photos or a video → camera poses (SfM with pycolmap) → transforms.json.

`process(INPUT, OUT)` runs five stages, each printed with its wall-clock time:
    1. frames    pick the frames and write them (area-downscaled) to OUT/images/
    2. features  SIFT features, one shared camera per image size (OPENCV: f, c and k1 k2 p1 p2; PINHOLE;
                 or OPENCV_FISHEYE for action-camera and ultra-wide lenses: f, c and k1 k2 k3 k4)
    3. matching  exhaustive (every pair: photo sets up to AUTO_EXHAUSTIVE_MAX images) or sequential
                 (each frame with its 10 successors plus 2^k-spaced ones: videos, larger sets; frames
                 must be in capture order by name). Sequential does not close loops: for a video that
                 circles back to its start, --matcher exhaustive ties the ends together.
    4. mapping   pycolmap incremental mapping; the model with the most registered images is kept
    5. export    normalise the world frame, write transforms.json, sparse/0, sparse_pc.ply, process.json
Everything is written into a hidden `.NAME.partial-PID` folder next to OUT and renamed into place at
the end, so a failure never leaves a half-written folder that looks like a scene.

Frame selection (videos; photo folders only when --max-frames is given and exceeded): the frames are
cut into N equal windows in time (name order for photos) and the sharpest frame of each window is
kept, so the blurriest (motion blur, refocusing) are dropped while the coverage stays even.
Sharpness is the variance of the Laplacian of the grey frame at the output resolution: blur removes
the high frequencies the Laplacian responds to, so its variance falls (cv2.Laplacian, 3x3 kernel).

Output (OUT):
    images/          the frames SfM registered (video frames: frame_00001.jpg ... in time order; photos
                     keep their names; unregistered ones are left out and listed in process.json)
    transforms.json  instant-ngp / nerfstudio format: fl_x fl_y cx cy w h k1 k2 (p1 p2) k3 k4,
                     camera_model "OPENCV" or "OPENCV_FISHEYE", per-frame file_path + transform_matrix (camera-to-world,
                     OpenGL axes), aabb_scale, scale / offset, train_filenames / test_filenames
                     (every TEST_EVERY-th registered frame in name order is held out), ply_file_path;
                     with images of several sizes each frame also carries its own camera's keys
    sparse/0/        the COLMAP model, in the same (normalised) world frame as transforms.json
    sparse_pc.ply    its sparse points
    process.json     registered / total, mean reprojection error, matcher, per-stage wall and CPU
                     seconds, pycolmap version, the frames' sources and sharpness, the normalisation

World frame. The poses are pre-transformed (a similarity applied to the whole model) and the file's
`scale` / `offset` are instant-ngp's defaults 0.33 / 0.5, written out: world up (estimated from the
cameras, `trajectories.estimate_up`) becomes +z; the scene-box centre of `bounds.scene_bounds` (the
point the cameras' axes converge on, else the sparse points' robust box centre) becomes the origin;
and the scale makes that box's half-size 0.5 / 0.33, so the box is exactly instant-ngp's unit cube
(ngp.py's aabb). The box holds the central 90% of the sparse points, capped at what the cameras
frame around the centre (see colmap.py). aabb_scale is the smallest power of two whose cube holds
every camera and 95% of the points.
"""

from __future__ import annotations

import json
import math
import os
import resource
import shutil
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Optional

import cv2
import numpy as np
from PIL import Image

from ..errors import UserError
from .bounds import cascade_levels, scene_bounds
from .colmap import c2w_opengl, camera_intrinsics, read_model
from .images import IMAGE_SUFFIXES, VIDEO_SUFFIXES, downscale_image, list_images, read_image, scaled_size

MATCHERS = ("auto", "exhaustive", "sequential")
CAMERA_MODELS = ("OPENCV", "PINHOLE", "OPENCV_FISHEYE")
FISHEYE_FOCAL_PRIOR = 0.45
"""Initial fisheye focal length over the long image side: the image's long edges ~64 degrees from the
axis (an action camera's wide mode); bundle adjustment refines it (COLMAP needs a prior for fisheyes)."""
DEFAULT_VIDEO_FRAMES = 100
AUTO_EXHAUSTIVE_MAX = 100
"""auto matcher: photo folders up to this many images are matched exhaustively."""
MIN_IMAGES = 3
MIN_REGISTERED_FRACTION = 0.5
"""Fewer registered images than this fraction of the input (or fewer than MIN_IMAGES) is a failure."""
SEQUENTIAL_OVERLAP = 10
TEST_EVERY = 8
NGP_SCALE, NGP_OFFSET = 0.33, 0.5
JPEG_QUALITY = 95
EXIF_ORIENTATION = 0x0112  # the EXIF tag: how the stored pixels turn upright (1 = as stored)
SMALL_IMAGE = 640
"""Images whose larger side is at most this are upsampled once inside SIFT (first_octave -1) so it
finds enough features; larger ones start at full resolution (4x cheaper)."""


@dataclass
class Frame:
    name: str  # file name inside images/
    source: str  # input file name, or the video frame index
    time: Optional[float] = None  # seconds into the video
    sharpness: Optional[float] = None  # variance of the Laplacian, where it was measured
    size: tuple[int, int] = (0, 0)  # (w, h) as written into images/


# --------------------------------------------------------------------------- entry point

def process(input_path, out, *, downscale: int = 1, max_frames: Optional[int] = None, matcher: str = "auto",
            camera_model: str = "OPENCV", sift_features: int = 2048, overwrite: bool = False,
            verbose: bool = False, progress: bool = True) -> dict:
    """Run the pipeline of the module docstring; returns the process.json report."""
    pycolmap = import_pycolmap()
    input_path, out = Path(input_path), Path(out)
    matcher, camera_model = matcher.lower(), camera_model.upper()
    if downscale < 1:
        raise UserError(f"--downscale {downscale} must be an integer >= 1")
    if max_frames is not None and max_frames < MIN_IMAGES:
        raise UserError(f"--max-frames {max_frames} is too few for SfM; use at least {MIN_IMAGES} (20-200 is typical)")
    if matcher not in MATCHERS:
        raise UserError(f"--matcher {matcher} is unknown; use one of {', '.join(MATCHERS)}")
    if camera_model not in CAMERA_MODELS:
        raise UserError(f"--camera-model {camera_model} is unknown; use one of {', '.join(CAMERA_MODELS)}")
    if sift_features < 256:
        raise UserError(f"--sift-features {sift_features} is too few; use at least 256 (default 2048)")
    if not input_path.exists():
        raise UserError(f"input {input_path} does not exist; pass a folder of images or a video file")
    if input_path.is_file() and input_path.suffix.lower() not in VIDEO_SUFFIXES:
        raise UserError(f"input {input_path} is neither a folder of images nor a video "
                        f"({', '.join(VIDEO_SUFFIXES)}); pass the folder holding the photos")
    _check_out(out, input_path, overwrite)
    if not verbose:
        pycolmap.logging.minloglevel = 2  # errors only; COLMAP logs every step otherwise

    say = (lambda msg: print(msg, file=sys.stderr, flush=True)) if progress else (lambda msg: None)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "images").mkdir(parents=True)
    timings: dict = {}
    t_start, cpu_start = time.perf_counter(), _cpu_seconds()
    try:
        with _stage("frames", 1, timings, say):
            if input_path.is_dir():
                kind = "images"
                frames, orientation = _frames_from_folder(input_path, tmp / "images", downscale, max_frames)
            else:
                kind = "video"
                frames = _frames_from_video(input_path, tmp / "images", downscale, max_frames or DEFAULT_VIDEO_FRAMES,
                                            progress)
                orientation = "as decoded (OpenCV applies a video's rotation)"
            groups: dict = {}  # one SfM camera per image size (photos from several cameras, or turned ones)
            for fr in frames:
                groups.setdefault(fr.size, []).append(fr.name)
            sizes = " and ".join(f"{w}x{h}" + (f" ({len(g)})" if len(groups) > 1 else "") for (w, h), g in groups.items())
            say(f"      {len(frames)} {'frames' if kind == 'video' else 'images'} at {sizes}, {orientation}")
        if matcher == "auto":
            matcher = "sequential" if kind == "video" or len(frames) > AUTO_EXHAUSTIVE_MAX else "exhaustive"
        db = tmp / "database.db"
        with _stage(f"features (SIFT, at most {sift_features} per image, {camera_model} camera"
                    + (f" for each of the {len(groups)} image sizes)" if len(groups) > 1 else ")"), 2, timings, say,
                    key="features"):
            for size, names in groups.items():  # each call in SINGLE mode makes one new camera
                reader = pycolmap.ImageReaderOptions()
                reader.camera_model = camera_model
                if camera_model == "OPENCV_FISHEYE":  # COLMAP cannot recover a fisheye's focal length from pairs: a prior
                    f0 = FISHEYE_FOCAL_PRIOR * max(size)
                    reader.camera_params = ",".join(map(str, [f0, f0, size[0] / 2, size[1] / 2, 0, 0, 0, 0]))
                extraction = pycolmap.FeatureExtractionOptions()
                extraction.sift.max_num_features = sift_features
                extraction.sift.first_octave = -1 if max(size) <= SMALL_IMAGE else 0
                pycolmap.extract_features(db, tmp / "images", image_names=names, camera_mode=pycolmap.CameraMode.SINGLE,
                                          reader_options=reader, extraction_options=extraction)
        with _stage(f"matching ({matcher})", 3, timings, say, key="matching"):
            verification = pycolmap.TwoViewGeometryOptions()
            verification.ransac.random_seed = 0
            if matcher == "exhaustive":
                pycolmap.match_exhaustive(db, verification_options=verification)
            else:
                pairing = pycolmap.SequentialPairingOptions()
                pairing.overlap = SEQUENTIAL_OVERLAP
                pycolmap.match_sequential(db, pairing_options=pairing, verification_options=verification)
        with _stage("mapping (incremental)", 4, timings, say, key="mapping"):
            rec = _map(pycolmap, db, tmp, len(frames), progress)
        with _stage("export", 5, timings, say):
            report = _export(pycolmap, rec, tmp, frames)
        report.update({
            "input": str(input_path.resolve()), "kind": kind, "downscale": downscale, "orientation": orientation,
            "max_frames": max_frames if kind == "images" else (max_frames or DEFAULT_VIDEO_FRAMES),
            "matcher": matcher, "camera_model": camera_model, "sift_features": sift_features,
            "pycolmap_version": pycolmap.__version__, "timings": timings,
            "total_seconds": time.perf_counter() - t_start, "total_cpu_seconds": _cpu_seconds() - cpu_start,
        })
        (tmp / "process.json").write_text(json.dumps(report, indent=2))
        db.unlink(missing_ok=True)  # features + matches: large, and not needed to train
        _move_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    say(f"registered {report['registered']} / {report['total']} images, mean reprojection error "
        f"{report['mean_reprojection_error']:.3f} px, {report['n_points3D']} points; "
        f"{report['total_seconds']:.1f} s → {out}")
    return report


def import_pycolmap():
    """pycolmap, or a UserError saying how to install it."""
    try:
        import pycolmap  # noqa: PLC0415 (optional dependency: the `sfm` extra)
    except ImportError:
        raise UserError("`nerf-ff process` needs pycolmap for structure from motion; install it with "
                        "`pip install pycolmap` (or `pip install -e .[sfm]`)") from None
    if not hasattr(pycolmap, "FeatureExtractionOptions"):
        raise UserError(f"pycolmap {getattr(pycolmap, '__version__', '?')} is too old (needs >= 4.0); "
                        "upgrade it with `pip install -U pycolmap`")
    return pycolmap


# --------------------------------------------------------------------------- output folder

def _check_out(out: Path, input_path: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; choose a folder path")
    o, i = out.resolve(), input_path.resolve()
    if o == i or o in i.parents or i in o.parents:
        raise UserError(f"--out {out} overlaps the input {input_path}; choose an output folder outside it")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise UserError(f"--out {out} already exists and is not empty; pass --overwrite to replace it "
                        "or choose another folder")


def _move_into_place(tmp: Path, out: Path) -> None:
    """Rename the finished folder onto `out` (replacing it, which _check_out allowed)."""
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        out.rename(old)
    try:
        tmp.rename(out)
    except OSError:
        if old is not None:
            old.rename(out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# --------------------------------------------------------------------------- stage 1: frames

def sharpness(rgb: np.ndarray) -> float:
    """Variance of the Laplacian of the grey image [H, W, 3 | 4] uint8 (higher: sharper)."""
    grey = cv2.cvtColor(rgb[..., :3], cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def select_frames(scores, k: int) -> list[int]:
    """Indices of the sharpest frame in each of k equal windows over len(scores) frames (sorted)."""
    n = len(scores)
    if k >= n:
        return list(range(n))
    bounds = [round(j * n / k) for j in range(k + 1)]
    return [lo + int(np.argmax(scores[lo:hi])) for lo, hi in zip(bounds[:-1], bounds[1:])]


def _frames_from_folder(folder: Path, dst: Path, downscale: int, max_frames: Optional[int]):
    files = list_images(folder)
    if not files:
        raise UserError(f"no images in {folder} (looked for {' '.join(IMAGE_SUFFIXES)}); pass the folder that holds "
                        "the photos, or a video file")
    if len(files) < MIN_IMAGES:
        raise UserError(f"only {len(files)} image(s) in {folder}; SfM needs at least {MIN_IMAGES} overlapping views "
                        "(20-100 from all around the subject work well)")
    sizes, orientation = {}, {}
    for p in files:
        try:
            with Image.open(p) as im:
                sizes[p], orientation[p] = im.size, im.getexif().get(EXIF_ORIENTATION, 1)
        except OSError as exc:
            raise UserError(f"image {p} is unreadable ({exc}); remove or replace it") from None
    # Photos are turned upright by their EXIF orientation (as a video's rotation is applied) when that
    # leaves one size; a mix of portrait and landscape shots is kept as stored, so one camera (the sensor's)
    # fits all. Images of several stored sizes (several cameras, or turns baked into the pixels) get one
    # SfM camera per size.
    upright = {p: (s[1], s[0]) if orientation[p] in (5, 6, 7, 8) else s for p, s in sizes.items()}  # quarter turns
    use_exif = len(set(upright.values())) == 1
    score_of = {}
    if max_frames is not None and len(files) > max_frames:
        scores = [sharpness(downscale_image(read_image(p), downscale)) for p in files]
        score_of = dict(zip(files, scores))
        files = [files[i] for i in select_frames(scores, max_frames)]
    frames, taken = [], set()
    for p in files:
        name = _write_image(p, dst, downscale, taken, orientation[p], use_exif)
        frames.append(Frame(name, p.name, sharpness=score_of.get(p),
                            size=scaled_size(*(upright if use_exif else sizes)[p], downscale)))
    return frames, ("upright (EXIF orientation applied)" if use_exif and set(orientation.values()) != {1} else "as stored")


def _write_image(src: Path, dst: Path, downscale: int, taken: set, orientation: int, use_exif: bool) -> str:
    """Copy src into dst (byte for byte when possible) or re-encode it; returns the new file name.

    Files are copied only when nothing changes: no downscale, JPEG/PNG, and no EXIF orientation (the
    loaders and COLMAP both read the stored pixels, so a rotated photo is re-encoded without the tag:
    turned upright with `use_exif`, else as stored)."""
    suffix = src.suffix.lower()
    if downscale == 1 and suffix in (".jpg", ".jpeg", ".png") and orientation == 1:
        shutil.copyfile(src, dst / src.name)
        taken.add(src.name)
        return src.name
    img = downscale_image(read_image(src, upright=use_exif), downscale)
    new_suffix = ".jpg" if suffix in (".jpg", ".jpeg") and img.shape[-1] == 3 else ".png"
    name = src.stem + new_suffix
    if name in taken:
        name = f"{src.stem}_{len(taken)}{new_suffix}"
    taken.add(name)
    _save(img, dst / name)
    return name


def _save(img: np.ndarray, path: Path) -> None:
    if path.suffix == ".jpg":
        Image.fromarray(img).save(path, quality=JPEG_QUALITY, subsampling=0)
    else:
        Image.fromarray(img).save(path)


def _frames_from_video(video: Path, dst: Path, downscale: int, max_frames: int, progress: bool):
    """Two decoding passes: sharpness of every frame, then write the chosen ones."""
    from tqdm import tqdm  # noqa: PLC0415

    def frames_of() -> Iterator[np.ndarray]:
        cap = cv2.VideoCapture(str(video))
        if not cap.isOpened():
            raise UserError(f"cannot decode video {video}; check that it plays, or extract its frames into a folder "
                            "(e.g. ffmpeg -i VIDEO frames/%05d.jpg) and pass that folder")
        try:
            while True:
                ok, bgr = cap.read()
                if not ok:
                    return
                yield downscale_image(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), downscale)
        finally:
            cap.release()

    cap = cv2.VideoCapture(str(video))
    fps, n_est = cap.get(cv2.CAP_PROP_FPS) or 0.0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    cap.release()
    scores = []
    for img in tqdm(frames_of(), total=n_est or None, desc="      sharpness", unit="frame", disable=not progress,
                    leave=False):
        scores.append(sharpness(img))
    if not scores:
        raise UserError(f"cannot decode any frame of video {video}; check that it plays, or extract its frames into "
                        "a folder (e.g. ffmpeg -i VIDEO frames/%05d.jpg) and pass that folder")
    if len(scores) < MIN_IMAGES:
        raise UserError(f"video {video} has only {len(scores)} frame(s); SfM needs at least {MIN_IMAGES} "
                        "(record a few seconds moving around the subject)")
    chosen = select_frames(scores, max_frames)
    wanted = {idx: j for j, idx in enumerate(chosen)}
    frames = [None] * len(chosen)
    for idx, img in enumerate(frames_of()):
        if idx in wanted:
            j = wanted[idx]
            name = f"frame_{j + 1:05d}.jpg"
            _save(img, dst / name)
            frames[j] = Frame(name, f"frame {idx}", idx / fps if fps > 0 else None, scores[idx], (img.shape[1], img.shape[0]))
    if any(f is None for f in frames):
        raise UserError(f"video {video} decoded differently on the second pass; re-encode it (e.g. ffmpeg -i IN OUT.mp4)")
    return frames


# --------------------------------------------------------------------------- stages 4-5: mapping, export

def _map(pycolmap, db: Path, tmp: Path, n_images: int, progress: bool):
    """Incremental mapping; the reconstruction with the most registered images, or a UserError."""
    from tqdm import tqdm  # noqa: PLC0415

    options = pycolmap.IncrementalPipelineOptions()
    options.min_model_size = MIN_IMAGES  # default 10 would drop every model of a small capture
    if hasattr(options, "random_seed"):  # pycolmap >= 4.2: RANSAC and initial-pair choices repeat run to run
        options.random_seed = 0  # (threaded bundle adjustment can still differ)
    work = tmp / "mapper"
    work.mkdir()
    bar = tqdm(total=n_images, desc="      registered", unit="img", disable=not progress, leave=False)
    # Called after the initial pair (2 images) and after each further registration.
    models = pycolmap.incremental_mapping(db, tmp / "images", work, options,
                                          initial_image_pair_callback=lambda: bar.update(2),
                                          next_image_callback=lambda: bar.update(1))
    bar.close()
    shutil.rmtree(work, ignore_errors=True)
    best = max(models.values(), key=lambda r: r.num_reg_images(), default=None)
    registered = best.num_reg_images() if best is not None else 0
    needed = max(MIN_IMAGES, math.ceil(MIN_REGISTERED_FRACTION * n_images))
    if registered < needed:
        raise UserError(f"SfM registered only {registered} of {n_images} images (needs {needed}); what usually "
                        "helps: more overlap between views, sharper frames, more texture in the scene, "
                        "--matcher exhaustive")
    return best


def _export(pycolmap, rec, tmp: Path, frames: list[Frame]) -> dict:
    """Normalise the model's world frame, write sparse/0, sparse_pc.ply and transforms.json."""
    from ..trajectories import estimate_up  # noqa: PLC0415
    import torch  # noqa: PLC0415

    raw = tmp / "sparse" / "raw"
    raw.mkdir(parents=True)
    rec.write(raw)
    model = read_model(raw)
    images = sorted(model.images.values(), key=lambda i: i.name)
    c2w = np.stack([c2w_opengl(i) for i in images])  # [N, 3, 4] COLMAP world, OpenGL axes
    up = estimate_up(torch.from_numpy(c2w)).numpy()
    rot = _rotation_to_z(up)  # [3, 3]
    centres, forward, points = c2w[:, :, 3] @ rot.T, -c2w[:, :, 2] @ rot.T, model.points.xyz @ rot.T
    half_fov = min(math.atan(min(c.width / (2 * i[0]), c.height / (2 * i[1])))  # the narrowest camera's
                   for c, i in ((c, camera_intrinsics(c)) for c in (model.cameras[im.camera_id] for im in images)))
    centre, half, facts = scene_bounds(points, centres, forward, half_fov)
    scale = (0.5 / NGP_SCALE) / half
    # new = scale * rot @ old - scale * centre (centre is in the rotated frame)
    rec.transform(pycolmap.Sim3d(scale, pycolmap.Rotation3d(rot), -scale * centre))
    shutil.rmtree(raw)
    final = tmp / "sparse" / "0"
    final.mkdir()
    rec.write(final)
    rec.export_PLY(tmp / "sparse_pc.ply")

    model = read_model(final)
    images = sorted(model.images.values(), key=lambda i: i.name)
    c2w = np.stack([c2w_opengl(i) for i in images])
    levels = cascade_levels(np.zeros(3), 0.5 / NGP_SCALE, c2w[:, :, 3], model.points.xyz)
    by_name = {f.name: f for f in frames}
    used = {i.name for i in images}
    for f in frames:  # frames SfM did not register are not part of the scene
        if f.name not in used:
            (tmp / "images" / f.name).unlink()
    names = [f"images/{i.name}" for i in images]
    test = names[::TEST_EVERY]
    doc = {
        **_intrinsics_keys(model.cameras[images[0].camera_id]),  # intrinsics are unchanged by the similarity
        "aabb_scale": 2 ** (levels - 1), "scale": NGP_SCALE, "offset": [NGP_OFFSET] * 3,
        "ply_file_path": "sparse_pc.ply",
        "train_filenames": [n for n in names if n not in test], "test_filenames": test,
        "frames": [],
    }
    for img, name, pose in zip(images, names, c2w):
        frame = {"file_path": name, "transform_matrix": np.concatenate([pose, [[0, 0, 0, 1]]]).tolist(),
                 "colmap_im_id": img.image_id}
        if len({i.camera_id for i in images}) > 1:  # several cameras: each frame says its own (nerfstudio's per-frame keys)
            frame.update(_intrinsics_keys(model.cameras[img.camera_id]))
        if by_name[img.name].sharpness is not None:
            frame["sharpness"] = by_name[img.name].sharpness
        doc["frames"].append(frame)
    (tmp / "transforms.json").write_text(json.dumps(doc, indent=2))
    return {
        "registered": len(images), "total": len(frames),
        "unregistered": sorted(f.source for f in frames if f.name not in used),
        "mean_reprojection_error": float(rec.compute_mean_reprojection_error()),
        "n_points3D": int(len(model.points.ids)),
        "normalisation": {"up_in_colmap": up.tolist(), "rotation": rot.tolist(), "centre_rotated": centre.tolist(),
                          "scale": scale, "box_half_before_scale": half, "aabb_scale": 2 ** (levels - 1), **facts,
                          "note": "transforms.json world = scale * (rotation @ colmap_world - centre_rotated)"},
        "frames": [asdict(f) for f in frames],
    }


def _intrinsics_keys(cam) -> dict:
    """A COLMAP camera as transforms.json's intrinsics keys (camera_model, fl_x ... w, h, k1 ...)."""
    intr = camera_intrinsics(cam)
    fisheye = bool(intr[10])
    return {"camera_model": "OPENCV_FISHEYE" if fisheye else "OPENCV",
            "fl_x": intr[0], "fl_y": intr[1], "cx": intr[2], "cy": intr[3], "w": cam.width, "h": cam.height,
            "k1": intr[4], "k2": intr[5], **({} if fisheye else {"p1": intr[6], "p2": intr[7]}),
            "k3": intr[8], "k4": intr[9]}


def _rotation_to_z(up: np.ndarray) -> np.ndarray:
    """The smallest rotation [3, 3] taking the unit vector `up` to +z."""
    z = np.array([0.0, 0.0, 1.0])
    v, c = np.cross(up, z), float(up @ z)
    if c < -1 + 1e-9:  # up is -z: half a turn about x
        return np.diag([1.0, -1.0, -1.0])
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + vx + vx @ vx / (1 + c)


# --------------------------------------------------------------------------- timing

def _cpu_seconds() -> float:
    """User + system CPU time of this process, all threads (pycolmap works in its own threads)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


@contextmanager
def _stage(label: str, index: int, timings: dict, say, key: Optional[str] = None):
    key = key or label
    say(f"[{index}/5] {label} ...")
    t0, c0 = time.perf_counter(), _cpu_seconds()
    yield
    wall, cpu = time.perf_counter() - t0, _cpu_seconds() - c0
    timings[key] = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2)}
    say(f"      done in {wall:.1f} s (cpu {cpu:.1f} s)")
