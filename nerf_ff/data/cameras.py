"""Pinhole and fisheye cameras with OpenCV lens distortion, and the rays through their pixels.

Conventions (DESIGN.md, written once here):
- `c2w` is camera-to-world, OpenGL / Blender axes: x right, y up, the camera looks down -z.
- Pixel (col i, row j) has its centre at (i + 0.5, j + 0.5); row 0 is the top of the image.
- Intrinsics fx, fy, cx, cy are in pixels of the stored (possibly downscaled) image.
- Lens distortion, per camera `distortion` [N, 7] = (k1, k2, p1, p2, k3, k4, fisheye), acts on
  normalised image coordinates in the OpenCV camera frame (X right, Y down, Z forward):
  * fisheye = 0, perspective (OpenCV radial-tangential; k3, k4 as nerfstudio: a polynomial in r2):
        x = X/Z, y = Y/Z,  r2 = x^2 + y^2,  s = 1 + k1 r2 + k2 r2^2 + k3 r2^3 + k4 r2^4
        xd = x s + 2 p1 x y + p2 (r2 + 2 x^2)
        yd = y s + p1 (r2 + 2 y^2) + 2 p2 x y
  * fisheye = 1, equidistant (OpenCV fisheye, COLMAP OPENCV_FISHEYE / RADIAL_FISHEYE; p1 = p2 = 0):
        theta = angle from the optical axis,  theta_d = theta (1 + k1 theta^2 + k2 theta^4 + k3 theta^6 + k4 theta^8)
        (xd, yd) = theta_d (X, Y) / |(X, Y)|        (rays beyond 90 degrees from the axis are fine)
  Rays are undistorted: the pixel is mapped back through the inverse of the model (Newton); pixels
  beyond the point where the model folds back have no unique ray (`lens_valid`: loaders mask them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor

LENS_PARAMS = 7
"""Columns of Cameras.distortion: k1, k2, p1, p2, k3, k4, fisheye (0 perspective, 1 equidistant fisheye)."""


def lens(k1: float = 0.0, k2: float = 0.0, p1: float = 0.0, p2: float = 0.0, k3: float = 0.0, k4: float = 0.0,
         fisheye: bool = False) -> list[float]:
    """One camera's row of Cameras.distortion."""
    return [k1, k2, p1, p2, k3, k4, 1.0 if fisheye else 0.0]


