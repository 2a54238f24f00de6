"""Pixel masks (nerfstudio's per-frame mask_path): loaded and downscaled conservatively, never trained
on, not scored. The scene is the generated outdoor ring with passers-by painted into the training views."""

import copy
import json
import math
import shutil

import numpy as np
import pytest
import torch
from conftest import tiny_trainer
from PIL import Image

from nerf_ff.config import SceneConfig
from nerf_ff.data import load_scene
from nerf_ff.data.outdoor import add_transients, render_outdoor, ring_cameras, write_outdoor_scene
from nerf_ff.errors import UserError
from nerf_ff.evaluate import composite_gt, evaluate
from nerf_ff.metrics import psnr
from nerf_ff.render import eval_background, render_image
from nerf_ff.sigma_search import validation_psnr
from nerf_ff.trainer import Trainer

N, W, H = 16, 32, 24


@pytest.fixture(scope="module")
def busy(tmp_path_factory):
    root = tmp_path_factory.mktemp("transients")
    images, masks = add_transients(render_outdoor(ring_cameras(N, W, H), supersample=1))
    return write_outdoor_scene(root / "ngp", "ngp", N, W, H, images=images, masks=masks), images, masks


def _index(name: str) -> int:
    return int(name.split("_")[-1].split(".")[0])


def test_masks_load_and_downscale_conservatively(busy):
    root, images, masks = busy
    scene = load_scene(SceneConfig(name="t", path=str(root)))
    train = scene.train
    assert train.masks is not None and train.masks.dtype == torch.bool
    for k, name in enumerate(train.names):
        assert torch.equal(train.masks[k], masks[_index(name)])
    assert scene.test.masks is None  # the held-out views have no mask_path: every pixel is scored
    assert 0.05 < 1 - float(train.masks.float().mean()) < 0.3
    assert "14 frames with mask_path" in scene.describe(0.0)
    half = load_scene(SceneConfig(name="t", path=str(root), downscale=2)).train
    for k, name in enumerate(half.names):
        m = masks[_index(name)]
        expect = m.view(H // 2, 2, W // 2, 2).all(3).all(1)  # used only if all four pixels are
        assert torch.equal(half.masks[k], expect)


def test_bad_masks_are_one_line_errors(busy, tmp_path):
    root, _, _ = busy
    doc = json.loads((root / "transforms.json").read_text())
    for case, edit in [("size", lambda d: Image.new("L", (W + 1, H), 255).save(tmp_path / case / "masks" / "view_001.png")),
                       ("missing", lambda d: (tmp_path / case / "masks" / "view_001.png").unlink()),
                       ("outside", lambda d: d["frames"][1].update(mask_path="../elsewhere.png")),
                       ("empty", lambda d: [(f.update(mask_path="masks/view_001.png"),
                                             Image.new("L", (W, H), 0).save(tmp_path / "empty" / "masks" / "view_001.png"))
                                            for f in d["frames"]])]:
        folder = tmp_path / case
        shutil.copytree(root, folder)
        d = copy.deepcopy(doc)
        edit(d)
        (folder / "transforms.json").write_text(json.dumps(d))
        with pytest.raises(UserError) as exc:
            load_scene(SceneConfig(name="t", path=str(folder)))
        msg = str(exc.value)
        assert "\n" not in msg and ("mask" in msg.lower() or "view_001" in msg), (case, msg)
        assert "file_path" not in msg, (case, msg)  # the key at fault is mask_path


def _trainer(root, tmp_path) -> Trainer:
    return tiny_trainer(root, tmp_path / "run", "busy")


def test_training_never_draws_masked_pixels(busy, tmp_path):
    root, _, _ = busy
    trainer = _trainer(root, tmp_path)
    sentinel = torch.tensor([255, 0, 255], dtype=torch.uint8)
    masked = ~trainer.masks.view(trainer.images.shape[:3])
    trainer.images[masked] = sentinel  # any masked pixel drawn would show this colour in the targets
    drawn, asked = 0, 0
    for _ in range(20):
        _, _, target, _ = trainer.sample_batch(2048)
        assert not bool((target[:, :3] == torch.tensor([1.0, 0.0, 1.0])).all(-1).any())
        drawn, asked = drawn + len(target), asked + 2048
    assert abs(drawn / asked - 1) < 0.02  # more are drawn, so the batch keeps its size on average


def test_evaluation_scores_only_unmasked_pixels(busy, tmp_path):
    root, _, _ = busy
    trainer = _trainer(root, tmp_path)
    trainer.fit()
    scene = trainer.scene
    test = scene.test
    # Held-out views with a garbage block that their masks exclude: the score is that of the other pixels.
    garbage = test.images.clone()
    garbage[:, 2:12, 4:20] = torch.tensor([255, 0, 255], dtype=torch.uint8)
    used = torch.ones(garbage.shape[:3], dtype=torch.bool)
    used[:, 2:12, 4:20] = False
    test.images, test.masks = garbage, used
    metrics = evaluate(tmp_path / "run", scene, trainer.cfg, trainer.model.eval(), trainer.state(), progress=False)
    model = trainer.model
    bg = eval_background(model.field, scene.background, opaque=True)
    for row in metrics["per_view"]:
        pred = render_image(model.field, model.sampler, test.cameras, row["view"], bg, chunk=1024)["rgb"]
        gt = composite_gt(garbage[row["view"]], scene.background)
        assert math.isclose(row["psnr"], psnr(pred[used[row["view"]]][None], gt[used[row["view"]]][None]), rel_tol=1e-5)
        assert row["psnr"] > psnr(pred, gt) + 3  # scored on everything, the garbage would dominate
    assert "not scored" in metrics["mask_note"]
    assert np.isfinite(metrics["ssim"])
    # the sigma search's validation score skips them alike
    assert math.isclose(validation_psnr(trainer, test, scene.background, len(test), 1024), metrics["psnr"], rel_tol=1e-5)
