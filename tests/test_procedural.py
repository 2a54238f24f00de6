"""The built-in procedural scene: exact geometry, colours at known points, determinism, file export."""

import json
import math

import imageio.v3 as iio
import pytest
import torch

from nerf_ff.config import SceneConfig
from nerf_ff.data.cameras import Cameras, look_at, pixel_rays, project
from nerf_ff.data.procedural import (
    SOLIDS, Box, Cylinder, Ellipsoid, make_builtin_scene, render_builtin, trace_builtin, write_blender_folder,
)
from nerf_ff.errors import UserError

GLOBE, BOX, CYLINDER, EGG = SOLIDS


@pytest.fixture(scope="module")
def small_scene():
    return make_builtin_scene(SceneConfig(builtin_resolution=32, builtin_views=12))


def _inside(solid, p: torch.Tensor) -> torch.Tensor:
    """Point-in-solid test written from the solid's parameters alone (independent of intersect)."""
    q = solid.to_local(p)
    if isinstance(solid, Ellipsoid):
        return ((q / solid.radii) ** 2).sum(-1) < 1
    if isinstance(solid, Box):
        return (q.abs() < solid.half).all(-1)
    assert isinstance(solid, Cylinder)
    return (q[:, :2].norm(dim=-1) < solid.radius) & (q[:, 2].abs() < solid.half_height)


def _camera_facing(point: torch.Tensor, normal: torch.Tensor, size: int = 33) -> Cameras:
    """A pinhole 2.5 units out along `normal` whose centre pixel ray (odd size) goes through `point`."""
    eye = point + 2.5 * normal
    up = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    if abs(float(normal @ up)) > 0.9:
        up = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)
    return Cameras.from_fov(look_at(eye, point, up)[None], size, size, math.radians(40))


def _known_points():
    """(solid, world surface point, outward world normal) from each solid's parameters."""
    out = []
    # Globe: a point on the sphere facing away from the other objects.
    n = torch.tensor([-1.0, -0.9, 0.4], dtype=torch.float64)
    n = n / n.norm()
    out.append((GLOBE, GLOBE.centre + GLOBE.radii[0] * n, n))
    # Box: off-centre point of the local -y face (world normal points to -y, away from the rest).
    q = torch.tensor([0.1, -BOX.half[1].item(), 0.05], dtype=torch.float64)
    out.append((BOX, BOX.centre + BOX.rotation @ q, -BOX.rotation[:, 1]))
    # Cylinder: off-centre point of the top cap.
    q = torch.tensor([0.08, -0.05, CYLINDER.half_height], dtype=torch.float64)
    out.append((CYLINDER, CYLINDER.centre + CYLINDER.rotation @ q, CYLINDER.rotation[:, 2]))
    # Egg: a point on its underside; the normal is the gradient of the ellipsoid's equation.
    u = torch.tensor([-0.3, 0.5, -0.8], dtype=torch.float64)
    q = EGG.radii * u / u.norm()
    nl = q / EGG.radii**2
    out.append((EGG, EGG.centre + EGG.rotation @ q, EGG.rotation @ (nl / nl.norm())))
    return out


@pytest.mark.parametrize("k", range(4))
def test_known_surface_point_colour_at_its_pixel(k):
    solid, p, n = _known_points()[k]
    cams = _camera_facing(p, n)
    uv, depth = project(cams, 0, p[None].float())
    assert torch.allclose(uv[0], torch.tensor([16.5, 16.5]), atol=1e-3)  # centre of pixel (16, 16)
    img = render_builtin(cams)[0]
    assert img[16, 16, 3] == 255
    expected = (solid.color(p[None])[0] * 255).round()
    assert (img[16, 16, :3].double() - expected).abs().max() <= 1
    # The ray through that pixel stops exactly at the point: nothing occludes it.
    o, d = pixel_rays(cams, torch.tensor([0]), torch.tensor([16]), torch.tensor([16]))
    _, hit, t = trace_builtin(o, d)
    assert hit[0] and abs(t[0].item() - depth[0].item()) < 1e-4


def test_first_hit_is_on_the_surface_and_nothing_is_crossed_before_it():
    g = torch.Generator().manual_seed(0)
    eyes = torch.randn(400, 3, generator=g, dtype=torch.float64)
    eyes = 3.0 * eyes / eyes.norm(dim=-1, keepdim=True)
    aims = 0.6 * torch.randn(400, 3, generator=g, dtype=torch.float64)  # mostly into the objects
    d = (aims - eyes) / (aims - eyes).norm(dim=-1, keepdim=True)
    _, hit, t = trace_builtin(eyes, d)
    assert hit.float().mean() > 0.3
    before = torch.linspace(0, 1, 300, dtype=torch.float64)[:-1]  # [S] fractions of t
    eh, dh, th = eyes[hit], d[hit], t[hit]
    pts = (eh[:, None] + (before[None, :, None] * th[:, None, None]) * dh[:, None]).reshape(-1, 3)
    for solid in SOLIDS:
        assert not _inside(solid, pts).any()
    # Just past the hit the ray is inside some solid: the hit is a real entry point.
    past = eh + (th + 1e-4)[:, None] * dh
    assert torch.stack([_inside(s, past) for s in SOLIDS]).any(0).all()


