"""Camera conventions: OpenGL c2w, pixel centres at +0.5, OpenCV distortion, intrinsics scaling.

Expected pixels are computed by hand from the pinhole model, not by the code under test.
"""

import math

import torch

from nerf_ff.data.cameras import Cameras, distort, image_rays, look_at, pixel_rays, project, undistort


def blender_camera(width=100, height=100, fx=80.0) -> Cameras:
    """One NeRF-synthetic style camera at (0, 0, 4) looking at the origin (identity rotation)."""
    c2w = look_at(torch.tensor([0.0, 0.0, 4.0]), torch.zeros(3), torch.tensor([0.0, 1.0, 0.0]))
    fov = 2 * math.atan(0.5 * width / fx)
    return Cameras.from_fov(c2w[None], width, height, fov)


def ray_point_distance(o, d, p):
    """Distance of points p [R, 3] from rays (o, unit d) [R, 3]."""
    v = p - o
    return (v - (v * d).sum(-1, keepdim=True) * d).norm(dim=-1)


def test_look_at_gives_blender_axes():
    c2w = look_at(torch.tensor([0.0, 0.0, 4.0]), torch.zeros(3), torch.tensor([0.0, 1.0, 0.0]))
    # Looking down -z from +z with y up: the camera axes are the world axes.
    torch.testing.assert_close(c2w[:, :3], torch.eye(3))
    torch.testing.assert_close(c2w[:, 3], torch.tensor([0.0, 0.0, 4.0]))


def test_project_blender_pose_hand_computed_pixel():
    cams = blender_camera()
    assert abs(cams.fx[0].item() - 80.0) < 1e-4 and cams.cx[0].item() == 50.0
    # (0.525, 0.275, 0) is 4 units in front: x/z = 0.13125 → u = 50 + 80 * 0.13125 = 60.5 (right of
    # centre); y up in the world is up in the image: v = 50 - 80 * 0.06875 = 44.5.
    point = torch.tensor([[0.525, 0.275, 0.0]])
    uv, depth = project(cams, 0, point)
    torch.testing.assert_close(uv[0], torch.tensor([60.5, 44.5]))
    torch.testing.assert_close(depth, torch.tensor([4.0]))
    # 60.5 is the centre of column 60, 44.5 the centre of row 44.
    assert (int(uv[0, 0]), int(uv[0, 1])) == (60, 44)


def test_ray_through_projected_pixel_hits_point():
    cams = blender_camera()
    point = torch.tensor([[0.525, 0.275, 0.0]])
    o, d = pixel_rays(cams, torch.tensor([0]), torch.tensor([60]), torch.tensor([44]))
    assert ray_point_distance(o, d, point).item() < 1e-6
    torch.testing.assert_close(d.norm(dim=-1), torch.ones(1))
    # The neighbouring pixel's ray misses the point by about one pixel footprint at depth 4 (4/80).
    o2, d2 = pixel_rays(cams, torch.tensor([0]), torch.tensor([61]), torch.tensor([44]))
    assert abs(ray_point_distance(o2, d2, point).item() - 4 / 80) < 1e-3


def test_pixel_centre_is_plus_half():
    cams = blender_camera(width=100, height=60, fx=80.0)  # cx = 50, cy = 30
    o, d = pixel_rays(cams, torch.tensor([0]), torch.tensor([0]), torch.tensor([0]))
    # Top-left pixel (0, 0): centre (0.5, 0.5) → camera direction ((0.5-50)/80, -(0.5-30)/80, -1).
    expected = torch.tensor([(0.5 - 50) / 80, (30 - 0.5) / 80, -1.0])
    torch.testing.assert_close(d[0], expected / expected.norm())
    # image_rays is row-major: index j * W + i is pixel (col i, row j); the image centre lies
    # between pixels 49 and 50 of row 29/30, so rays there are symmetric about the axis.
    _, dirs = image_rays(cams, 0)
    assert dirs.shape == (60 * 100, 3)
    torch.testing.assert_close(dirs[0], d[0])
    a, b = dirs[29 * 100 + 49], dirs[30 * 100 + 50]
    torch.testing.assert_close(a[:2], -b[:2])