@dataclass
class Cameras:
    c2w: Tensor  # [N, 3, 4] float32, OpenGL axes
    fx: Tensor  # [N]
    fy: Tensor  # [N]
    cx: Tensor  # [N]
    cy: Tensor  # [N]
    width: int
    height: int
    distortion: Optional[Tensor] = None  # [N, 7] (k1, k2, p1, p2, k3, k4, fisheye) or None: ideal pinholes
    # [N, 2] int64 (w, h): each image's own size when a scene's images differ in size (several cameras,
    # portrait and landscape). They are stored top-left on a width x height canvas (the largest w and h),
    # so a pixel (i, j) of an image is pixel (i, j) of its canvas; the loader masks the rest. None: every
    # image is width x height.
    sizes: Optional[Tensor] = None

    def __post_init__(self):
        if self.distortion is not None and self.distortion.shape[-1] < LENS_PARAMS:  # (k1, k2, p1, p2): pad
            d = self.distortion
            self.distortion = torch.cat([d, d.new_zeros(d.shape[0], LENS_PARAMS - d.shape[-1])], -1)
        # Which lens models occur, decided once here (not on every batch of rays: no device sync there).
        kinds = set() if self.distortion is None else set(self.distortion[:, 6].cpu().round().tolist())
        self.lens_kinds = frozenset(int(k) for k in kinds)

    def __len__(self) -> int:
        return self.c2w.shape[0]

    def __getitem__(self, idx) -> "Cameras":
        if isinstance(idx, int):
            idx = [idx]
        dist = None if self.distortion is None else self.distortion[idx]
        return Cameras(self.c2w[idx], self.fx[idx], self.fy[idx], self.cx[idx], self.cy[idx],
                       self.width, self.height, dist, None if self.sizes is None else self.sizes[idx])

    def to(self, device) -> "Cameras":
        dist = None if self.distortion is None else self.distortion.to(device)
        return Cameras(self.c2w.to(device), self.fx.to(device), self.fy.to(device), self.cx.to(device),
                       self.cy.to(device), self.width, self.height, dist, self.sizes)

    def size(self, index: int) -> tuple[int, int]:
        """(w, h) of camera `index`'s own image."""
        if self.sizes is None:
            return self.width, self.height
        w, h = self.sizes[index].tolist()
        return int(w), int(h)

    def alone(self, index: int) -> "Cameras":
        """Camera `index` by itself, its own image size as width x height (the same intrinsics: the
        canvas around an image is not part of it)."""
        w, h = self.size(index)
        cam = self[index]
        return Cameras(cam.c2w, cam.fx, cam.fy, cam.cx, cam.cy, w, h, cam.distortion)

    def all_sizes(self) -> Tensor:
        """[N, 2] int64: every camera's own (w, h)."""
        if self.sizes is not None:
            return self.sizes
        return torch.tensor([[self.width, self.height]], dtype=torch.long).expand(len(self), 2)

    def scaled(self, factor: float) -> "Cameras":
        """Intrinsics for an image resized by `factor` (0.5 halves the resolution)."""
        return self.resized(round(self.width * factor), round(self.height * factor))

    def resized(self, w: int, h: int) -> "Cameras":
        """Intrinsics for the image (canvas) resized to w x h (each axis by its own ratio)."""
        sx, sy = w / self.width, h / self.height
        sizes = None
        if self.sizes is not None:
            sizes = (self.sizes.double() * torch.tensor([sx, sy], dtype=torch.float64)).round().long()
            sizes = torch.minimum(sizes.clamp_min(1), torch.tensor([w, h]))
        return Cameras(self.c2w, self.fx * sx, self.fy * sy, self.cx * sx, self.cy * sy, w, h, self.distortion, sizes)

    def fitted(self, calibrated: Tensor, stored: Tensor) -> "Cameras":
        """These cameras, calibrated for images of [N, 2] (w, h) sizes `calibrated`, for the images as
        `stored` ([N, 2]: resized, each by its own ratios): width x height becomes the largest stored size,
        `sizes` the stored ones where they differ. With one size this is `resized`."""
        s = stored.double() / calibrated.double()  # [N, 2]
        sx, sy = s[:, 0].to(self.fx.dtype), s[:, 1].to(self.fx.dtype)
        w, h, sizes = Cameras.canvas_of(stored)
        return Cameras(self.c2w, self.fx * sx, self.fy * sy, self.cx * sx, self.cy * sy, w, h, self.distortion, sizes)

    def on_canvas(self) -> "Cameras":
        """Cameras that all render the width x height canvas, each with its own image centred on it (the
        view it saw, with more of the scene around it): frames of one size for a video."""
        if self.sizes is None:
            return self
        pad = (torch.tensor([self.width, self.height]) - self.sizes).to(self.cx.dtype) / 2  # [N, 2]
        return Cameras(self.c2w, self.fx, self.fy, self.cx + pad[:, 0].to(self.cx.device),
                       self.cy + pad[:, 1].to(self.cy.device), self.width, self.height, self.distortion)

    @staticmethod
    def cat(cams: "list[Cameras]") -> "Cameras":
        """One set of cameras (missing distortion becomes zeros; images of different sizes share the
        largest canvas)."""
        dist = None
        if any(c.distortion is not None for c in cams):
            dist = torch.cat([c.distortion if c.distortion is not None else torch.zeros(len(c), LENS_PARAMS)
                              for c in cams])
        f = lambda name: torch.cat([getattr(c, name) for c in cams])  # noqa: E731
        w, h, sizes = Cameras.canvas_of(torch.cat([c.all_sizes() for c in cams]))
        return Cameras(f("c2w"), f("fx"), f("fy"), f("cx"), f("cy"), w, h, dist, sizes)

    @staticmethod
    def canvas_of(sizes: Tensor) -> tuple[int, int, Optional[Tensor]]:
        """Images of [N, 2] (w, h) `sizes` → their canvas (the largest w, the largest h) and the `sizes`
        field: the sizes where they differ, None where every image fills the canvas."""
        sizes = sizes.long()
        w, h = (int(v) for v in sizes.max(0).values.tolist())
        return w, h, None if bool((sizes == torch.tensor([w, h])).all()) else sizes.clone()

    @staticmethod
    def from_fov(c2w: Tensor, width: int, height: int, fov_x: float) -> "Cameras":
        """Ideal pinholes centred on the image, as in NeRF-synthetic (`camera_angle_x`)."""
        n = c2w.shape[0]
        f = 0.5 * width / torch.tan(torch.tensor(0.5 * fov_x, dtype=torch.float64)).item()
        full = lambda v: torch.full((n,), float(v))  # noqa: E731
        return Cameras(c2w[:, :3, :4].float(), full(f), full(f), full(width / 2), full(height / 2), width, height)


