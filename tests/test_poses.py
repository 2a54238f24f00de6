"""Camera pose refinement (poses.py): corrected rays are the rays of the corrected cameras, the gauge
motion carries the held-out cameras along, and the corrections train, save, resume and evaluate."""

import copy
import dataclasses
import math

import pytest
import torch
from conftest import TINY_RUN

from nerf_ff.config import RunConfig
from nerf_ff.data import load_scene
from nerf_ff.data.cameras import Cameras, lens, look_at, pixel_rays
from nerf_ff.data.outdoor import perturb_poses, render_outdoor, ring_cameras, write_outdoor_scene
from nerf_ff.errors import UserError
from nerf_ff.evaluate import evaluate, load_run
from nerf_ff.poses import PoseRefinement, _log_rotations, _rotations, common_motion, move_cameras, posed
from nerf_ff.trainer import Trainer


def _cameras(n=6, fisheye=False):
    gen = torch.Generator().manual_seed(1)
    c2w = torch.stack([look_at(torch.randn(3, generator=gen) * 3, torch.zeros(3), torch.tensor([0.0, 0, 1]))
                       for _ in range(n)])
    f = torch.full((n,), 40.0)
    row = lens(0.05, 0.01, fisheye=True) if fisheye else lens(0.1, -0.02, 0.001, -0.002)
    return Cameras(c2w, f, f.clone(), torch.full((n,), 32.0), torch.full((n,), 24.0), 64, 48,
                   torch.tensor([row] * n))


def _random_refinement(n, scale=0.05, box=2.0):
    poses = PoseRefinement(n, box)
    with torch.no_grad():
        poses.delta.copy_(torch.randn(n, 6, generator=torch.Generator().manual_seed(2)) * scale)
    return poses


@pytest.mark.parametrize("fisheye", [False, True])
def test_corrected_rays_are_the_rays_of_the_corrected_cameras(fisheye):
    cams = _cameras(fisheye=fisheye)
    poses = _random_refinement(len(cams))
    gen = torch.Generator().manual_seed(3)
    img = torch.randint(0, len(cams), (500,), generator=gen)
    px, py = torch.randint(0, 64, (500,), generator=gen), torch.randint(0, 48, (500,), generator=gen)
    o, d = poses.rays(cams.c2w, img, *pixel_rays(cams, img, px, py))
    moved = dataclasses.replace(cams, c2w=poses.refined_c2w(cams.c2w).detach())
    o_ref, d_ref = pixel_rays(moved, img, px, py)
    assert torch.allclose(o, o_ref, atol=1e-5) and torch.allclose(d, d_ref, atol=1e-5)
    assert float((d.detach() - pixel_rays(cams, img, px, py)[1]).norm(dim=-1).max()) > 1e-2  # it did move them
    # and the gradient reaches every camera whose rays were used
    (o.sum() + d.sum()).backward()
    assert bool((poses.delta.grad.abs().sum(-1) > 0).all())


def test_zero_corrections_change_nothing():
    cams = _cameras()
    poses = PoseRefinement(len(cams), 2.0)
    img = torch.arange(len(cams)).repeat_interleave(10)
    o, d = pixel_rays(cams, img, torch.full_like(img, 5), torch.full_like(img, 7))
    o2, d2 = poses.rays(cams.c2w, img, o, d)
    assert torch.equal(o, o2) and torch.allclose(d, d2, atol=1e-7)
    R, t, s = common_motion(cams.c2w, poses.refined_c2w(cams.c2w).detach(), 2.0)
    assert torch.allclose(R, torch.eye(3), atol=1e-6) and float(t.norm()) < 1e-5 and abs(float(s) - 1) < 1e-6


def test_rotation_log_inverts_exp():
    axes = torch.nn.functional.normalize(torch.randn(50, 3, generator=torch.Generator().manual_seed(4)), dim=-1)
    omega = axes * torch.logspace(-6, 0.45, 50)[:, None]  # angles from 1e-6 to 2.8 radians
    assert torch.allclose(_log_rotations(_rotations(omega)), omega, atol=1e-6, rtol=1e-4)


def test_fix_gauge_removes_what_all_cameras_share_and_keeps_their_own_errors():
    cams = _cameras(8)
    box = 2.0
    own = perturb_poses(cams.c2w, 1.5, 0.05, every=100)  # each camera's own error (camera 0 exact)
    R, t, s = common_motion(cams.c2w, own, box)
    own = move_cameras(own, R.T, -(R.T @ t) / s, 1 / s)  # nothing shared left in them
    Rg = _rotations(torch.tensor([[0.2, 0.05, -0.1]]))[0]
    target = move_cameras(own, Rg, torch.tensor([0.2, -0.3, 0.1]), torch.tensor(0.9))  # + a common drift
    poses = PoseRefinement(len(cams), box)
    with torch.no_grad():
        Rc = cams.c2w[:, :, :3]
        poses.delta[:, :3] = _log_rotations(Rc.transpose(1, 2) @ target[:, :, :3])
        poses.delta[:, 3:] = (Rc.transpose(1, 2) @ (target[:, :, 3:] - cams.c2w[:, :, 3:]))[..., 0] / box
    assert torch.allclose(poses.refined_c2w(cams.c2w), target, atol=1e-5)
    poses.fix_gauge(cams.c2w)
    assert torch.allclose(poses.refined_c2w(cams.c2w), own, atol=1e-4)


