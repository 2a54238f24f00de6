"""The web viewer (issue #15): camera conventions, progressive rendering, pause / resume of a training
run, camera paths that `nerf-ff render` renders to the preview's frames, and a real headless
Chromium showing the scene."""

import io
import json
import threading
import time

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from conftest import TINY_RUN

from nerf_ff.config import RunConfig
from nerf_ff.data import load_scene
from nerf_ff.evaluate import load_run
from nerf_ff.render import render_image
from nerf_ff.trainer import Gate, Trainer
from nerf_ff.viewer.camera import c2w_to_viser, camera, fov_y, viser_to_c2w
from nerf_ff.viewer.render_loop import ClientView, Renderer


def test_camera_conventions_round_trip_and_render_the_same_view(tiny_run):
    cfg, model, _ = load_run(tiny_run)
    scene = load_scene(cfg.scene, splits=("train",))
    cams = scene.train.cameras
    for i in range(len(cams)):
        wxyz, pos = c2w_to_viser(cams.c2w[i].double().numpy())
        assert np.allclose(viser_to_c2w(wxyz, pos), cams.c2w[i].double().numpy(), atol=1e-6)
    # A browser camera built from training camera 3 sees what that camera sees.
    wxyz, pos = c2w_to_viser(cams.c2w[3].double().numpy())
    browser = camera(wxyz, pos, fov_y(cams, 3), cams.width / cams.height, cams.height)
    assert torch.allclose(browser.fx, cams.fx[3:4]) and browser.width == cams.width
    bg = scene.background
    a = render_image(model.field, model.sampler, browser, 0, bg)["rgb"]
    b = render_image(model.field, model.sampler, cams, 3, bg)["rgb"]
    assert (a - b).abs().max() < 1e-4


def test_progressive_preview_then_full_and_a_move_cancels(tiny_run):
    cfg, model, _ = load_run(tiny_run)
    scene = load_scene(cfg.scene, splits=("train",))
    sent = []
    renderer = Renderer(model, scene.background, disparity=False, chunk=256)
    view = ClientView(renderer, lambda img, full: sent.append((img.shape[:2], full)), preview_side=16, full_side=48,
                      rest_s=0.3)
    try:
        cams = scene.train.cameras
        wxyz, pos = c2w_to_viser(cams.c2w[0].double().numpy())
        view.update(wxyz, pos, fov_y(cams), 1.5, 400)  # a 600x400 canvas
        deadline = time.time() + 30
        while not any(full for _, full in sent) and time.time() < deadline:
            time.sleep(0.02)
        assert sent[0] == ((11, 16), False)  # the preview first: longest side 16, the canvas' aspect
        assert sent[-1] == ((32, 48), True)  # then the full size
        assert view.timings[0]["seconds"] < view.timings[-1]["seconds"]
        # The output toggle re-renders the resting view.
        view.output = "depth"
        n = len(sent)
        view.refresh()
        while len(sent) == n and time.time() < deadline:
            time.sleep(0.02)
        assert sent[-1][1]
    finally:
        view.close()


def test_pause_and_resume_lose_nothing(tmp_path):
    d = json.loads(json.dumps(TINY_RUN))
    d["train"]["steps"] = 20
    cfg = RunConfig.from_dict(d).validate()
    scene = load_scene(cfg.scene)
    plain = Trainer(cfg, scene, tmp_path / "plain", progress=False)
    plain.fit()
    gated = Trainer(cfg, scene, tmp_path / "gated", progress=False)
    gated.gate = Gate()
    gated.gate.pause()
    thread = threading.Thread(target=gated.fit)
    thread.start()
    time.sleep(1.0)
    assert gated.step == 0 and thread.is_alive()  # paused before the first step
    gated.gate.resume()
    thread.join(60)
    assert gated.step == 20
    for a, b in zip(plain.model.parameters(), gated.model.parameters()):
        assert torch.equal(a, b)  # the same steps, bit for bit


@pytest.fixture()
def viewer(tiny_run):
    pytest.importorskip("viser", reason="the viewer is an optional extra (pip install -e .[viewer])")
    from browser import free_port

    from nerf_ff.viewer import open_run

    v = open_run(tiny_run, port=free_port(), full_side=96)
    yield v
    v.close()