def _radial_tangential(dist: Tensor) -> tuple[Tensor, ...]:
    """k1, k2, p1, p2, k3, k4 of lens rows [..., 7] (or [..., 4]: k3 = k4 = 0)."""
    if dist.shape[-1] < 6:
        dist = torch.cat([dist, dist.new_zeros(*dist.shape[:-1], 6 - dist.shape[-1])], -1)
    return dist[..., :6].unbind(-1)


def distort(x: Tensor, y: Tensor, dist: Tensor) -> tuple[Tensor, Tensor]:
    """Perspective model: normalised coordinates x = X/Z, y = Y/Z → distorted ones. dist: [..., 7]."""
    k1, k2, p1, p2, k3, k4 = _radial_tangential(dist)
    r2 = x * x + y * y
    s = 1 + r2 * (k1 + r2 * (k2 + r2 * (k3 + r2 * k4)))
    xd = x * s + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * s + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return xd, yd


def undistort(xd: Tensor, yd: Tensor, dist: Tensor, iters: int = 10) -> tuple[Tensor, Tensor]:
    """Invert `distort` by Newton's method (converges in a few steps for photographic lenses)."""
    k1, k2, p1, p2, k3, k4 = _radial_tangential(dist)
    x, y = xd.clone(), yd.clone()
    for _ in range(iters):
        r2 = x * x + y * y
        s = 1 + r2 * (k1 + r2 * (k2 + r2 * (k3 + r2 * k4)))
        ds = 2 * (k1 + r2 * (2 * k2 + r2 * (3 * k3 + r2 * 4 * k4)))  # d s / d r2, times d r2 / dx over x (2)
        fx_ = x * s + 2 * p1 * x * y + p2 * (r2 + 2 * x * x) - xd
        fy_ = y * s + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y - yd
        # Jacobian of the distortion map.
        a = s + x * ds * x + 2 * p1 * y + 6 * p2 * x  # d xd / dx
        b = x * ds * y + 2 * p1 * x + 2 * p2 * y  # d xd / dy
        c = y * ds * x + 2 * p1 * x + 2 * p2 * y  # d yd / dx
        d = s + y * ds * y + 6 * p1 * y + 2 * p2 * x  # d yd / dy
        det = a * d - b * c
        det = torch.where(det.abs() < 1e-12, torch.full_like(det, 1e-12), det)
        x = x - (d * fx_ - b * fy_) / det
        y = y - (a * fy_ - c * fx_) / det
    return x, y


