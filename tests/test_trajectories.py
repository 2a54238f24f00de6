"""Camera paths: geometry of orbit / spiral / interpolation, scene-frame estimation, path files."""

import json
import math

import pytest
import torch

from nerf_ff.data.cameras import Cameras, look_at
from nerf_ff.errors import UserError
from nerf_ff.trajectories.frame import _quat_from_rotmat, _rotmat_from_quat
from nerf_ff.trajectories import (KeyframePath, estimate_up, focus_point,
                                  interpolate, load_path_file, nearest_tour, orbit, save_nerfstudio_path,
                                  save_path_file, spiral)
from nerf_ff import trajectories

F64 = torch.float64


def _rotation(axis, angle) -> torch.Tensor:
    """Rodrigues: [3, 3] rotation about `axis` by `angle` radians."""
    k = torch.as_tensor(axis, dtype=F64)
    k = k / k.norm()
    K = torch.tensor([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]], dtype=F64)
    return torch.eye(3, dtype=F64) + math.sin(angle) * K + (1 - math.cos(angle)) * K @ K


TILT = _rotation([1.0, 0.4, -0.3], 0.5)  # rigs are built z-up, then tilted so no answer is axis-aligned
CENTER = torch.tensor([0.3, -0.7, 1.2], dtype=F64)
UP = TILT @ torch.tensor([0.0, 0.0, 1.0], dtype=F64)
FORWARD_FRAME = _rotation([0.2, 1.0, 0.1], 0.7)  # the forward-facing rig's (right, up, back) axes


def _cams(c2w: torch.Tensor, width=40, height=30) -> Cameras:
    return Cameras.from_fov(c2w.float(), width, height, math.radians(50))


def _sphere_rig(n=80, radius=4.0) -> Cameras:
    """Fibonacci sphere of cameras (poles left out) around CENTER, upright w.r.t. UP, looking at it."""
    k = torch.arange(n, dtype=F64) + 0.5
    z = 0.9 * (1 - 2 * k / n)
    phi = math.pi * (3 - math.sqrt(5)) * k
    r = torch.sqrt(1 - z ** 2)
    dirs = torch.stack([r * torch.cos(phi), r * torch.sin(phi), z], -1) @ TILT.T
    eyes = CENTER + radius * dirs
    return _cams(torch.stack([look_at(e, CENTER, UP) for e in eyes]))


def _ring_rig(n=30, radius=2.5, elevation_deg=25.0, arc_deg=240.0, roll_deg=0.0) -> Cameras:
    """A hand-held orbit: a partial ring above CENTER, cameras looking at it, optionally rolled."""
    el = math.radians(elevation_deg)
    az = torch.linspace(0, math.radians(arc_deg), n, dtype=F64)
    local = torch.stack([math.cos(el) * torch.cos(az), math.cos(el) * torch.sin(az),
                         torch.full_like(az, math.sin(el))], -1)
    eyes = CENTER + radius * local @ TILT.T
    c2w = torch.stack([look_at(e, CENTER, UP) for e in eyes])
    roll = _rotation([0, 0, 1], math.radians(roll_deg))  # about the camera's own viewing axis
    c2w[:, :, :3] = c2w[:, :, :3] @ roll
    return _cams(c2w)


def _forward_rig(depth=6.0) -> tuple[Cameras, torch.Tensor]:
    """A 5x4 grid of cameras in a plane, all converging on one point `depth` in front of the grid centre."""
    xs, ys = torch.meshgrid(torch.linspace(-0.6, 0.6, 5, dtype=F64), torch.linspace(-0.3, 0.3, 4, dtype=F64),
                            indexing="ij")
    local = torch.stack([xs.reshape(-1), ys.reshape(-1), torch.zeros(20, dtype=F64)], -1)
    frame = FORWARD_FRAME
    grid_center = torch.tensor([1.0, 2.0, -0.5], dtype=F64)
    eyes = grid_center + local @ frame.T
    focus = grid_center - depth * frame[:, 2]
    c2w = torch.stack([look_at(e, focus, frame[:, 1]) for e in eyes])
    return _cams(c2w), focus


def _angle_to(c2w: torch.Tensor, point: torch.Tensor) -> torch.Tensor:
    """Angle [N] between each camera's viewing axis (-z) and the direction to `point`."""
    c2w = c2w.to(F64)
    fwd = -c2w[:, :, 2]
    to = point - c2w[:, :, 3]
    cos = (fwd * to).sum(-1) / (fwd.norm(dim=-1) * to.norm(dim=-1))
    return torch.acos(cos.clamp(-1, 1))