def test_saved_camera_path_renders_to_the_previewed_frames(viewer, tiny_run, tmp_path):
    from nerf_ff.cli import main

    cams = viewer.scene.train.cameras
    for i in (0, 4, 8):
        wxyz, pos = c2w_to_viser(cams.c2w[i].double().numpy())
        viewer.add_keyframe(wxyz, pos, fov_y(cams), cams.width / cams.height)
    viewer.frames.value = 6
    path = tmp_path / "path.json"
    frames = viewer.preview_path(path=str(path))
    assert len(frames) == 6 and json.loads(path.read_text())["frames"] == 6
    assert main(["render", str(tiny_run), "--path", str(path), "--out", str(tmp_path / "frames"), "--quiet"]) == 0
    rendered = sorted((tmp_path / "frames").glob("rgb_*.png"))
    assert len(rendered) == 6
    for a, b in zip(frames, rendered):
        diff = np.abs(a.astype(int) - iio.imread(b)[..., :3].astype(int))
        assert diff.max() <= 1, diff.max()  # the same frames (rounding aside)


def test_headless_chromium_shows_the_scene(viewer):
    from browser import Browser, chromium_path

    if chromium_path() is None:
        pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium)")
    browser = Browser()
    try:
        browser.goto(viewer.url)
        deadline = time.time() + 60
        while time.time() < deadline:
            views = list(viewer.clients.values())
            if views and any(t["full"] for t in views[0].timings):
                break
            time.sleep(0.2)
        assert views and any(t["full"] for t in views[0].timings), "the browser never got a full image"
        time.sleep(1.5)  # let the browser draw it
        shot = iio.imread(io.BytesIO(browser.screenshot()))[..., :3]
    finally:
        browser.close()
    # The scene fills the canvas behind the panel: the left half is the rendered view, not a blank page.
    left = shot[:, : shot.shape[1] // 2].reshape(-1, 3)
    colours = np.unique(left // 8, axis=0)
    assert len(colours) > 30 and left.std(0).mean() > 10, (len(colours), left.std(0))


def test_viewer_follows_a_training_run_and_pauses_it(tmp_path):
    """...and shows the training cameras where train.pose_refine has moved them."""
    pytest.importorskip("viser", reason="the viewer is an optional extra (pip install -e .[viewer])")
    from browser import free_port

    from nerf_ff.viewer.server import Viewer

    d = json.loads(json.dumps(TINY_RUN))
    d["train"].update(steps=400, log_every=5, pose_refine=True, pose_start=0.0, pose_lr=1e-2)
    cfg = RunConfig.from_dict(d).validate()
    scene = load_scene(cfg.scene)
    trainer = Trainer(cfg, scene, tmp_path, progress=False)
    trainer.gate = Gate()
    viewer = Viewer(trainer.model, cfg, scene, tmp_path, trainer=trainer, port=free_port())
    thread = threading.Thread(target=trainer.fit)
    try:
        thread.start()
        deadline = time.time() + 60
        while trainer.step < 20 and time.time() < deadline:
            time.sleep(0.05)
        viewer.toggle_pause()  # the panel's button
        assert trainer.gate.paused and viewer.pause.label == "Resume training"
        time.sleep(0.5)
        held = trainer.step
        time.sleep(1.5)
        assert trainer.step == held and thread.is_alive()  # nothing moves while paused
        assert "paused" in viewer.status.content and f"step **{held}**" in viewer.status.content
        viewer.toggle_pause()
        thread.join(120)
        assert trainer.step == 400 and not trainer.gate.paused
        time.sleep(1.2)
        steps, psnr = viewer.curve.data
        assert len(steps) >= 2 and steps[-1] == 400 and np.isfinite(psnr).all()  # the training curve
        # the frustums stand where the refined cameras are, not at the given poses
        assert "cameras moved" in viewer.status.content
        with torch.no_grad():
            refined = trainer.model.poses.refined_c2w(scene.train.cameras.c2w).double().numpy()
        i, handle = next(iter(viewer._frustums.items()))
        given_pos = c2w_to_viser(scene.train.cameras.c2w[i].double().numpy())[1]
        assert np.allclose(handle.position, c2w_to_viser(refined[i])[1], atol=1e-5)
        assert np.abs(np.asarray(handle.position) - given_pos).max() > 1e-5
    finally:
        trainer.gate.resume()
        thread.join(120)
        viewer.close()
