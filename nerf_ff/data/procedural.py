"""The built-in procedural scene: four textured solids, ray-cast analytically, exact ground truth.

Why this scene: it needs no download, its poses are exact, and it separates the embeddings. Every
object carries a smooth, band-limited texture of a few cycles per object (wavelengths 0.24-0.35
world units = 6-8.5 cycles per scene box, 6-10 pixels per cycle at 64x64) plus sharp silhouettes
and box edges: a Fourier-feature MLP learns them in minutes, an MLP on raw xyz blurs them. Nothing
is finer than the pixel grid can hold (no noise, no hard checkerboards), and the colour is a
function of the surface point only (a fixed directional shading is baked in), so a radiance field
can represent the images exactly. The palette is light: against the white evaluation background
silhouette pixels dominate the error of a short training, and light objects keep that error small.

World: z up (Blender), everything inside [-0.9, 0.9]^3, aabb [-1, 1]^3. A pixel's colour is the
surface colour at the first hit of its pixel-centre ray (`pixel_rays`); alpha is 0 where it misses.

Public API:
    make_builtin_scene(cfg)            -> SceneData (train: cfg.builtin_views, test: N_TEST_VIEWS)
    render_builtin(cameras)            -> uint8 RGBA [N, H, W, 4]
    trace_builtin(rays_o, rays_d)      -> rgb [R, 3], hit [R], t [R] (float64, for depth / tests)
    builtin_sdf(points)                -> signed distance to the surfaces [M] (for exported meshes)
    builtin_cameras(n, size, offset)   -> Cameras on the viewing band
    write_blender_folder(scene, dir)   -> NeRF-synthetic folder (transforms_*.json + RGBA PNGs)
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from torch import Tensor

from ..config import SceneConfig
from ..errors import UserError
from .cameras import Cameras, look_at, pixel_rays
from .scene import SceneData, Split

CAMERA_RADIUS = 3.6
FOV_X = math.radians(36.0)  # the objects' bounding sphere (radius ~1.05) fills ~85% of the frame
N_TEST_VIEWS = 16
Z_BAND = (-0.45, 0.9)  # camera heights on the unit sphere: elevation -27 to +64 degrees
_GOLDEN = math.pi * (3.0 - math.sqrt(5.0))  # golden angle: azimuth step of the Fibonacci sphere
_LIGHT = torch.tensor([0.4, -0.5, 0.75], dtype=torch.float64)
_LIGHT = _LIGHT / _LIGHT.norm()
_EPS = 1e-9
_INF = float("inf")


def _rot_z_x(yaw_deg: float, tilt_deg: float) -> Tensor:
    """Local-to-world rotation [3, 3]: tilt about x, then yaw about z."""
    a, b = math.radians(yaw_deg), math.radians(tilt_deg)
    rz = torch.tensor([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]], dtype=torch.float64)
    rx = torch.tensor([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]], dtype=torch.float64)
    return rz @ rx


def _wave(x: Tensor) -> Tensor:
    """Smooth stripe profile in [0, 1]."""
    return 0.5 + 0.5 * torch.cos(x)


def _mix(a, b, w: Tensor) -> Tensor:
    """Blend RGB colours (triples or [M, 3]) by weight w [M] -> [M, 3]."""
    a = torch.as_tensor(a, dtype=torch.float64)
    b = torch.as_tensor(b, dtype=torch.float64)
    return a + (b - a) * w[:, None]


class _Solid:
    """A rigid solid: centre [3], local-to-world rotation [3, 3], intersection in the local frame."""

    def __init__(self, centre, rotation: Tensor):
        self.centre = torch.tensor(centre, dtype=torch.float64)
        self.rotation = rotation

    def to_local(self, p: Tensor) -> Tensor:  # world points [M, 3] -> local [M, 3]
        return (p - self.centre) @ self.rotation

    def intersect(self, o: Tensor, d: Tensor) -> Tensor:
        """First hit distance t [R] along world rays (inf on a miss), t > 0."""
        return self._hit_local(self.to_local(o), d @ self.rotation)

    def color(self, p: Tensor) -> Tensor:
        """Shaded surface colour [M, 3] in [0, 1] at world surface points p [M, 3]."""
        pl = self.to_local(p)
        nl = self._normal_local(pl)  # [M, 3]
        shade = 0.8 + 0.2 * ((nl @ self.rotation.T) @ _LIGHT)  # fixed light: depends on the point only
        return (self._albedo(pl, nl) * shade[:, None]).clamp(0, 1)


def _first_positive(t0: Tensor, t1: Tensor, valid: Tensor) -> Tensor:
    """Nearest of two roots (t0 <= t1) in front of the ray origin, inf where none."""
    t = torch.where(t0 > _EPS, t0, t1)
    return torch.where(valid & (t > _EPS), t, torch.full_like(t, _INF))


class Ellipsoid(_Solid):
    def __init__(self, centre, radii, rotation: Tensor, albedo_fn):
        super().__init__(centre, rotation)
        self.radii = torch.tensor(radii, dtype=torch.float64)
        self._albedo = albedo_fn

    def _hit_local(self, o: Tensor, d: Tensor) -> Tensor:
        # Scale to the unit sphere; t keeps its meaning since only the frame is scaled.
        o, d = o / self.radii, d / self.radii
        a = (d * d).sum(-1)
        b = (o * d).sum(-1)
        c = (o * o).sum(-1) - 1.0
        disc = b * b - a * c
        s = disc.clamp(min=0).sqrt()
        return _first_positive((-b - s) / a, (-b + s) / a, disc >= 0)

    def _normal_local(self, p: Tensor) -> Tensor:
        n = p / self.radii**2
        return n / n.norm(dim=-1, keepdim=True)

    def sdf_local(self, p: Tensor) -> Tensor:
        # Exact for a sphere; for an ellipsoid the first-order estimate k0 (k0 - 1) / k1, exact on the
        # surface and within a few % of the distance near it (where exports are scored).
        k0 = (p / self.radii).norm(dim=-1)
        k1 = (p / self.radii**2).norm(dim=-1).clamp_min(1e-12)
        deep = (k0 - 1.0) * self.radii.min()  # deep inside (where the estimate tends to 0): the right sign
        return torch.where(k0 >= 0.5, k0 * (k0 - 1.0) / k1, deep)


class Box(_Solid):
    def __init__(self, centre, half, rotation: Tensor, albedo_fn):
        super().__init__(centre, rotation)
        self.half = torch.tensor(half, dtype=torch.float64)
        self._albedo = albedo_fn

    def _hit_local(self, o: Tensor, d: Tensor) -> Tensor:
        inv = 1.0 / d  # +-inf on axis-parallel rays: the slab test still works
        ta, tb = (-self.half - o) * inv, (self.half - o) * inv
        t_near = torch.minimum(ta, tb).nan_to_num(nan=-_INF).amax(-1)
        t_far = torch.maximum(ta, tb).nan_to_num(nan=_INF).amin(-1)
        return _first_positive(t_near, t_far, t_near <= t_far)

    def _normal_local(self, p: Tensor) -> Tensor:
        axis = (p.abs() / self.half).argmax(-1)  # the face the point lies on
        n = torch.zeros_like(p)
        n.scatter_(1, axis[:, None], torch.sign(p.gather(1, axis[:, None])))
        return n

    def sdf_local(self, p: Tensor) -> Tensor:
        q = p.abs() - self.half
        return q.clamp_min(0).norm(dim=-1) + q.amax(-1).clamp_max(0)


class Cylinder(_Solid):
    """Capped cylinder around the local z axis."""

    def __init__(self, centre, radius: float, half_height: float, rotation: Tensor, albedo_fn):
        super().__init__(centre, rotation)
        self.radius, self.half_height = radius, half_height
        self._albedo = albedo_fn

    def _hit_local(self, o: Tensor, d: Tensor) -> Tensor:
        a = d[:, 0] ** 2 + d[:, 1] ** 2
        b = o[:, 0] * d[:, 0] + o[:, 1] * d[:, 1]
        c = o[:, 0] ** 2 + o[:, 1] ** 2 - self.radius**2
        disc = b * b - a * c
        s = disc.clamp(min=0).sqrt()
        a_safe = torch.where(a > 1e-12, a, torch.ones_like(a))
        best = torch.full_like(a, _INF)
        for t in ((-b - s) / a_safe, (-b + s) / a_safe):  # side wall, within the height
            ok = (disc >= 0) & (a > 1e-12) & (t > _EPS) & ((o[:, 2] + t * d[:, 2]).abs() <= self.half_height)
            best = torch.where(ok & (t < best), t, best)
        dz = torch.where(d[:, 2].abs() > 1e-12, d[:, 2], torch.full_like(a, 1e-12))
        for h in (-self.half_height, self.half_height):  # caps, within the radius
            t = (h - o[:, 2]) / dz
            q = o[:, :2] + t[:, None] * d[:, :2]
            ok = (t > _EPS) & ((q * q).sum(-1) <= self.radius**2)
            best = torch.where(ok & (t < best), t, best)
        return best

    def _normal_local(self, p: Tensor) -> Tensor:
        side = torch.cat([p[:, :2] / self.radius, torch.zeros_like(p[:, 2:])], -1)
        cap = torch.zeros_like(p)
        cap[:, 2] = torch.sign(p[:, 2])
        # A point is on a cap when its height reaches the cap more closely than its radius the wall.
        on_cap = (self.half_height - p[:, 2].abs()) < (self.radius - p[:, :2].norm(dim=-1))
        n = torch.where(on_cap[:, None], cap, side)
        return n / n.norm(dim=-1, keepdim=True)

    def sdf_local(self, p: Tensor) -> Tensor:
        q = torch.stack([p[:, :2].norm(dim=-1) - self.radius, p[:, 2].abs() - self.half_height], -1)
        return q.clamp_min(0).norm(dim=-1) + q.amax(-1).clamp_max(0)


# ---- textures: local surface point p [M, 3] and local normal n [M, 3] -> albedo [M, 3] ----------

def _globe_albedo(p: Tensor, n: Tensor) -> Tensor:
    """8 meridian stripes (faded towards the poles so they stay band-limited) + 5 latitude bands."""
    r = p.norm(dim=-1)
    lon = torch.atan2(p[:, 1], p[:, 0])
    coslat2 = (p[:, 0] ** 2 + p[:, 1] ** 2) / r**2
    lat = torch.asin((p[:, 2] / r).clamp(-1, 1))
    meridians = 0.5 + 0.5 * torch.cos(8 * lon) * coslat2
    base = _mix((1.00, 0.68, 0.30), (0.30, 0.42, 0.85), meridians)
    return _mix(base, (0.97, 0.95, 0.90), 0.55 * _wave(10 * lat))


def _box_albedo(p: Tensor, n: Tensor) -> Tensor:
    """Concentric rings on every face (distance from the face's centre line), 4.2 per unit."""
    rho2 = (p * p).sum(-1) - (p * n).sum(-1) ** 2  # n is the face's axis: drop that coordinate
    return _mix((0.30, 0.72, 0.42), (0.97, 0.94, 0.80), _wave(2 * math.pi * 4.2 * rho2.clamp(min=0).sqrt()))


def _cylinder_albedo(p: Tensor, n: Tensor) -> Tensor:
    """Helical stripes (4 starts, 2.5 turns per unit height) on the wall; rings on the caps."""
    theta = torch.atan2(p[:, 1], p[:, 0])
    helix = _wave(4 * theta + 2 * math.pi * 2.5 * p[:, 2])
    rings = _wave(2 * math.pi * 4.0 * p[:, :2].norm(dim=-1))
    return _mix((0.92, 0.35, 0.30), (1.00, 0.86, 0.38), torch.where(n[:, 2].abs() > 0.5, rings, helix))


def _egg_albedo(p: Tensor, n: Tensor) -> Tensor:
    """Two crossed sets of diagonal stripes, 3.5 and 3 cycles per unit."""
    a = _wave(2 * math.pi * 3.5 * (0.8 * p[:, 0] + 0.6 * p[:, 2]))
    b = _wave(2 * math.pi * 3.0 * (0.6 * p[:, 1] - 0.8 * p[:, 2]))
    return _mix(_mix((0.62, 0.42, 0.85), (0.40, 0.85, 0.90), a), (0.25, 0.22, 0.45), 0.4 * b)


# The scene (order matters only for reporting; the nearest hit wins).
SOLIDS: tuple[_Solid, ...] = (
    Ellipsoid((-0.38, -0.30, 0.12), (0.44, 0.44, 0.44), _rot_z_x(20, 25), _globe_albedo),
    Box((0.40, -0.25, -0.30), (0.34, 0.34, 0.34), _rot_z_x(30, 0), _box_albedo),
    Cylinder((0.28, 0.42, 0.12), 0.26, 0.42, _rot_z_x(0, 15), _cylinder_albedo),
    Ellipsoid((-0.35, 0.45, -0.45), (0.38, 0.26, 0.22), _rot_z_x(-35, 0), _egg_albedo),
)


def trace_builtin(rays_o: Tensor, rays_d: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Cast world rays [R, 3] (unit directions) into the scene.

    Returns rgb [R, 3] float64 in [0, 1] (0 on a miss), hit [R] bool, t [R] float64 (inf on a miss).
    """
    o, d = rays_o.double(), rays_d.double()
    ts = torch.stack([s.intersect(o, d) for s in SOLIDS], -1)  # [R, n_solids]
    t, which = ts.min(-1)
    hit = torch.isfinite(t)
    rgb = torch.zeros_like(o)
    for k, solid in enumerate(SOLIDS):
        m = hit & (which == k)
        if m.any():
            rgb[m] = solid.color(o[m] + t[m, None] * d[m])
    return rgb, hit, t


def builtin_sdf(points: Tensor) -> Tensor:
    """Signed distance [M] (float64, world units; negative inside) from world points [M, 3] to the
    scene's surfaces: the union of the solids (the egg's ellipsoid distance is a close estimate)."""
    p = points.double()
    return torch.stack([s.sdf_local(s.to_local(p)) for s in SOLIDS], -1).amin(-1)


def render_builtin(cameras: Cameras, chunk: int = 1 << 18) -> Tensor:
    """Render the scene from any cameras: uint8 RGBA [N, H, W, 4], straight alpha (0 or 255)."""
    n, h, w = len(cameras), cameras.height, cameras.width
    cams = cameras.to("cpu")
    j, i = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    cam_idx = torch.arange(n).repeat_interleave(h * w)  # [N*H*W], row-major per camera
    px, py = i.reshape(-1).repeat(n), j.reshape(-1).repeat(n)
    out = torch.empty(n * h * w, 4, dtype=torch.uint8)
    for s in range(0, n * h * w, chunk):
        sl = slice(s, s + chunk)
        rays_o, rays_d = pixel_rays(cams, cam_idx[sl], px[sl], py[sl])
        rgb, hit, _ = trace_builtin(rays_o, rays_d)
        out[sl, :3] = (rgb * 255).round().to(torch.uint8)
        out[sl, 3] = hit.to(torch.uint8) * 255
    return out.reshape(n, h, w, 4)


def builtin_cameras(n: int, size: int, offset: float = 0.0) -> Cameras:
    """`n` ideal pinholes on a Fibonacci band of the sphere of radius CAMERA_RADIUS, looking at
    the origin, z up. `offset` (radians) turns the azimuths, so a second set sits between the first."""
    k = torch.arange(n, dtype=torch.float64) + 0.5
    z = Z_BAND[1] - (Z_BAND[1] - Z_BAND[0]) * k / n
    phi = k * _GOLDEN + offset
    ring = (1 - z * z).sqrt()
    eyes = CAMERA_RADIUS * torch.stack([ring * phi.cos(), ring * phi.sin(), z], -1)  # [n, 3]
    up, target = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
    c2w = torch.stack([look_at(e, target, up) for e in eyes])  # [n, 3, 4]
    return Cameras.from_fov(c2w, size, size, FOV_X)


def make_builtin_scene(cfg: SceneConfig) -> SceneData:
    """Generate the built-in scene (deterministic: no randomness anywhere)."""
    size, n_train = int(cfg.builtin_resolution), int(cfg.builtin_views)
    if size < 8:
        raise UserError(f"scene.builtin_resolution={size} is too small; use at least 8 (default 64)")
    if n_train < 1:
        raise UserError(f"scene.builtin_views={n_train} must be at least 1; use e.g. 60")
    if cfg.downscale != 1:  # rendered at its size, so there is nothing to downscale: say so, not ignore it
        raise UserError(f"scene.downscale={cfg.downscale} does not apply to the built-in scene, which is rendered at "
                        f"scene.builtin_resolution ({size} px); set that instead, e.g. --set scene.builtin_resolution=32")
    train_cams = builtin_cameras(n_train, size)
    test_cams = builtin_cameras(N_TEST_VIEWS, size, offset=0.5 * _GOLDEN)  # different poses
    splits = {
        "train": Split(render_builtin(train_cams), train_cams, [f"r_{i}" for i in range(n_train)]),
        "test": Split(render_builtin(test_cams), test_cams, [f"r_{i}" for i in range(N_TEST_VIEWS)]),
    }
    reach = math.sqrt(3.0)  # the aabb's corners: the rays' extent inside the box
    return SceneData(
        name=cfg.name or "builtin",
        splits=splits,
        aabb=torch.tensor([-1.0, -1.0, -1.0, 1.0, 1.0, 1.0]),
        near=CAMERA_RADIUS - reach,
        far=CAMERA_RADIUS + reach,
        background=torch.tensor([float(c) for c in cfg.background]),
        grid_levels=1,
        split_note=f"built-in scene: {n_train} train / {N_TEST_VIEWS} test views on interleaved Fibonacci bands",
        source_format="builtin",
        meta={"camera_radius": CAMERA_RADIUS, "camera_angle_x": FOV_X},
    )


def write_blender_folder(scene: SceneData, out_dir) -> Path:
    """Write `scene` as a NeRF-synthetic folder: transforms_<split>.json + <split>/r_<i>.png."""
    import imageio.v3 as iio

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, split in scene.splits.items():
        cams = split.cameras
        (out / name).mkdir(exist_ok=True)
        frames = []
        for i in range(len(split)):
            stem = split.names[i] if i < len(split.names) else f"r_{i}"
            iio.imwrite(out / name / f"{stem}.png", split.images[i].cpu().numpy())
            m = torch.eye(4, dtype=torch.float64)
            m[:3, :4] = cams.c2w[i].double()
            frames.append({"file_path": f"./{name}/{stem}", "transform_matrix": m.tolist()})
        fov_x = 2 * math.atan(0.5 * cams.width / float(cams.fx[0]))
        doc = {"camera_angle_x": fov_x, "frames": frames}
        (out / f"transforms_{name}.json").write_text(json.dumps(doc, indent=2))
    return out
