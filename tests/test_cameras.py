"""Camera conventions: OpenGL c2w, pixel centres at +0.5, OpenCV distortion (perspective and fisheye),
intrinsics scaling.

Expected pixels are computed by hand from the pinhole model, not by the code under test.
"""

import math

import torch

from nerf_ff.data.cameras import Cameras, distort, image_rays, lens, look_at, pixel_rays, project, undistort


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


def _lens_camera(row, width=120, height=90, f=40.0, n=1) -> Cameras:
    c2w = look_at(torch.tensor([0.3, -0.2, 4.0]), torch.zeros(3), torch.tensor([0.0, 1.0, 0.0]))
    full = lambda v: torch.full((n,), float(v))  # noqa: E731
    return Cameras(c2w[None].expand(n, 3, 4).clone(), full(f), full(f * 1.02), full(width / 2 + 1.5), full(height / 2 - 2),
                   width, height, torch.tensor([row] * n))


def _pixels_round_trip(cams: Cameras, idx: torch.Tensor) -> float:
    """Largest pixel error of pixel → ray → a point on it → project, over a grid of pixels of each camera."""
    j, i = torch.meshgrid(torch.arange(0, cams.height, 3.0), torch.arange(0, cams.width, 3.0), indexing="ij")
    worst = 0.0
    for c in idx.tolist():
        k = torch.full((i.numel(),), c, dtype=torch.long)
        o, d = pixel_rays(cams, k, i.reshape(-1), j.reshape(-1))
        depth = 0.5 + torch.rand(i.numel(), generator=torch.Generator().manual_seed(c)) * 3
        uv, _ = project(cams, c, o + d * depth[:, None])
        expected = torch.stack([i.reshape(-1), j.reshape(-1)], -1) + 0.5
        worst = max(worst, float((uv - expected).norm(dim=-1).max()))
    return worst


def test_perspective_k3_k4_round_trip():
    cams = _lens_camera(lens(-0.08, 0.02, 0.001, -0.0005, k3=-0.004, k4=0.0008), f=70.0)
    assert _pixels_round_trip(cams, torch.tensor([0])) < 1e-2
    # k3 and k4 matter: dropping them moves the edge pixels' rays
    without = _lens_camera(lens(-0.08, 0.02, 0.001, -0.0005), f=70.0)
    idx = torch.zeros(1, dtype=torch.long)
    d1 = pixel_rays(cams, idx, torch.tensor([0.0]), torch.tensor([0.0]))[1]
    d2 = pixel_rays(without, idx, torch.tensor([0.0]), torch.tensor([0.0]))[1]
    assert float(torch.linalg.cross(d1, d2).norm()) > 1e-3


def test_fisheye_round_trip_and_angles_beyond_90_degrees():
    row = lens(0.03, -0.01, k3=0.002, k4=-0.0005, fisheye=True)
    cams = _lens_camera(row, f=40.0)  # the corners are ~110 degrees from the axis (the lens maps up to ~120)
    assert _pixels_round_trip(cams, torch.tensor([0])) < 1e-2
    # The equidistant model by hand: the ray through (cx + f * theta_d, cy) leaves the axis at theta.
    theta = 1.8  # 103 degrees
    t2 = theta**2
    theta_d = theta * (1 + t2 * (0.03 + t2 * (-0.01 + t2 * (0.002 - 0.0005 * t2))))
    u = float(cams.cx[0]) + float(cams.fx[0]) * theta_d - 0.5
    o, d = pixel_rays(cams, torch.zeros(1, dtype=torch.long), torch.tensor([u]), torch.tensor([float(cams.cy[0]) - 0.5]))
    axis = -cams.c2w[0, :, 2]
    assert abs(math.acos(float((d[0] * axis).sum())) - theta) < 1e-4


def test_mixed_lenses_and_four_coefficient_rows():
    persp = _lens_camera(lens(-0.05, 0.01), f=70.0)
    fish = _lens_camera(lens(0.02, fisheye=True), f=40.0)
    both = Cameras.cat([persp, fish, _lens_camera([0.0] * 7, f=70.0)])
    assert both.lens_kinds == {0, 1}
    assert _pixels_round_trip(both, torch.tensor([0, 1, 2])) < 1e-2
    legacy = Cameras(persp.c2w, persp.fx, persp.fy, persp.cx, persp.cy, 120, 90, torch.tensor([[-0.05, 0.01, 0.0, 0.0]]))
    assert legacy.distortion.shape == (1, 7)  # (k1, k2, p1, p2) rows are padded: perspective, k3 = k4 = 0
    torch.testing.assert_close(image_rays(legacy, 0)[1], image_rays(persp, 0)[1])


def test_pixels_beyond_the_lens_models_range_are_left_out():
    """A fisheye calibration whose polynomial folds back before the image corners (theta_d stops growing
    at ~2.6 rad here): those corner pixels have no unique ray and are masked; the rest round-trip."""
    from nerf_ff.data.cameras import lens_valid
    from nerf_ff.data.scene import Split

    row = lens(0.03, -0.01, k3=0.002, k4=-0.0005, fisheye=True)
    cams = _lens_camera(row, f=22.0)  # corner radius 75 px = theta_d 3.4: past the fold
    valid = lens_valid(cams)
    assert valid is not None and bool(valid[0, 45, 60]) and not bool(valid[0, 0, 0]) and not bool(valid[0, -1, -1])
    j, i = torch.nonzero(valid[0], as_tuple=True)
    o, d = pixel_rays(cams, torch.zeros(len(i), dtype=torch.long), i.float(), j.float())
    uv, _ = project(cams, 0, o + d * 2.0)
    assert float((uv - torch.stack([i, j], -1).float() - 0.5).norm(dim=-1).max()) < 1e-2
    split = Split(torch.zeros(1, 90, 120, 3, dtype=torch.uint8), cams)
    assert split.mask_lens_range() == int((~valid).sum()) and torch.equal(split.masks, valid)
    assert lens_valid(_lens_camera(lens(0.03, -0.01, k3=0.002, k4=-0.0005, fisheye=True), f=40.0)) is None
    assert lens_valid(_lens_camera(lens(-0.08, 0.02, 0.001, -0.0005, k3=-0.004, k4=0.0008), f=70.0)) is None