def fisheye_radius(theta: Tensor, dist: Tensor) -> tuple[Tensor, Tensor]:
    """Equidistant fisheye: distorted radius theta_d(theta) and its derivative."""
    k1, k2, k3, k4 = dist[..., 0], dist[..., 1], dist[..., 4], dist[..., 5]
    t2 = theta * theta
    poly = 1 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4)))
    dpoly = 1 + t2 * (3 * k1 + t2 * (5 * k2 + t2 * (7 * k3 + t2 * 9 * k4)))
    return theta * poly, dpoly


def lens_project(X: Tensor, Y: Tensor, Z: Tensor, dist: Tensor) -> tuple[Tensor, Tensor]:
    """Camera-frame points (OpenCV axes) → distorted normalised coordinates, per each row's lens model."""
    x, y = distort(X / Z, Y / Z, dist)
    fish = dist[..., 6] > 0.5
    if not bool(fish.any()):
        return x, y
    r = torch.sqrt(X * X + Y * Y)
    theta_d, _ = fisheye_radius(torch.atan2(r, Z), dist)
    scale = torch.where(r > 1e-12, theta_d / r.clamp_min(1e-12), 1 / Z)  # on the axis: the pinhole limit
    return torch.where(fish, X * scale, x), torch.where(fish, Y * scale, y)


def lens_unproject(xd: Tensor, yd: Tensor, dist: Tensor, kinds: frozenset) -> tuple[Tensor, Tensor, Tensor]:
    """Distorted normalised coordinates → ray directions (X, Y, Z) in the OpenCV camera frame (not unit).
    `kinds`: the lens models present (Cameras.lens_kinds), so a batch computes only the ones it needs."""
    X = Y = Z = None
    if 0 in kinds:
        X, Y = undistort(xd, yd, dist)
        Z = torch.ones_like(X)
    if 1 in kinds:
        theta_d = torch.sqrt(xd * xd + yd * yd)
        theta = theta_d.clone()
        for _ in range(10):  # Newton on theta_d(theta) = theta_d, monotone for real lenses
            f, df = fisheye_radius(theta, dist)
            theta = (theta - (f - theta_d) / torch.where(df.abs() < 1e-12, torch.full_like(df, 1e-12), df)).clamp(0, 3.1)
        scale = torch.where(theta_d > 1e-12, torch.sin(theta) / theta_d.clamp_min(1e-12), torch.ones_like(theta))
        fX, fY, fZ = xd * scale, yd * scale, torch.where(theta_d > 1e-12, torch.cos(theta), torch.ones_like(theta))
        if X is None:
            return fX, fY, fZ
        fish = dist[..., 6] > 0.5
        X, Y, Z = torch.where(fish, fX, X), torch.where(fish, fY, Y), torch.where(fish, fZ, Z)
    return X, Y, Z


def lens_valid(cams: Cameras) -> Optional[Tensor]:
    """[N, H, W] bool: the pixels whose ray the lens model can give, or None when that is every pixel of
    every camera. A distortion polynomial holds only while the distorted radius still grows with the angle
    (fisheye) or the undistorted radius (perspective); calibrations extrapolated past that point fold back,
    and a pixel beyond the fold has no unique ray. Tangential terms are left out of this test."""
    if cams.distortion is None:
        return None
    j, i = torch.meshgrid(torch.arange(cams.height, dtype=torch.float64) + 0.5,
                          torch.arange(cams.width, dtype=torch.float64) + 0.5, indexing="ij")
    out = torch.ones(len(cams), cams.height, cams.width, dtype=torch.bool)
    seen: dict = {}  # captures usually share one lens: each distinct one is tested once
    for c in range(len(cams)):
        key = (*cams.distortion[c].tolist(), float(cams.fx[c]), float(cams.fy[c]), float(cams.cx[c]), float(cams.cy[c]))
        if key in seen:
            out[c] = out[seen[key]]
            continue
        seen[key] = c
        d = cams.distortion[c].double()
        if bool(d[6] > 0.5):
            a = torch.linspace(0, 3.14, 4000, dtype=torch.float64)
            radius = fisheye_radius(a, d.expand(len(a), -1))[0]
        else:
            r = torch.linspace(0, 20, 4000, dtype=torch.float64)  # out to 87 degrees from the axis
            radius = distort(r, torch.zeros_like(r), d.expand(len(r), -1))[0]
        falls = torch.nonzero(radius[1:] <= radius[:-1])
        limit = float(radius[int(falls[0])]) if len(falls) else float(radius[-1])
        rho = torch.sqrt(((i - float(cams.cx[c])) / float(cams.fx[c])) ** 2 + ((j - float(cams.cy[c])) / float(cams.fy[c])) ** 2)
        out[c] = rho < limit
    return None if bool(out.all()) else out