def test_alpha_is_binary_and_scene_stays_inside_the_box(small_scene):
    imgs = small_scene.train.images
    assert imgs.dtype == torch.uint8 and imgs.shape == (12, 32, 32, 4)
    assert set(imgs[..., 3].unique().tolist()) == {0, 255}
    assert (imgs[..., :3][imgs[..., 3] == 0] == 0).all()  # missed rays carry no colour
    cams = small_scene.train.cameras
    n, h, w = len(cams), cams.height, cams.width
    grid = torch.meshgrid(torch.arange(n), torch.arange(h), torch.arange(w), indexing="ij")
    ci, py, px = [a.reshape(-1) for a in grid]  # [N*H*W] each, row-major like the images
    o, d = pixel_rays(cams, ci, px, py)
    _, hit, t = trace_builtin(o, d)
    assert torch.equal(hit, imgs[..., 3].reshape(-1) == 255)
    pts = o.double()[hit] + t[hit, None] * d.double()[hit]
    assert pts.abs().max() <= 0.9
    assert ((t[hit] > small_scene.near) & (t[hit] < small_scene.far)).all()


def test_rays_pointing_away_miss():
    eye = torch.tensor([3.6, 0.0, 0.5], dtype=torch.float64)
    c2w = look_at(eye, 2 * eye, torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64))[None]
    img = render_builtin(Cameras.from_fov(c2w, 16, 16, math.radians(36)))
    assert (img == 0).all()


def _bound_radius(solid) -> float:
    """Radius of a ball around the solid's centre that holds the whole solid."""
    if isinstance(solid, Ellipsoid):
        return solid.radii.max().item()
    if isinstance(solid, Box):
        return solid.half.norm().item()
    return math.hypot(solid.radius, solid.half_height)


def test_corner_pixels_miss_and_objects_fill_the_frame(small_scene):
    imgs, cams = small_scene.train.images, small_scene.train.cameras
    reach = max(s.centre.norm().item() + _bound_radius(s) for s in SOLIDS)  # all solids lie within it
    n, last = len(cams), cams.width - 1
    for px, py in ((0, 0), (last, last)):
        o, d = pixel_rays(cams, torch.arange(n), torch.full((n,), px), torch.full((n,), py))
        assert (torch.linalg.cross(o, d).norm(dim=-1) > reach).all()  # the corner ray passes them all by
        assert (imgs[:, py, px, 3] == 0).all()
    assert (imgs[..., 3] == 255).float().mean() > 0.2  # objects fill a good part of the frame


def test_deterministic_and_test_poses_differ_from_train():
    cfg = SceneConfig(builtin_resolution=24, builtin_views=20)
    a, b = make_builtin_scene(cfg), make_builtin_scene(cfg)
    for split in ("train", "test"):
        assert torch.equal(a.splits[split].images, b.splits[split].images)
        assert torch.equal(a.splits[split].cameras.c2w, b.splits[split].cameras.c2w)
    assert len(a.test) == 16 and len(a.train) == 20
    centres_tr, centres_te = a.train.cameras.c2w[:, :, 3], a.test.cameras.c2w[:, :, 3]
    assert torch.cdist(centres_te, centres_tr).min() > 0.1
    assert torch.allclose(centres_tr.norm(dim=-1), torch.tensor(3.6), atol=1e-4)
    assert a.aabb.tolist() == [-1, -1, -1, 1, 1, 1] and a.grid_levels == 1
    assert 0 < a.near < 3.6 - 1.6 and a.far > 3.6 + 1.6


def test_bad_config_is_a_user_error():
    with pytest.raises(UserError):
        make_builtin_scene(SceneConfig(builtin_views=0))
    with pytest.raises(UserError):
        make_builtin_scene(SceneConfig(builtin_resolution=2))


def test_write_blender_folder(small_scene, tmp_path):
    out = write_blender_folder(small_scene, tmp_path / "builtin")
    for split in ("train", "test"):
        doc = json.loads((out / f"transforms_{split}.json").read_text())
        data = small_scene.splits[split]
        assert len(doc["frames"]) == len(data)
        fov = doc["camera_angle_x"]
        assert abs(0.5 * 32 / math.tan(0.5 * fov) - data.cameras.fx[0].item()) < 1e-3
        for i, frame in enumerate(doc["frames"]):
            m = torch.tensor(frame["transform_matrix"])
            assert m.shape == (4, 4) and torch.allclose(m[:3], data.cameras.c2w[i], atol=1e-6)
            img = iio.imread(out / (frame["file_path"] + ".png"))
            assert img.shape == (32, 32, 4)
            assert torch.equal(torch.from_numpy(img), data.images[i])