def test_posed_moves_held_out_views_by_the_common_motion(tmp_path):
    cams = _cameras(8)
    Rg = _rotations(torch.tensor([[0.1, -0.2, 0.05]]))[0]
    tg = torch.tensor([0.3, 0.1, -0.2])
    moved = move_cameras(cams.c2w, Rg, tg, torch.tensor(1.3))
    R, t, s = common_motion(cams.c2w, moved, 2.0)
    assert torch.allclose(R, Rg, atol=1e-5) and torch.allclose(t, tg, atol=1e-5) and abs(float(s) - 1.3) < 1e-5

    # a scene whose training cameras all moved by that similarity (corrections in each camera's frame)
    n, w, h = 16, 32, 24
    root = write_outdoor_scene(tmp_path / "ngp", "ngp", n, w, h, images=render_outdoor(ring_cameras(n, w, h), supersample=1))
    scene = load_scene(RunConfig.from_dict({"scene": {"name": "s", "path": str(root)}}).scene)
    train = scene.train.cameras
    poses = PoseRefinement(len(train), 2.0)
    target = move_cameras(train.c2w, Rg, tg, torch.tensor(1.3))
    with torch.no_grad():
        Rc = train.c2w[:, :, :3]
        poses.delta[:, :3] = _log_rotations(Rc.transpose(1, 2) @ target[:, :, :3])
        poses.delta[:, 3:] = (Rc.transpose(1, 2) @ (target[:, :, 3:] - train.c2w[:, :, 3:]))[..., 0] / 2.0
    out = posed(scene, poses)
    assert torch.allclose(out.train.cameras.c2w, target, atol=1e-4)
    assert torch.allclose(out.test.cameras.c2w, move_cameras(scene.test.cameras.c2w, Rg, tg, torch.tensor(1.3)), atol=1e-4)
    info = out.meta["pose_refinement"]
    assert math.isclose(info["gauge_rotation_deg"], math.degrees(math.sqrt(0.1 ** 2 + 0.2 ** 2 + 0.05 ** 2)), rel_tol=0.05)
    assert scene.test.cameras.c2w is not out.test.cameras.c2w and "pose_refinement" not in scene.meta  # a copy
    assert posed(out, poses) is out  # applying it twice would move the cameras twice
    with pytest.raises(UserError, match="training camera poses"):
        posed(dataclasses.replace(scene, splits={**scene.splits, "train": scene.train.subset([0, 1])}), poses)


def _noisy_run_config(root):
    cfg = copy.deepcopy(TINY_RUN)
    cfg["scene"] = {"name": "noisy", "path": str(root)}
    cfg["train"].update(pose_refine=True, steps=40, checkpoint_every=20)
    return RunConfig.from_dict(cfg).validate()


def test_refined_poses_train_resume_and_evaluate(tmp_path):
    n, w, h = 16, 32, 24
    root = write_outdoor_scene(tmp_path / "ngp", "ngp", n, w, h, images=render_outdoor(ring_cameras(n, w, h), supersample=1),
                               pose_noise=(2.0, 0.05))
    cfg = _noisy_run_config(root)
    scene = load_scene(cfg.scene)
    trainer = Trainer(cfg, scene, tmp_path / "run", progress=False)
    group = trainer.optimizer.param_groups[-1]
    assert group["params"][0] is trainer.model.poses.delta and group["weight_decay"] == 0.0
    trainer.fit()
    field_lr = trainer.optimizer.param_groups[0]["lr"]
    assert math.isclose(group["lr"], field_lr * cfg.train.pose_lr / cfg.train.lr, rel_tol=1e-6) and field_lr < cfg.train.lr
    delta = trainer.model.poses.delta.detach().clone()
    assert float(delta.abs().max()) > 1e-4  # the corrections were trained
    # resume restores them exactly
    again = Trainer(cfg, scene, tmp_path / "run", progress=False)
    again.resume()
    assert torch.equal(again.model.poses.delta.detach(), delta)
    # the saved run evaluates with the refined cameras and says how far they moved
    from nerf_ff.config import dump_yaml  # noqa: PLC0415

    dump_yaml(cfg, tmp_path / "run" / "config.yaml")
    cfg2, model, state = load_run(tmp_path / "run")
    assert torch.equal(model.poses.delta.detach(), delta)
    metrics = evaluate(tmp_path / "run", scene, cfg2, model, state, progress=False)
    info = metrics["pose_refinement"]
    assert info["cameras"] == len(scene.train) and info["rotation_deg_mean"] > 0
    assert "pose_refinement" not in scene.meta  # the caller's scene is untouched
    header = (tmp_path / "run" / "log.csv").read_text().splitlines()
    assert "pose_rot_deg" in header[0] and header[-1].split(",")[-2] != ""


def test_poses_wait_for_pose_start(tmp_path):
    n, w, h = 8, 24, 16
    root = write_outdoor_scene(tmp_path / "ngp", "ngp", n, w, h, images=render_outdoor(ring_cameras(n, w, h), supersample=1),
                               pose_noise=(2.0, 0.05))
    cfg = _noisy_run_config(root)
    cfg.train.pose_start = 0.5
    trainer = Trainer(cfg, load_scene(cfg.scene), tmp_path / "run", progress=False)
    for _ in range(20):  # progress 0 .. 19/40: the field trains at the given poses
        trainer.train_step()
    assert float(trainer.model.poses.delta.detach().abs().max()) == 0.0
    for _ in range(3):
        trainer.train_step()
    assert float(trainer.model.poses.delta.detach().abs().max()) > 0.0


@pytest.mark.parametrize("key,value", [("pose_lr", 0), ("pose_start", 1.0), ("pose_start", -0.1)])
def test_pose_settings_are_checked(key, value):
    cfg = copy.deepcopy(TINY_RUN)
    cfg["train"][key] = value
    with pytest.raises(UserError, match=key):
        RunConfig.from_dict(cfg).validate()