def _assert_orthonormal(c2w: torch.Tensor, tol=1e-5):
    R = c2w[:, :, :3].to(F64)
    assert (R.transpose(1, 2) @ R - torch.eye(3, dtype=F64)).abs().max() < tol
    assert (torch.linalg.det(R) - 1).abs().max() < tol


def _deg(a: torch.Tensor, b: torch.Tensor) -> float:
    return math.degrees(float(torch.acos(((a @ b) / (a.norm() * b.norm())).clamp(-1.0, 1.0))))


# ---------------------------------------------------------------- scene frame

def test_focus_point_and_up_on_a_full_sphere_rig():
    rig = _sphere_rig()
    assert torch.allclose(focus_point(rig.c2w), CENTER, atol=1e-4)
    assert _deg(estimate_up(rig.c2w), UP) < 0.01


def test_up_of_a_random_hemisphere_rig():
    # As in NeRF-synthetic training sets: random directions on the upper hemisphere, no roll.
    # The cameras' mean up axis and the best-fit plane of the centres both lean by degrees here.
    g = torch.Generator().manual_seed(3)
    dirs = torch.randn(60, 3, generator=g, dtype=F64)
    dirs[:, 2] = dirs[:, 2].abs() + 0.1
    eyes = CENTER + 4.0 * (dirs / dirs.norm(dim=-1, keepdim=True)) @ TILT.T
    rig = _cams(torch.stack([look_at(e, CENTER, UP) for e in eyes]))
    assert _deg(estimate_up(rig.c2w), UP) < 0.01
    assert torch.allclose(focus_point(rig.c2w), CENTER, atol=1e-4)


@pytest.mark.parametrize("roll_deg,arc_deg", [(0.0, 240.0), (90.0, 240.0), (7.0, 240.0), (7.0, 60.0), (90.0, 60.0)])
def test_up_of_a_hand_held_orbit_is_the_ring_normal(roll_deg, arc_deg):
    # Rolled cameras (phone held sideways or tilted) mislead the camera axes; the ring plane does not.
    rig = _ring_rig(roll_deg=roll_deg, arc_deg=arc_deg)
    assert _deg(estimate_up(rig.c2w), UP) < 0.01
    assert torch.allclose(focus_point(rig.c2w), CENTER, atol=1e-4)


def test_up_of_a_forward_facing_rig_is_the_cameras_up():
    rig, _ = _forward_rig()
    assert _deg(estimate_up(rig.c2w), FORWARD_FRAME[:, 1]) < 0.01


def test_focus_point_of_parallel_cameras_is_a_user_error():
    c2w = torch.eye(4)[:3].expand(5, 3, 4).clone()
    c2w[:, 0, 3] = torch.arange(5.0)
    with pytest.raises(UserError):
        focus_point(c2w)


# ---------------------------------------------------------------- orbit

def test_orbit_keeps_its_radius_and_looks_at_the_centre():
    rig = _sphere_rig(radius=4.0)
    cams = orbit(rig, 60)
    assert len(cams) == 60 and cams.c2w.dtype == torch.float32
    dist = (cams.c2w[:, :, 3].to(F64) - CENTER).norm(dim=-1)
    assert (dist - 4.0).abs().max() < 1e-4  # the rig's median radius, around the recovered centre
    assert _angle_to(cams.c2w, CENTER).max() < 1e-4
    _assert_orthonormal(cams.c2w)
    # Evenly spaced around one circle whose axis is the up direction.
    steps = cams.c2w[:, :, 3].diff(dim=0).norm(dim=-1)
    assert (steps / steps.mean() - 1).abs().max() < 1e-3
    heights = (cams.c2w[:, :, 3].to(F64) - CENTER) @ UP
    assert heights.std() < 1e-2 * 4.0
    # Cameras stay upright: their x axis is horizontal.
    assert (cams.c2w[:, :, 0].to(F64) @ estimate_up(rig.c2w)).abs().max() < 1e-5


