"""Scenes whose images differ in size (several cameras; portrait and landscape shots): each image keeps
its own camera and pixels, on a shared canvas the loaders mask. The scene is the generated outdoor ring
with every third view a portrait camera, written as instant-ngp (per-frame intrinsics) and COLMAP (two
cameras) folders."""

import math
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from conftest import tiny_trainer

from nerf_ff.config import SceneConfig
from nerf_ff.data import load_scene
from nerf_ff.data.cameras import image_rays, pixel_rays
from nerf_ff.data.outdoor import ring_cameras, with_portraits, write_outdoor_scene
from nerf_ff.evaluate import composite_gt, evaluate
from nerf_ff.metrics import psnr
from nerf_ff.render import eval_background, render_image
from nerf_ff.trainer import Trainer
from nerf_ff.trainlog import TrainLog
from nerf_ff.video import camera_path

N, W, H, EVERY = 16, 32, 24, 3


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    root = tmp_path_factory.mktemp("sizes")
    return {layout: write_outdoor_scene(root / layout, layout, N, W, H, portrait_every=EVERY)
            for layout in ("ngp", "colmap")}


def _index(name: str) -> int:
    return int(name.split("_")[-1].split(".")[0])


@pytest.mark.parametrize("layout", ["ngp", "colmap"])
@pytest.mark.parametrize("downscale", [1, 2])
def test_each_image_loads_with_its_own_camera(mixed, layout, downscale):
    scene = load_scene(SceneConfig(name="m", path=str(mixed[layout]), downscale=downscale))
    truth = with_portraits(ring_cameras(N, W, H), EVERY)
    assert "images of 2 sizes" in scene.describe(0.0)
    for split in scene.splits.values():
        cams = split.cameras
        own = [truth.size(_index(n)) for n in split.names]  # the canvas: the largest width and height
        assert (cams.width, cams.height) == (max(w for w, _ in own) // downscale, max(h for _, h in own) // downscale)
        for k, name in enumerate(split.names):
            j = _index(name)
            w, h = (v // downscale for v in truth.size(j))
            assert cams.size(k) == (w, h)
            # its pixels at its own size, nothing of it cut off; the canvas beyond it is never used
            image, mask = split.view(k)
            assert image.shape[:2] == (h, w) and bool(mask.all())
            assert not bool(split.masks[k, h:].any()) and not bool(split.masks[k, :, w:].any())
            if downscale == 1:
                assert np.array_equal(image.numpy(), iio.imread(mixed[layout] / "images" / Path(name).name))
            # the rays of its pixels are the true camera's (intrinsics scaled by its own ratio)
            o, d = image_rays(cams, k)
            ii, jj = torch.meshgrid(torch.arange(w) * downscale + (downscale - 1) / 2,
                                    torch.arange(h) * downscale + (downscale - 1) / 2, indexing="xy")
            o2, d2 = pixel_rays(truth, torch.full((w * h,), j), ii.reshape(-1), jj.reshape(-1))
            assert torch.allclose(o, o2, atol=1e-5) and torch.allclose(d, d2, atol=1e-5)
    if layout == "colmap":  # SfM keypoints of both cameras land where their points project
        assert scene.train.keypoints is not None and "0." in scene.meta["keypoints"]
        portrait = [k for k, n in enumerate(scene.train.names) if truth.size(_index(n)) == (H, W)]
        kp = scene.train.keypoints
        assert bool(torch.isin(kp[:, 0].long(), torch.tensor(portrait)).any())
        own = scene.train.cameras.all_sizes()[kp[:, 0].long()]  # each within its own image
        assert bool((kp[:, 1:3] <= own + 1).all())  # (+ the keypoints' noise)


def test_on_canvas_centres_each_image():
    cams = with_portraits(ring_cameras(4, W, H), EVERY)  # camera 0 is a portrait
    canvas = cams.on_canvas()
    assert canvas.sizes is None and (canvas.width, canvas.height) == (W, W)
    alone = cams.alone(0)  # by itself: its own size, the same rays
    assert (alone.width, alone.height, alone.sizes) == (H, W, None)
    assert torch.equal(image_rays(alone, 0)[1], image_rays(cams, 0)[1])
    w, h = cams.size(0)
    ii, jj = torch.meshgrid(torch.arange(w), torch.arange(h), indexing="xy")
    one = torch.zeros(w * h, dtype=torch.long)
    own = pixel_rays(cams, one, ii.reshape(-1), jj.reshape(-1))[1]
    moved = pixel_rays(canvas, one, ii.reshape(-1) + (W - w) // 2, jj.reshape(-1) + (W - h) // 2)[1]
    assert torch.allclose(own, moved, atol=1e-6)


def _trainer(root, tmp_path) -> Trainer:
    return tiny_trainer(root, tmp_path / "run", "mixed")


def test_training_and_scoring_use_only_each_images_own_pixels(mixed, tmp_path):
    trainer = _trainer(mixed["ngp"], tmp_path)
    sentinel = torch.tensor([255, 0, 255], dtype=torch.uint8)
    outside = ~trainer.scene.train.on_image()
    assert bool(outside.any())
    saved = trainer.images.clone()
    trainer.images[outside] = sentinel  # a canvas pixel beyond an image, drawn, would show this colour
    for _ in range(10):
        _, _, target, _ = trainer.sample_batch(2048)
        assert not bool((target[:, :3] == torch.tensor([1.0, 0.0, 1.0])).all(-1).any())
    trainer.images.copy_(saved)
    trainer.fit()
    scene, model = trainer.scene, trainer.model.eval()
    metrics = evaluate(tmp_path / "run", scene, trainer.cfg, model, trainer.state(), progress=False)
    bg = eval_background(model.field, scene.background, opaque=True)
    test = scene.test
    for row in metrics["per_view"]:
        k = row["view"]
        w, h = test.cameras.size(k)
        pred = render_image(model.field, model.sampler, test.cameras, k, bg, chunk=1024)["rgb"]
        assert pred.shape == (h, w, 3)
        assert iio.imread(tmp_path / "run" / "eval" / f"{k:03d}.png").shape == (h, w, 3)
        gt = composite_gt(test.view(k)[0], scene.background)
        assert math.isclose(row["psnr"], psnr(pred, gt), rel_tol=1e-5)
    assert {test.cameras.size(k) for k in range(len(test))} == {(W, H), (H, W)}
    # the training preview (held-out view 0, a portrait) renders that view as the evaluation does
    preview = trainer._preview(TrainLog(tmp_path / "run"))
    assert math.isclose(preview, metrics["per_view"][0]["psnr"], rel_tol=1e-4)
    # a video of the held-out cameras: every frame the canvas, each view centred on it; novel paths take
    # camera 0's own image
    cams, _, _ = camera_path(scene, "test")
    assert cams.sizes is None and (cams.width, cams.height) == (W, W)
    orbit, _, _ = camera_path(scene, "orbit", 4)
    assert (orbit.width, orbit.height) == scene.train.cameras.size(0)


def test_the_automatic_resolution_sees_the_largest_image(mixed, tmp_path):
    """`nerf-ff train` picks scene.downscale from the longest image side (data.full_size) before decoding:
    with frames of several sizes, the largest one's, wherever it is listed."""
    import json
    import shutil

    from nerf_ff.data import full_size

    folder = tmp_path / "ngp"
    shutil.copytree(mixed["ngp"], folder)
    doc = json.loads((folder / "transforms.json").read_text())
    doc["frames"][5].update(w=4 * W, h=4 * H)  # read from w / h only: the image itself is not decoded
    (folder / "transforms.json").write_text(json.dumps(doc))
    assert full_size(SceneConfig(name="n", path=str(folder))) == (4 * W, 4 * H)
    assert max(full_size(SceneConfig(name="c", path=str(mixed["colmap"])))) == W