def pixel_rays(cams: Cameras, cam_idx: Tensor, px: Tensor, py: Tensor) -> tuple[Tensor, Tensor]:
    """Rays through pixel centres.

    cam_idx, px (column), py (row): [R] integer tensors (or float pixel coordinates, used as given
    plus 0.5). Returns rays_o [R, 3] and unit rays_d [R, 3] in world coordinates.
    """
    u = px.to(cams.fx.dtype) + 0.5  # [R]
    v = py.to(cams.fx.dtype) + 0.5
    x = (u - cams.cx[cam_idx]) / cams.fx[cam_idx]  # OpenCV normalised coords, y down
    y = (v - cams.cy[cam_idx]) / cams.fy[cam_idx]
    z = torch.ones_like(x)
    if cams.distortion is not None:
        x, y, z = lens_unproject(x, y, cams.distortion[cam_idx], cams.lens_kinds)
    dirs_cam = torch.stack([x, -y, -z], dim=-1)  # OpenGL camera frame, [R, 3]
    c2w = cams.c2w[cam_idx]  # [R, 3, 4]
    rays_d = torch.einsum("rij,rj->ri", c2w[:, :3, :3], dirs_cam)
    rays_d = rays_d / rays_d.norm(dim=-1, keepdim=True)
    rays_o = c2w[:, :3, 3].expand_as(rays_d).contiguous()
    return rays_o, rays_d


def image_rays(cams: Cameras, index: int, device=None) -> tuple[Tensor, Tensor]:
    """All rays of one camera (its own image size) in row-major pixel order: [H*W, 3] each."""
    device = device or cams.c2w.device
    w, h = cams.size(index)
    j, i = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
    idx = torch.full((h * w,), index, dtype=torch.long, device=device)
    return pixel_rays(cams.to(device) if cams.c2w.device != torch.device(device) else cams, idx, i.reshape(-1), j.reshape(-1))


def project(cams: Cameras, index: int, points: Tensor) -> tuple[Tensor, Tensor]:
    """World points [P, 3] → continuous pixel coordinates (u, v) of camera `index` (with
    distortion), and the depth along the viewing axis. Pixel (i, j) covers u in [i, i+1)."""
    c2w = cams.c2w[index]
    R, t = c2w[:3, :3], c2w[:3, 3]
    p_cam = (points - t) @ R  # world → OpenGL camera frame: R^T (p - t)
    z = -p_cam[:, 2]
    x, y = p_cam[:, 0] / z, -p_cam[:, 1] / z  # OpenCV normalised, y down
    if cams.distortion is not None:
        d = cams.distortion[index].expand(x.shape[0], LENS_PARAMS)
        x, y = lens_project(p_cam[:, 0], -p_cam[:, 1], z, d)
    return torch.stack([x * cams.fx[index] + cams.cx[index], y * cams.fy[index] + cams.cy[index]], -1), z


def look_at(eye: Tensor, target: Tensor, up: Tensor) -> Tensor:
    """Camera-to-world [3, 4] (OpenGL axes) at `eye` looking at `target`."""
    forward = target - eye
    forward = forward / forward.norm()
    right = torch.linalg.cross(forward, up)
    right = right / right.norm()
    cam_up = torch.linalg.cross(right, forward)
    return torch.stack([right, cam_up, -forward, eye], dim=-1)