def test_orbit_honours_explicit_parameters_and_intrinsics():
    rig = _ring_rig()
    center = torch.tensor([0.0, 0.0, 0.0])
    cams = orbit(rig, 12, center=center, radius=2.0, height=0.5, up=(0, 0, 1), resolution=(20, 15))
    pos = cams.c2w[:, :, 3].to(F64)
    assert torch.allclose(pos.norm(dim=-1), torch.full((12,), 2.0, dtype=F64), atol=1e-5)
    assert torch.allclose(pos[:, 2], torch.full((12,), 0.5, dtype=F64), atol=1e-5)
    assert _angle_to(cams.c2w, center.to(F64)).max() < 1e-4
    assert (cams.width, cams.height) == (20, 15)
    # Half the resolution, same field of view.
    assert torch.allclose(cams.fx, rig.fx[:1].expand(12) * 0.5) and torch.allclose(cams.cy, rig.cy[:1].expand(12) * 0.5)
    with pytest.raises(UserError):
        orbit(rig, 12, radius=1.0, height=2.0)


def test_orbit_default_elevation_matches_the_rig():
    rig = _ring_rig(elevation_deg=25.0, radius=2.5)
    cams = orbit(rig, 16)
    rel = cams.c2w[:, :, 3].to(F64) - CENTER
    elevation = torch.rad2deg(torch.asin(rel @ UP / rel.norm(dim=-1)))
    assert (elevation - 25.0).abs().max() < 0.05
    assert (rel.norm(dim=-1) - 2.5).abs().max() < 1e-4


# ---------------------------------------------------------------- spiral

def test_spiral_frames_look_at_the_focus():
    rig, focus = _forward_rig()
    cams = spiral(rig, 40)
    assert _angle_to(cams.c2w, focus).max() < 1e-4
    _assert_orthonormal(cams.c2w)
    # Frames move around the mean pose, within the spread of the capture.
    pos = cams.c2w[:, :, 3].to(F64)
    mean = rig.c2w[:, :, 3].to(F64).mean(0)
    offsets = (pos - mean).norm(dim=-1)
    assert offsets.max() <= 0.6 * math.sqrt(2) + 1e-4 and offsets.min() > 1e-3
    assert pos.diff(dim=0).norm(dim=-1).min() > 1e-3


def test_spiral_with_parallel_cameras_needs_a_focus_depth():
    c2w = torch.eye(4)[:3].expand(6, 3, 4).clone()
    c2w[:, 0, 3] = torch.linspace(-1, 1, 6)
    c2w[:, 1, 3] = torch.tensor([0.2, -0.2] * 3)
    rig = _cams(c2w)
    with pytest.raises(UserError):
        spiral(rig, 10)
    cams = spiral(rig, 10, focus_depth=3.0)
    target = torch.tensor([0.0, 0.0, -3.0], dtype=F64)
    assert _angle_to(cams.c2w, target).max() < 1e-4


# ---------------------------------------------------------------- interpolation

