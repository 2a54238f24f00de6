"""A generated unbounded scene: the built-in objects on an endless textured ground under a far sky.

What it tests: captured-style, opaque photos of a world with no box around it. Near content (the four
textured solids of procedural.py, a few posts around them), a ground plane that runs to the horizon
and a sky at infinity; 48 cameras on a ring around the objects, looking slightly down (or a
forward-facing rig in front of them). It is written in the layouts users bring (instant-ngp
`transforms.json` with `aabb_scale` 16, a COLMAP text model with sparse points from the surfaces,
LLFF's poses_bounds.npy), so tests and benchmarks check that the loaders agree.

Every pixel is the average of SUPERSAMPLE² ray-cast sub-pixel rays, so the ground's texture fades to
its mean colour towards the horizon instead of aliasing, as a camera's pixels do. All colours are
functions of the surface point (or, for the sky, of the direction), so a radiance field can represent
the images exactly. World: z up, ground z = GROUND_Z, objects within [-0.9, 0.9]^2 x [GROUND_Z, 0.9].

Public API:
    ring_cameras(n, width, height)           -> Cameras on the ring
    facing_cameras(n, width, height)         -> a forward-facing (LLFF-like) rig in front of the objects
    fisheye_cameras(n, width, height)        -> the ring, through an action-camera fisheye lens (~165° across)
    trace_outdoor(rays_o, rays_d)            -> rgb [R, 3], t [R] (inf for the sky), float64
    render_outdoor(cameras)                  -> uint8 RGB [N, H, W, 3]
    write_outdoor_scene(out, layout, ...)    -> a scene folder (layout ngp | colmap | llff, rig ring | facing | fisheye)
    add_transients(images, every)            -> images with passers-by painted in, and their masks
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..geometry_files import write_ply
from .cameras import Cameras, fisheye_radius, lens, look_at, pixel_rays, project
from .colmap import rotmat_to_qvec
from .procedural import SOLIDS, Cylinder, _rot_z_x, _wave

GROUND_Z = -0.66
RING_RADIUS = 3.2
RING_HEIGHT = 0.55  # camera height above the world origin
FOV_X = math.radians(64.0)
FACING_DISTANCE = 3.6  # the forward-facing rig: this far in front of the objects (-y) ...
FACING_SPREAD = 0.4  # ... its camera centres within this radius
SUPERSAMPLE = 3
_LIGHT = torch.tensor([0.4, -0.5, 0.75], dtype=torch.float64)
_LIGHT = _LIGHT / _LIGHT.norm()


def _post_albedo(p: Tensor, n: Tensor) -> Tensor:
    """Bands along the height of the posts, 2 per unit."""
    w = _wave(2 * math.pi * 2.0 * p[:, 2])
    return (torch.tensor([0.55, 0.50, 0.62], dtype=torch.float64) + 0.3 * w[:, None]).clamp(0, 1)


# Posts at 4 to 14 units from the centre: mid-distance content, beyond the ring of cameras.
POSTS = tuple(Cylinder((r * math.cos(a), r * math.sin(a), GROUND_Z + h), 0.25 + 0.04 * r, h, _rot_z_x(0, 0),
                       _post_albedo)
              for r, a, h in ((4.5, 0.3, 0.9), (6.0, 2.2, 1.3), (8.0, 3.9, 1.6), (11.0, 5.0, 2.2), (14.0, 1.2, 2.6)))


def ground_colour(p: Tensor) -> Tensor:
    """Ground albedo at points [M, 3]: two crossed band-limited stripe sets and a slow tint."""
    x, y = p[:, 0], p[:, 1]
    a = _wave(2 * math.pi * 0.9 * (0.8 * x + 0.6 * y))
    b = _wave(2 * math.pi * 0.7 * (-0.5 * x + 0.87 * y))
    tint = _wave(2 * math.pi * 0.08 * x) * _wave(2 * math.pi * 0.06 * y)
    base = torch.stack([0.45 + 0.25 * a, 0.55 + 0.15 * b, 0.30 + 0.1 * a * b], -1)
    return (base * (0.8 + 0.2 * tint[:, None])).clamp(0, 1)


def sky_colour(d: Tensor) -> Tensor:
    """Sky radiance [R, 3] for unit directions [R, 3]: a horizon-to-zenith gradient and soft clouds."""
    elev = d[:, 2].clamp(-1, 1)
    az = torch.atan2(d[:, 1], d[:, 0])
    up = elev.clamp_min(0) ** 0.5
    horizon = torch.tensor([0.85, 0.88, 0.92], dtype=torch.float64)
    zenith = torch.tensor([0.35, 0.55, 0.90], dtype=torch.float64)
    sky = horizon + (zenith - horizon) * up[:, None]
    clouds = (_wave(3 * az) * _wave(2 * az + 9 * elev)) ** 2 * (1 - up) * (elev > -0.05)
    return (sky + 0.25 * clouds[:, None] * (1 - sky)).clamp(0, 1)


def trace_outdoor(rays_o: Tensor, rays_d: Tensor) -> tuple[Tensor, Tensor]:
    """Cast world rays [R, 3] (unit directions): rgb [R, 3] and hit distance t [R] (inf: sky)."""
    o, d = rays_o.double(), rays_d.double()
    solids = SOLIDS + POSTS
    ts = torch.stack([s.intersect(o, d) for s in solids], -1)  # [R, n]
    t_obj, which = ts.min(-1)
    dz = torch.where(d[:, 2].abs() > 1e-12, d[:, 2], torch.full_like(d[:, 2], -1e-12))
    t_ground = (GROUND_Z - o[:, 2]) / dz
    t_ground = torch.where(t_ground > 1e-9, t_ground, torch.full_like(t_ground, math.inf))
    t = torch.minimum(t_obj, t_ground)
    rgb = sky_colour(d)
    ground = torch.isfinite(t_ground) & (t_ground <= t_obj)
    if ground.any():
        p = o[ground] + t_ground[ground, None] * d[ground]
        shade = 0.8 + 0.2 * _LIGHT[2]
        rgb[ground] = ground_colour(p) * shade
    for k, solid in enumerate(solids):
        m = torch.isfinite(t_obj) & (t_obj < t_ground) & (which == k)
        if m.any():
            rgb[m] = solid.color(o[m] + t_obj[m, None] * d[m])
    return rgb, t


def ring_cameras(n: int = 48, width: int = 96, height: int = 72) -> Cameras:
    """`n` pinholes evenly on a horizontal ring, looking at a point just above the ground at the centre."""
    target = torch.tensor([0.0, 0.0, GROUND_Z + 0.4], dtype=torch.float64)
    up = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    c2w = []
    for i in range(n):
        a = 2 * math.pi * i / n
        r = RING_RADIUS * (1 + 0.08 * math.sin(3 * a))  # not a perfect circle: views differ in distance
        eye = torch.tensor([r * math.cos(a), r * math.sin(a), RING_HEIGHT + 0.15 * math.cos(2 * a)], dtype=torch.float64)
        c2w.append(look_at(eye, target, up))
    return Cameras.from_fov(torch.stack(c2w), width, height, FOV_X)


def facing_cameras(n: int = 24, width: int = 96, height: int = 72) -> Cameras:
    """`n` pinholes on a small spiral in a plane in front of the objects, all looking the same way
    (slightly down, past the objects to the horizon), as a hand-held forward-facing (LLFF) capture."""
    eye0 = torch.tensor([0.0, -FACING_DISTANCE, RING_HEIGHT - 0.2], dtype=torch.float64)
    ahead = torch.tensor([0.0, 0.0, GROUND_Z + 0.4], dtype=torch.float64) - eye0
    ahead = ahead / ahead.norm()
    up = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    right = torch.linalg.cross(ahead, up)
    c2w = []
    for i in range(n):
        a, r = 4 * math.pi * i / n, FACING_SPREAD * (0.25 + 0.75 * i / max(n - 1, 1))  # two turns outwards
        eye = eye0 + r * (math.cos(a) * right + 0.6 * math.sin(a) * up) + 0.05 * math.sin(3 * a) * ahead
        # hand-held: each camera aims at its own point far ahead (axes within ~1 degree of each other)
        target = eye0 + 30.0 * ahead + 0.4 * (math.sin(5 * a) * right + math.cos(7 * a) * up)
        c2w.append(look_at(eye, target, up))
    return Cameras.from_fov(torch.stack(c2w), width, height, FOV_X)


FISHEYE_LENS = dict(k1=0.03, k2=-0.01, k3=0.002, k4=-0.0005)  # OpenCV fisheye, as calibrated action cameras
FISHEYE_HALF_ANGLE = math.radians(82.0)  # from the optical axis to the left / right image edge


def fisheye_cameras(n: int = 48, width: int = 96, height: int = 72) -> Cameras:
    """The ring's poses through an equidistant fisheye lens with FISHEYE_LENS distortion: the image's
    left and right edges are FISHEYE_HALF_ANGLE from the axis, so each view sees much more than a pinhole."""
    ring = ring_cameras(n, width, height)
    row = torch.tensor(lens(**FISHEYE_LENS, fisheye=True), dtype=torch.float64)
    theta_d, _ = fisheye_radius(torch.tensor(FISHEYE_HALF_ANGLE, dtype=torch.float64), row)
    f = torch.full((n,), 0.5 * width / float(theta_d))
    return Cameras(ring.c2w, f, f.clone(), torch.full_like(f, width / 2), torch.full_like(f, height / 2), width, height,
                   row.float().expand(n, -1).clone())


def with_portraits(cams: Cameras, every: int) -> Cameras:
    """`cams` with every `every`-th one (0, every, ...) turned into a portrait camera: its image is
    height x width (the same focal length and pose), so the scene has images of two sizes."""
    n, w, h = len(cams), cams.width, cams.height
    turned = torch.zeros(n, dtype=torch.bool)
    turned[::every] = True
    sizes = torch.tensor([[w, h]], dtype=torch.long).repeat(n, 1)
    sizes[turned] = torch.tensor([h, w])
    cx, cy = torch.where(turned, h / 2, w / 2).to(cams.cx.dtype), torch.where(turned, w / 2, h / 2).to(cams.cy.dtype)
    return Cameras(cams.c2w, cams.fx, cams.fy, cx, cy, max(w, h), max(w, h), cams.distortion, sizes)


def render_outdoor(cameras: Cameras, supersample: int = SUPERSAMPLE) -> Tensor:
    """uint8 RGB [N, H, W, 3]: each pixel the mean of supersample² sub-pixel rays (each camera at its own
    size, top-left on the canvas, black around it, when the sizes differ)."""
    n = len(cameras)
    out = torch.zeros(n, cameras.height, cameras.width, 3, dtype=torch.uint8)
    offsets = (torch.arange(supersample, dtype=torch.float64) + 0.5) / supersample - 0.5  # around the pixel centre
    dist = None if cameras.distortion is None else cameras.distortion.double()
    cams = Cameras(cameras.c2w.double(), cameras.fx.double(), cameras.fy.double(), cameras.cx.double(),
                   cameras.cy.double(), cameras.width, cameras.height, dist, cameras.sizes)
    for c in range(n):
        w, h = cams.size(c)
        j, i = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
        acc = torch.zeros(h * w, 3, dtype=torch.float64)
        for dy in offsets:
            for dx in offsets:
                idx = torch.full((h * w,), c, dtype=torch.long)
                rays_o, rays_d = pixel_rays(cams, idx, i.reshape(-1) + dx, j.reshape(-1) + dy)
                acc += trace_outdoor(rays_o, rays_d)[0]
        out[c, :h, :w] = (acc / supersample**2 * 255).round().clamp(0, 255).to(torch.uint8).view(h, w, 3)
    return out


def add_transients(images: Tensor, every: int = 8, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Things that were not there in other photos (people walking by, a car): a solid block of a random
    bright colour, a fifth to a third of the frame wide, somewhere in the lower two thirds of every view
    except views 0, every, 2 * every, ... (the held-out ones, kept clean). Returns the images and masks
    [N, H, W] bool, False on the blocks (nerfstudio's convention: pixels to use are non-zero)."""
    gen = torch.Generator().manual_seed(seed)
    images, (n, h, w) = images.clone(), images.shape[:3]
    masks = torch.ones(n, h, w, dtype=torch.bool)
    for k in range(n):
        if k % every == 0:
            continue
        bw, bh = int(w * (0.2 + 0.13 * torch.rand(1, generator=gen))), int(h * (0.35 + 0.3 * torch.rand(1, generator=gen)))
        x0 = int((w - bw) * torch.rand(1, generator=gen))
        y0 = int(h / 3 + (2 * h / 3 - bh) * torch.rand(1, generator=gen))
        colour = (torch.rand(3, generator=gen) * 200 + 55).to(torch.uint8)
        images[k, y0:y0 + bh, x0:x0 + bw] = colour
        masks[k, y0:y0 + bh, x0:x0 + bw] = False
    return images, masks


