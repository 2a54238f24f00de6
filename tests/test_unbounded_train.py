"""A short CPU run on the generated unbounded scene (objects on an endless ground under a far sky,
opaque photos, a ring of cameras) with the automatic CPU defaults: it learns where things are, not
fog in front of the cameras, and beats a flat colour by a clear margin on held-out views."""

import pytest
import torch

from nerf_ff import autoconfig
from nerf_ff.config import RunConfig, apply_overrides
from nerf_ff.data import load_scene
from nerf_ff.data.cameras import image_rays
from nerf_ff.data.outdoor import render_outdoor, ring_cameras, trace_outdoor, write_outdoor_scene
from nerf_ff.metrics import psnr
from nerf_ff.render import eval_background, render_image
from nerf_ff.trainer import Trainer

W, H, VIEWS = 48, 36, 24


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("outdoor_train")
    write_outdoor_scene(root / "ngp", "ngp", VIEWS, W, H, images=render_outdoor(ring_cameras(VIEWS, W, H), supersample=2))
    cfg = RunConfig.from_dict({"scene": {"name": "outdoor", "path": str(root / "ngp")}})
    scene = load_scene(cfg.scene)
    layer, _ = autoconfig.auto_layer(torch.device("cpu"), scene.kind)
    cfg = apply_overrides(cfg, layer, "auto")
    cfg.model.sigma = autoconfig.auto_sigma(scene)[0]
    cfg.train.steps, cfg.train.time_budget, cfg.train.device, cfg.train.seed = 900, None, "cpu", 0
    cfg.eval.lpips_net = "none"
    torch.manual_seed(0)
    trainer = Trainer(cfg.validate(), scene, root / "run", progress=False)
    trainer.fit()
    return scene, trainer.model.eval()


def test_learns_depth_not_fog_and_beats_a_flat_colour(trained):
    scene, model = trained
    test = scene.test
    bg = eval_background(model.field, scene.background, opaque=True)
    gains, errors, ratios = [], [], []
    for i in range(len(test)):
        out = render_image(model.field, model.sampler, test.cameras, i, bg, chunk=4096)
        gt = test.images[i].float() / 255
        flat = gt.reshape(-1, 3).mean(0).expand_as(gt)
        gains.append(psnr(out["rgb"], gt) - psnr(flat, gt))
        o, d = image_rays(test.cameras, i)
        _, t = trace_outdoor(o, d)
        near = (t < 4).view(H, W)  # the objects and the ground under them (the ring has radius 3.2)
        ratio = out["depth"][near] / t.view(H, W)[near].float()
        ratios.append(float(ratio.median()))
        errors.append(float((ratio - 1).abs().median()))
        assert float(out["opacity"].mean()) > 0.95  # opaque photos: every ray ends on something
    assert min(gains) > 6.0, gains  # dB above the best flat colour of each view
    # Depth of the near scene: right on the median (fog in front of the cameras would put it at a
    # fraction of the true depth), within 30% for most pixels after this short a run.
    assert all(0.85 < r < 1.15 for r in ratios), ratios
    assert max(errors) < 0.3, errors