def _random_keys(n=6, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    keys = []
    for _ in range(n):
        R = _rotation(torch.randn(3, generator=g, dtype=F64), float(torch.rand(1, generator=g)) * 3.0)
        keys.append(torch.cat([R, torch.randn(3, 1, generator=g, dtype=F64)], 1))
    return torch.stack(keys)


def test_quaternion_round_trip_including_half_turns():
    Rs = [_rotation(a, ang) for a, ang in [([1, 0, 0], math.pi), ([0, 1, 0], math.pi), ([0, 0, 1], math.pi),
                                            ([1, 1, 0], math.pi), ([1, 2, 3], 0.0), ([1, -2, 0.5], 2.0)]]
    R = torch.stack(Rs + list(_random_keys(20)[:, :, :3]))
    assert torch.allclose(_rotmat_from_quat(_quat_from_rotmat(R)), R, atol=1e-12)


@pytest.mark.parametrize("times,loop", [(None, False), (None, True), ([0.0, 0.5, 2.0, 2.2, 3.0, 5.0], False),
                                        ([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], True)])
def test_keyframe_path_passes_through_its_keys(times, loop):
    keys = _random_keys()
    path = KeyframePath(keys, times=times, loop=loop)
    if times is not None:
        assert torch.allclose(path.key_times, torch.tensor(times, dtype=F64))
    at_keys = path(path.key_times)
    assert torch.allclose(at_keys, keys, atol=1e-9)
    if loop:  # a loop comes back to its first key
        assert torch.allclose(path(torch.tensor([path.end])), keys[:1], atol=1e-9)
    _assert_orthonormal(path.sample(200), tol=1e-9)


def test_keyframe_path_between_identical_keys_stays_put():
    keys = _random_keys(3)
    keys = torch.stack([keys[0], keys[0], keys[1], keys[2]])
    frames = KeyframePath(keys).sample(50)
    assert torch.isfinite(frames).all()
    assert torch.allclose(frames[0], keys[0], atol=1e-9) and torch.allclose(frames[-1], keys[-1], atol=1e-9)


def test_keyframe_path_has_no_velocity_jumps_at_uneven_keys():
    # Keys 1, 5 and 1 units apart, turning about one axis by different amounts: neither the
    # velocity nor the angular speed jumps where segments meet.
    pos = torch.tensor([[0, 0, 0], [1, 0, 0], [6, 1, 0], [7, 1, 0]], dtype=F64)
    rot = torch.stack([_rotation([0, 1, 0], a) for a in (0.0, 0.4, 0.5, 1.2)])
    path = KeyframePath(torch.cat([rot, pos[:, :, None]], -1))

    def max_changes(n):
        """Largest frame-to-frame change of the velocity and of the angular step at n frames."""
        frames = path.sample(n)
        vel = frames[:, :, 3].diff(dim=0)  # [n - 1, 3]
        turn = torch.acos(((torch.einsum("nij,nij->n", frames[1:, :, :3], frames[:-1, :, :3]) - 1) / 2).clamp(-1, 1))
        return vel.diff(dim=0).norm(dim=-1).max(), turn.diff().abs().max()

    # Halving the frame interval shrinks these 4x where motion is C1 (change ~ acceleration dt^2),
    # but only 2x at a jump in velocity (change ~ jump dt).
    (dv1, dw1), (dv2, dw2) = max_changes(401), max_changes(801)
    assert dv1 / dv2 > 3.5 and dw1 / dw2 > 3.5


def test_keyframe_path_never_backs_up_where_speeds_differ_a_lot():
    # Long fast segments around a short one with a big turn (slow): speeds differ 50x between
    # neighbours, yet the camera only ever moves forward along the line.
    x = torch.tensor([0.0, 10.0, 10.2, 20.0, 30.0], dtype=F64)
    pos = torch.stack([x, torch.zeros(5, dtype=F64), torch.zeros(5, dtype=F64)], -1)
    rot = torch.stack([_rotation([0, 1, 0], a) for a in (0.0, 0.0, 1.5, 1.5, 1.5)])
    frames = KeyframePath(torch.cat([rot, pos[:, :, None]], -1)).sample(500)
    assert (frames[:, 0, 3].diff() >= -1e-12).all()
    assert frames[:, 1:, 3].abs().max() < 1e-9  # collinear keys: the spline stays on their line


def test_keyframe_path_without_turns_moves_at_constant_speed():
    # Unevenly spaced keys, one orientation: frames are evenly spaced along the curve.
    pos = torch.tensor([[0, 0, 0], [1, 0.2, 0], [6, 1, 0.5], [7, 1, 0.4], [7.5, 2, 0.4]], dtype=F64)
    R = _rotation([1, 2, 3], 0.8).expand(5, 3, 3)
    frames = KeyframePath(torch.cat([R, pos[:, :, None]], -1)).sample(300)
    speed = frames[:, :, 3].diff(dim=0).norm(dim=-1)
    assert speed.max() / speed.min() < 1.01
    assert torch.allclose(frames[:, :, :3], R[:1].expand(300, 3, 3), atol=1e-12)


def test_nearest_tour_walks_to_the_closest_unvisited_camera():
    x = torch.tensor([0.0, 3.0, 1.0, 2.0, 4.0, 10.0, 5.5])
    positions = torch.stack([x, torch.zeros(7), torch.zeros(7)], -1)
    assert nearest_tour(positions).tolist() == [0, 2, 3, 1, 4, 6, 5]


def test_interpolated_tour_is_smooth_and_starts_and_ends_on_keys():
    rig = _ring_rig(n=24, arc_deg=300.0)
    perm = torch.randperm(24, generator=torch.Generator().manual_seed(1))
    perm = torch.cat([torch.tensor([0]), perm[perm != 0]])  # the tour starts at the ring's first camera
    shuffled = rig[perm.tolist()]
    cams = interpolate(shuffled, 240)
    c2w = cams.c2w.to(F64)
    _assert_orthonormal(cams.c2w)
    assert torch.allclose(c2w[0], rig.c2w[0].to(F64), atol=1e-5)
    assert torch.allclose(c2w[-1], rig.c2w[-1].to(F64), atol=1e-5)  # the greedy tour ends at the ring's end
    steps = c2w[:, :, 3].diff(dim=0).norm(dim=-1)
    assert steps.max() / steps.mean() < 1.5
    turn = torch.acos(((torch.einsum("nij,nij->n", c2w[1:, :, :3], c2w[:-1, :, :3]) - 1) / 2).clamp(-1, 1))
    assert turn.max() / turn.mean() < 2.5
    # The tour follows the ring (every frame near it), rather than cutting across.
    rel = c2w[:, :, 3] - CENTER
    assert ((rel.norm(dim=-1) - 2.5).abs() < 0.05).all()


def test_interpolate_limits_keys_and_accepts_the_given_order():
    rig = _ring_rig(n=9, arc_deg=160.0)
    cams = interpolate(rig, 50, order="given", max_keys=3)
    c2w = cams.c2w.to(F64)
    assert torch.allclose(c2w[0], rig.c2w[0].to(F64), atol=1e-5)
    assert torch.allclose(c2w[-1], rig.c2w[-1].to(F64), atol=1e-5)
    steps = c2w[:, :, 3].diff(dim=0).norm(dim=-1)
    assert steps.max() / steps.mean() < 1.5
    with pytest.raises(UserError):
        interpolate(rig, 50, order="random")
    with pytest.raises(UserError):
        interpolate(rig, 0)


def test_held_out_views_are_the_test_cameras():
    rig = _ring_rig()
    assert trajectories.held_out_views(rig) is rig


# ---------------------------------------------------------------- path files

def test_keyframe_file_round_trip_with_times(tmp_path):
    keys = orbit(_sphere_rig(), 4).c2w
    f = tmp_path / "path.json"
    save_path_file(f, keys, times=[0.0, 1.0, 2.0, 3.0], fps=4)
    ref = _ring_rig()
    cams, fps = load_path_file(f, ref)
    assert fps == 4 and len(cams) == 13  # 3 s at 4 fps, both ends included
    assert torch.allclose(cams.c2w[::4], keys, atol=1e-5)
    assert torch.allclose(cams.fx, ref.fx[:1].expand(13)) and (cams.width, cams.height) == (ref.width, ref.height)


def test_keyframe_file_round_trip_with_frames_and_fov(tmp_path):
    keys = _random_keys(5)
    f = tmp_path / "path.json"
    save_path_file(f, keys, frames=33, fov_x_deg=60.0)
    ref = _ring_rig()
    cams, fps = load_path_file(f, ref, resolution=(80, 60))
    assert fps == 30 and len(cams) == 33
    expect = KeyframePath(keys).sample(33)
    assert torch.allclose(cams.c2w.to(F64), expect, atol=1e-5)
    assert torch.allclose(cams.fx, torch.full((33,), 40.0 / math.tan(math.radians(30))))
    assert (cams.width, cams.height) == (80, 60)
    cams, _ = load_path_file(f, ref, n_frames=7)
    assert len(cams) == 7 and torch.allclose(cams.c2w[-1].to(F64), keys[-1], atol=1e-5)


def test_nerfstudio_file_round_trip(tmp_path):
    cams = orbit(_sphere_rig(), 9, resolution=(64, 48))
    f = tmp_path / "camera_path.json"
    save_nerfstudio_path(f, cams, fps=24)
    back, fps = load_path_file(f, _ring_rig())
    assert fps == 24 and len(back) == 9 and (back.width, back.height) == (64, 48)
    assert torch.allclose(back.c2w, cams.c2w, atol=1e-5)
    assert torch.allclose(back.fy, cams.fy, rtol=1e-5) and torch.allclose(back.cx, cams.cx)
    # A different frame count resamples along the path, keeping the entries at their times.
    more, _ = load_path_file(f, _ring_rig(), n_frames=17)
    assert torch.allclose(more.c2w[::2], cams.c2w, atol=1e-5)


def test_nerfstudio_file_as_written_by_its_viewer(tmp_path):
    c2w = torch.eye(4, dtype=F64)
    c2w[:3, :3] = _rotation([0, 1, 0], 0.3)
    c2w[:3, 3] = torch.tensor([0.1, 0.2, 3.0])
    doc = {"camera_type": "perspective", "render_height": 48, "render_width": 64, "seconds": 2.0,
           "camera_path": [{"camera_to_world": c2w.reshape(-1).tolist(), "fov": 50.0, "aspect": 4 / 3}] * 4}
    f = tmp_path / "camera_path.json"
    f.write_text(json.dumps(doc))
    cams, fps = load_path_file(f, _ring_rig())
    assert fps == 2.0 and len(cams) == 4
    assert torch.allclose(cams.c2w[0].to(F64), c2w[:3], atol=1e-6)
    assert torch.allclose(cams.fy, torch.full((4,), 24.0 / math.tan(math.radians(25))))
    assert torch.allclose(cams.fx, cams.fy) and float(cams.cx[0]) == 32.0 and float(cams.cy[0]) == 24.0


def _good_keyframe_doc():
    return {"format": "nerf_ff-keyframes-v1", "fps": 30, "frames": 10,
            "keyframes": [{"c2w": torch.eye(4).tolist()}, {"c2w": torch.eye(4)[:3].tolist()}]}


def _bad_docs():
    eye = torch.eye(4).tolist()
    scaled = (2 * torch.eye(4)).tolist()
    scaled[3][3] = 1.0
    ns = {"render_width": 64, "render_height": 48, "fps": 30,
          "camera_path": [{"camera_to_world": torch.eye(4).reshape(-1).tolist(), "fov": 50}]}
    docs = {
        "not json": "{ this is not json",
        "a list": "[1, 2, 3]",
        "unknown format": json.dumps({"format": "something-else", "keyframes": []}),
        "no keyframes": json.dumps({"format": "nerf_ff-keyframes-v1", "frames": 10}),
        "empty keyframes": json.dumps({**_good_keyframe_doc(), "keyframes": []}),
        "no frames or times": json.dumps({k: v for k, v in _good_keyframe_doc().items() if k != "frames"}),
        "NaN": json.dumps(_good_keyframe_doc()).replace("0.0", "NaN", 1),
        "non-rigid": json.dumps({**_good_keyframe_doc(), "keyframes": [{"c2w": scaled}]}),
        "mirror": json.dumps({**_good_keyframe_doc(),
                              "keyframes": [{"c2w": [[-1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]]}]}),
        "bad bottom row": json.dumps({**_good_keyframe_doc(), "keyframes": [{"c2w": eye[:3] + [[0, 0, 1, 1]]}]}),
        "bad shape": json.dumps({**_good_keyframe_doc(), "keyframes": [{"c2w": [[1, 0], [0, 1]]}]}),
        "ragged": json.dumps({**_good_keyframe_doc(), "keyframes": [{"c2w": [[1, 0, 0], [0, 1]]}]}),
        "strings": json.dumps({**_good_keyframe_doc(), "keyframes": [{"c2w": "identity"}]}),
        "some times": json.dumps({**_good_keyframe_doc(), "keyframes": [{"c2w": eye, "time": 0}, {"c2w": eye}]}),
        "times decrease": json.dumps({**_good_keyframe_doc(),
                                      "keyframes": [{"c2w": eye, "time": 1}, {"c2w": eye, "time": 0}]}),
        "bad fov": json.dumps({**_good_keyframe_doc(), "fov_x_deg": 200}),
        "bad frames": json.dumps({**_good_keyframe_doc(), "frames": -3}),
        "ns no width": json.dumps({k: v for k, v in ns.items() if k != "render_width"}),
        "ns no fov": json.dumps({**ns, "camera_path": [{"camera_to_world": ns["camera_path"][0]["camera_to_world"]}]}),
        "ns 12 numbers": json.dumps({**ns, "camera_path": [{"camera_to_world": [0.0] * 12, "fov": 50}]}),
        "ns fisheye": json.dumps({**ns, "camera_type": "fisheye"}),
        "ns infinity": json.dumps(ns).replace("1.0", "Infinity", 1),
    }
    return docs


@pytest.mark.parametrize("name", list(_bad_docs()))
def test_bad_path_files_are_one_line_user_errors(tmp_path, name):
    f = tmp_path / "bad.json"
    f.write_text(_bad_docs()[name])
    with pytest.raises(UserError) as err:
        load_path_file(f, _ring_rig())
    assert "\n" not in str(err.value) and str(err.value)


def test_good_keyframe_doc_loads(tmp_path):
    # The base of the bad documents above is itself valid, so each bad case breaks exactly one thing.
    f = tmp_path / "good.json"
    f.write_text(json.dumps(_good_keyframe_doc()))
    cams, fps = load_path_file(f, _ring_rig())
    assert len(cams) == 10 and fps == 30


def test_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError):
        load_path_file(tmp_path / "nope.json", _ring_rig())