def perturb_poses(c2w: Tensor, degrees: float, move: float, every: int = 8, seed: int = 0) -> Tensor:
    """Poses as a mediocre SfM run reports them: every view except 0, every, 2 * every, ... (the held-out
    ones, kept exact) turned by `degrees` about a random axis through its centre and moved by `move` (world
    units) in a random direction. c2w [N, 3, 4] → a perturbed copy."""
    from ..poses import _rotations  # noqa: PLC0415 (poses imports data: no cycle at import time)

    gen = torch.Generator().manual_seed(seed)
    out = c2w.clone()
    for k in range(len(c2w)):
        if k % every == 0:
            continue
        axis, shift = torch.randn(3, generator=gen, dtype=torch.float64), torch.randn(3, generator=gen, dtype=torch.float64)
        turn = _rotations((axis / axis.norm() * math.radians(degrees))[None])[0]
        out[k, :, :3] = (turn @ c2w[k, :, :3].double()).to(c2w.dtype)
        out[k, :, 3] = c2w[k, :, 3] + (shift / shift.norm() * move).to(c2w.dtype)
    return out


OBSERVATIONS_PER_VIEW = 300  # keypoints per image in the generated COLMAP model
KEYPOINT_NOISE_PX = 0.3  # their localisation error (SfM reprojection errors are ~0.5 px)