def test_scaled_intrinsics_follow_pixel_centre_convention():
    cams = blender_camera(width=100, height=60)
    half = cams.scaled(0.5)
    assert (half.width, half.height) == (50, 30)
    points = torch.tensor([[0.3, -0.2, 0.5], [-0.7, 0.4, -1.0]])
    uv, _ = project(cams, 0, points)
    uv_half, _ = project(half, 0, points)
    # Continuous pixel coordinates (edges at integers) scale exactly with the image.
    torch.testing.assert_close(uv_half, uv * 0.5)
    # Pixel (0, 0) of the half-size image covers pixels 0..1 of the full one: its centre ray is the
    # ray through full-resolution coordinate (1, 1), i.e. pixel-index 0.5.
    _, d_half = pixel_rays(half, torch.tensor([0]), torch.tensor([0]), torch.tensor([0]))
    _, d_full = pixel_rays(cams, torch.tensor([0]), torch.tensor([0.5]), torch.tensor([0.5]))
    torch.testing.assert_close(d_half, d_full)


def distorted_camera() -> Cameras:
    """An instant-ngp fox-like camera (portrait, off-centre principal point, k1 k2 p1 p2)."""
    c2w = look_at(torch.tensor([3.0, -2.0, 1.0]), torch.tensor([0.1, 0.0, -0.2]), torch.tensor([0.0, 0.0, 1.0]))
    dist = torch.tensor([[0.0578, -0.0805, -0.00098, 0.00016]])
    return Cameras(c2w[None], torch.tensor([343.9]), torch.tensor([343.6]), torch.tensor([138.6]),
                   torch.tensor([241.3]), 270, 480, dist)


def test_distort_undistort_round_trip():
    g = torch.linspace(-0.6, 0.6, 25)
    x, y = torch.meshgrid(g, g, indexing="ij")
    x, y = x.reshape(-1).double(), y.reshape(-1).double()
    dist = torch.tensor([0.0578, -0.0805, -0.00098, 0.00016], dtype=torch.float64).expand(x.shape[0], 4)
    xd, yd = distort(x, y, dist)
    assert (xd - x).abs().max() > 1e-3  # the distortion actually moves points
    xu, yu = undistort(xd, yd, dist)
    torch.testing.assert_close(xu, x, atol=1e-9, rtol=0)
    torch.testing.assert_close(yu, y, atol=1e-9, rtol=0)


def test_distorted_project_then_pixel_rays_round_trip():
    cams = distorted_camera()
    gen = torch.Generator().manual_seed(0)
    points = torch.tensor([0.1, 0.0, -0.2]) + (torch.rand(200, 3, generator=gen) - 0.5) * 1.5
    uv, depth = project(cams, 0, points)
    inside = (uv[:, 0] >= 0) & (uv[:, 0] < 270) & (uv[:, 1] >= 0) & (uv[:, 1] < 480) & (depth > 0)
    assert inside.sum() > 100
    # pixel_rays adds the +0.5 centre offset, so pass continuous coordinates minus 0.5.
    idx = torch.zeros(int(inside.sum()), dtype=torch.long)
    o, d = pixel_rays(cams, idx, uv[inside, 0] - 0.5, uv[inside, 1] - 0.5)
    assert ray_point_distance(o, d, points[inside]).max().item() < 1e-4
    # Without undistortion the rays would miss by far more: the distortion is not negligible.
    pinhole = Cameras(cams.c2w, cams.fx, cams.fy, cams.cx, cams.cy, cams.width, cams.height)
    o2, d2 = pixel_rays(pinhole, idx, uv[inside, 0] - 0.5, uv[inside, 1] - 0.5)
    assert ray_point_distance(o2, d2, points[inside]).max().item() > 1e-3