def surface_points(cameras: Cameras, every: int = 6, max_depth: float = 20.0) -> tuple[np.ndarray, np.ndarray]:
    """Sparse 'SfM' points: surface hits of every `every`-th pixel of each view, no farther than
    max_depth (sky excluded). Returns xyz [P, 3] and uint8 rgb [P, 3]."""
    xyz, rgb = [], []
    for c in range(len(cameras)):
        w, h = cameras.size(c)
        j, i = torch.meshgrid(torch.arange(0, h, every), torch.arange(0, w, every), indexing="ij")
        idx = torch.full((i.numel(),), c, dtype=torch.long)
        o, d = pixel_rays(cameras, idx, i.reshape(-1), j.reshape(-1))
        col, t = trace_outdoor(o, d)
        ok = t < max_depth
        xyz.append((o.double() + t[:, None] * d.double())[ok].numpy())
        rgb.append((col[ok] * 255).round().numpy().astype(np.uint8))
    return np.concatenate(xyz), np.concatenate(rgb)


def write_outdoor_scene(out: str | Path, layout: str = "ngp", n_views: int = 48, width: int = 96, height: int = 72,
                        images: Tensor | None = None, rig: str = "ring", masks: Tensor | None = None,
                        pose_noise: tuple[float, float] | None = None, portrait_every: int = 0,
                        ply: bool = False) -> Path:
    """Write the scene seen by `rig` (ring: ring_cameras, facing: facing_cameras, fisheye: fisheye_cameras)
    as `layout`: ngp (images/ + transforms.json, aabb_scale 16; camera_model OPENCV_FISHEYE for the fisheye
    rig), colmap (images/ + sparse/0/{cameras,images,points3D}.txt; an OPENCV_FISHEYE camera) or llff
    (images/ + poses_bounds.npy; pinholes only). `images` reuses a render of the rig's cameras; `masks`
    [N, H, W] bool (ngp only) are written as masks/*.png and each frame's mask_path where any is False;
    `pose_noise` (degrees, world units; ngp only) writes the training views' poses perturbed (perturb_poses);
    `portrait_every` k > 0 (ngp, colmap) makes views 0, k, 2k, ... portrait (`with_portraits`): images of
    two sizes, with per-frame intrinsics (ngp) or a second camera (colmap); `images` then on their canvas.
    `ply` (ngp): also the sparse points as sparse_pc.ply and the file's ply_file_path, as `nerf-ff process` writes."""
    import imageio.v3 as iio  # noqa: PLC0415

    if layout not in ("ngp", "colmap", "llff"):
        raise ValueError(f"unknown layout {layout!r}")
    if rig not in ("ring", "facing", "fisheye") or (rig, layout) == ("fisheye", "llff"):
        raise ValueError(f"unknown rig {rig!r} (for the {layout} layout)")
    if portrait_every and layout == "llff":
        raise ValueError("LLFF has one camera for all images: no portrait views")
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    cams = {"ring": ring_cameras, "facing": facing_cameras, "fisheye": fisheye_cameras}[rig](n_views, width, height)
    if portrait_every:
        cams = with_portraits(cams, portrait_every)
    images = render_outdoor(cams) if images is None else images
    names = [f"view_{i:03d}.png" for i in range(n_views)]
    for k, (name, img) in enumerate(zip(names, images)):
        w, h = cams.size(k)
        iio.imwrite(out / "images" / name, img[:h, :w].numpy())
    fx = float(cams.fx[0])
    if layout == "ngp":
        frames = []
        written = cams.c2w.double() if pose_noise is None else perturb_poses(cams.c2w.double(), *pose_noise)
        for k, (name, c2w) in enumerate(zip(names, written)):
            m = torch.eye(4, dtype=torch.float64)
            m[:3] = c2w
            frames.append({"file_path": f"images/{name}", "transform_matrix": m.tolist()})
            if cams.size(k) != (width, height):  # a portrait view: its own size and centre (nerfstudio's per-frame keys)
                w, h = cams.size(k)
                frames[-1].update(w=w, h=h, cx=w / 2, cy=h / 2)
            if masks is not None and not bool(masks[k].all()):
                (out / "masks").mkdir(exist_ok=True)
                iio.imwrite(out / "masks" / name, masks[k].numpy().astype(np.uint8) * 255)
                frames[-1]["mask_path"] = f"masks/{name}"
        doc = {"fl_x": fx, "fl_y": fx, "cx": width / 2, "cy": height / 2, "w": width, "h": height,
               "aabb_scale": 16, "frames": frames}
        if rig == "fisheye":
            doc.update(camera_model="OPENCV_FISHEYE", **FISHEYE_LENS)
        if ply:
            write_ply(out / "sparse_pc.ply", *surface_points(cams))
            doc["ply_file_path"] = "sparse_pc.ply"
        (out / "transforms.json").write_text(json.dumps(doc, indent=1))
        return out
    if layout == "llff":
        xyz, _ = surface_points(cams)
        rows = []
        for k, c2w in enumerate(cams.c2w.double().numpy()):
            uv, z = project(cams, k, torch.from_numpy(xyz).float())
            seen = ((z > 0) & (uv[:, 0] >= 0) & (uv[:, 0] < width) & (uv[:, 1] >= 0) & (uv[:, 1] < height)).numpy()
            depth = z.numpy()[seen]
            # LLFF's columns: (-up, right, back, centre, (h, w, f)); bounds: 0.1 / 99.9 percentiles of depth
            pose = np.stack([-c2w[:, 1], c2w[:, 0], c2w[:, 2], c2w[:, 3], [height, width, fx]], axis=1)
            rows.append(np.concatenate([pose.reshape(-1), np.percentile(depth, [0.1, 99.9])]))
        np.save(out / "poses_bounds.npy", np.stack(rows))
        return out
    sparse = out / "sparse" / "0"
    sparse.mkdir(parents=True, exist_ok=True)
    camera = f"{width} {height} {fx!r} {fx!r} {width / 2!r} {height / 2!r}"
    if rig == "fisheye":
        camera = "OPENCV_FISHEYE " + camera + " " + " ".join(repr(FISHEYE_LENS[k]) for k in ("k1", "k2", "k3", "k4"))
    else:
        camera = "PINHOLE " + camera
    turned = camera.replace(f"{width} {height} {fx!r} {fx!r} {width / 2!r} {height / 2!r}",
                            f"{height} {width} {fx!r} {fx!r} {height / 2!r} {width / 2!r}")
    (sparse / "cameras.txt").write_text(f"1 {camera}\n" + (f"2 {turned}\n" if portrait_every else ""))
    xyz, rgb = surface_points(cams)
    rng = np.random.default_rng(0)
    lines, tracks = [], [[] for _ in xyz]
    for k, (name, c2w) in enumerate(zip(names, cams.c2w.double().numpy())):
        r_cv = c2w[:, :3] * np.array([1.0, -1.0, -1.0])  # OpenGL → OpenCV camera axes
        R = r_cv.T  # world → camera
        q, t = rotmat_to_qvec(R), -R @ c2w[:, 3]
        seen = visible_points(cams, k, xyz)
        if len(seen) > OBSERVATIONS_PER_VIEW:
            seen = np.sort(rng.choice(seen, OBSERVATIONS_PER_VIEW, replace=False))
        uv = project(cams, k, torch.from_numpy(xyz[seen]).float())[0].numpy()
        uv += rng.normal(0.0, KEYPOINT_NOISE_PX, uv.shape)  # SfM keypoints are not exact
        for j, p in enumerate(seen):
            tracks[p] += [k + 1, j]
        obs = " ".join(f"{u:.3f} {v:.3f} {p}" for (u, v), p in zip(uv, seen))
        cam_id = "1" if cams.size(k) == (width, height) else "2"
        lines += [" ".join([str(k + 1), *(repr(float(v)) for v in (*q, *t)), cam_id, name]), obs]
    (sparse / "images.txt").write_text("\n".join(lines) + "\n")
    pts = [" ".join([f"{p} {x!r} {y!r} {z!r} {r} {g} {b} 0.5", *map(str, track)])
           for p, ((x, y, z), (r, g, b), track) in enumerate(zip(xyz.tolist(), rgb.tolist(), tracks))]
    (sparse / "points3D.txt").write_text("\n".join(pts) + "\n")
    return out


def visible_points(cams: Cameras, k: int, xyz: np.ndarray) -> np.ndarray:
    """Indices of the points [P, 3] camera k sees: in its frame, in front, and not hidden by the scene."""
    uv, z = project(cams, k, torch.from_numpy(xyz).float())
    w, h = cams.size(k)
    inside = ((z > 0) & (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)).numpy()
    idx = np.nonzero(inside)[0]
    o = cams.c2w[k, :, 3].double().expand(len(idx), 3)
    to_p = torch.from_numpy(xyz[idx]) - o
    dist = to_p.norm(dim=-1)
    t_hit = trace_outdoor(o, to_p / dist[:, None])[1]
    return idx[(t_hit >= dist * (1 - 1e-4)).numpy()]
