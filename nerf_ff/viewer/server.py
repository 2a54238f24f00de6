"""The web viewer (viser): `nerf-ff view RUN_DIR` and `nerf-ff train ... --viewer`.

What it shows: the training cameras as frustums with their images (where train.pose_refine has moved
them, live while it trains); the field rendered from the browser's camera (render_loop.py: small while
moving, full size at rest); an output toggle (rgb, depth, opacity); the run's encoding, σ and metrics;
while training, the step, a training curve and pause / resume. Camera paths: keyframes placed from the
browser's camera, previewed, saved as a keyframe file that `nerf-ff render --path FILE` renders
unchanged (the preview renders the frames exactly as `nerf-ff render` will, from the same file).
"""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from ..errors import UserError
from ..evaluate import composite_gt, to_u8
from ..trajectories import estimate_up, focus_point, load_path_file, save_path_file
from .camera import c2w_to_viser, fov_y, viser_to_c2w
from .render_loop import OUTPUTS, ClientView, Renderer

MAX_FRUSTUMS = 150
THUMB_SIDE = 96


def import_viser():
    try:
        import viser  # noqa: PLC0415
    except ImportError:
        raise UserError("the viewer needs viser, an optional extra: pip install 'nerf_ff[viewer]' "
                        "(or pip install viser)") from None
    return viser


def _thumb(img: torch.Tensor, background: torch.Tensor) -> np.ndarray:
    """uint8 [H, W, C] → a small RGB image for a frustum (RGBA composited over the scene's background)."""
    x = composite_gt(img, background.float().cpu()).permute(2, 0, 1)[None]
    scale = THUMB_SIDE / max(x.shape[-2:])
    if scale < 1:
        x = torch.nn.functional.interpolate(x, scale_factor=scale, mode="area")
    return to_u8(x[0].permute(1, 2, 0))


class Viewer:
    def __init__(self, model, cfg, scene, run_dir, *, trainer=None, metrics: Optional[dict] = None,
                 host: str = "127.0.0.1", port: int = 8080, full_side: Optional[int] = None,
                 preview_side: int = 64):
        viser = import_viser()
        self.cfg, self.scene, self.run_dir, self.trainer = cfg, scene, Path(run_dir), trainer
        self.metrics = metrics or {}
        device = model.field.aabb.device
        self.full_side = full_side or (1024 if device.type == "cuda" else 512)
        self.preview_side = preview_side
        train = scene.train
        bg = scene.background.to(device)
        if not train.has_alpha and model.field.bg_head is not None:
            bg = None
        lock = trainer.gate.lock if trainer is not None and trainer.gate is not None else None
        from .. import backends  # noqa: PLC0415

        self.renderer = Renderer(model, bg, disparity=scene.kind == "unbounded", chunk=cfg.eval.chunk,
                                 amp=backends.resolve_amp(cfg.train.amp, device), lock=lock)
        self.server = viser.ViserServer(host=host, port=port, verbose=False)
        self.url = f"http://{'localhost' if host in ('0.0.0.0', '127.0.0.1') else host}:{self.server.get_port()}"
        self.clients: dict[int, ClientView] = {}
        self._closed = threading.Event()
        self.keyframes: list[np.ndarray] = []  # c2w [3, 4], OpenGL
        self.keyframe_fov_y: Optional[float] = None
        self.keyframe_aspect: Optional[float] = None
        self.last_preview: list[np.ndarray] = []
        c2w = train.cameras.c2w
        self.up = estimate_up(c2w).double().numpy()
        self.focus = focus_point(c2w).double().numpy()
        self.extent = float(np.median(np.linalg.norm(c2w[:, :3, 3].double().numpy() - self.focus, axis=1)))
        self.server.scene.set_up_direction(tuple(float(v) for v in self.up))
        self._add_frustums()
        self._add_gui()
        self.server.on_client_connect(self._connect)
        self.server.on_client_disconnect(lambda client: self.clients.pop(client.client_id, None) and None)
        if trainer is not None:
            threading.Thread(target=self._follow_training, daemon=True, name="nerf_ff-view-train").start()

    # ------------------------------------------------------------------ scene
    def _add_frustums(self) -> None:
        train = self.scene.train
        n = len(train)
        idx = range(n) if n <= MAX_FRUSTUMS else np.linspace(0, n - 1, MAX_FRUSTUMS).round().astype(int)
        cams = train.cameras
        self._train_frame = self.server.scene.add_frame("/train", show_axes=False)  # parent: one visibility switch
        self._frustums = {}  # training image index → handle (moved while train.pose_refine trains the poses)
        for i in idx:
            w, h = cams.size(i)  # each image's own shape (scenes with images of several sizes)
            fov, aspect = fov_y(cams, i), w / h
            wxyz, pos = c2w_to_viser(cams.c2w[i].double().numpy())
            self._frustums[int(i)] = self.server.scene.add_camera_frustum(
                f"/train/{i:04d}", fov=fov, aspect=aspect, scale=0.06 * self.extent,
                image=_thumb(train.view(i)[0], self.scene.background), wxyz=wxyz, position=pos, color=(90, 90, 90),
                thickness=1.5, thickness_units="screen")

    def _move_frustums(self) -> Optional[str]:
        """While train.pose_refine trains: put the frustums at the refined poses. Returns how far the
        cameras have moved (for the status line), None without pose refinement."""
        poses = self.trainer.model.poses
        if poses is None:
            return None
        with torch.no_grad():
            given = self.scene.train.cameras.c2w.to(poses.delta.device)
            c2w = poses.refined_c2w(given).double().cpu().numpy()
            moved = poses.summary()
        for i, handle in self._frustums.items():
            handle.wxyz, handle.position = c2w_to_viser(c2w[i])
        return f"cameras moved {moved['rotation_deg_mean']:.2f}°, {moved['translation_pct_of_box_mean']:.2f} % of the box"

    def _add_gui(self) -> None:
        gui = self.server.gui
        m = self.cfg.model
        sigma = f", σ = {m.sigma:g}" if m.encoding in ("gaussian", "learned") else ""
        feats = f", m = {m.n_features}" if m.encoding in ("gaussian", "learned") else ""
        lines = [f"**{self.scene.name}** ({self.scene.kind}), {len(self.scene.train)} training views",
                 f"encoding **{m.encoding}**{sigma}{feats}, MLP {m.depth}×{m.width}"]
        if self.metrics.get("psnr") is not None:
            lpips = self.metrics.get("lpips")
            lines.append(f"test PSNR **{self.metrics['psnr']:.2f} dB**, SSIM {self.metrics['ssim']:.3f}"
                         + (f", LPIPS {lpips:.3f}" if lpips is not None else ""))
        with gui.add_folder("Run"):
            gui.add_markdown("  \n".join(lines))
            self.output = gui.add_dropdown("Output", OUTPUTS, initial_value="rgb")
            self.resolution = gui.add_slider("Resolution", min=64, max=2048, step=32, initial_value=self.full_side)
            show = gui.add_checkbox("Training cameras", initial_value=True)
        show.on_update(lambda _: setattr(self._train_frame, "visible", show.value))
        self.output.on_update(lambda _: self._refresh_all())
        self.resolution.on_update(lambda _: self._refresh_all())
        if self.trainer is not None:
            with gui.add_folder("Training"):
                self.status = gui.add_markdown("starting")
                self.pause = gui.add_button("Pause training")
                self.curve = gui.add_uplot(data=(np.zeros(1), np.zeros(1)),
                                           series=({"label": "step"}, {"label": "train PSNR", "stroke": "blue"}),
                                           title="training PSNR (dB)", aspect=1.6)
            self.pause.on_click(lambda _: self.toggle_pause())
        with gui.add_folder("Camera path"):
            self.path_info = gui.add_markdown("no keyframes")
            add = gui.add_button("Add keyframe (this view)")
            undo = gui.add_button("Remove last keyframe")
            self.frames = gui.add_number("Frames", initial_value=120, min=2, max=10000, step=1)
            self.loop = gui.add_checkbox("Loop", initial_value=False)
            self.path_file = gui.add_text("File", initial_value=str(self.run_dir / "camera_paths" / "path.json"))
            save = gui.add_button("Save path")
            preview = gui.add_button("Preview path")
        add.on_click(lambda event: self.add_keyframe_from(event.client))
        undo.on_click(lambda _: self._remove_keyframe())
        save.on_click(lambda _: self._notify_save())
        preview.on_click(lambda event: threading.Thread(target=self.preview_path, args=(event.client,),
                                                         daemon=True).start())

    # ------------------------------------------------------------------ clients
    def _connect(self, client) -> None:
        def send(img: np.ndarray, full: bool) -> None:
            client.scene.set_background_image(img, format="jpeg", jpeg_quality=92 if full else 80)

        view = ClientView(self.renderer, send, preview_side=self.preview_side, full_side=int(self.resolution.value),
                          refresh_s=2.0 if self.trainer is not None else None)
        view.output = self.output.value
        self.clients[client.client_id] = view
        cams = self.scene.train.cameras
        _, pos = c2w_to_viser(cams.c2w[0].double().numpy())
        pos = self.focus + 1.3 * (pos - self.focus)  # behind training camera 0, clear of its frustum
        client.camera.fov = fov_y(cams)
        client.camera.up_direction = tuple(float(v) for v in self.up)
        client.camera.position = tuple(pos)
        client.camera.look_at = tuple(float(v) for v in self.focus)

        @client.camera.on_update
        def _(cam) -> None:
            view.update(cam.wxyz, cam.position, cam.fov, cam.aspect, cam.image_height)

    def _refresh_all(self) -> None:
        for view in list(self.clients.values()):
            view.output = self.output.value
            view.full_side = int(self.resolution.value)
            view.refresh()

    # ------------------------------------------------------------------ training
    def toggle_pause(self) -> None:
        gate = self.trainer.gate
        if gate.paused:
            gate.resume()
            self.pause.label = "Pause training"
        else:
            gate.pause()
            self.pause.label = "Resume training"

    def _follow_training(self) -> None:
        while not self._closed.wait(1.0):
            t = self.trainer
            hist = list(t.history)
            state = "paused" if t.gate is not None and t.gate.paused else "training"
            last = f", train PSNR {hist[-1]['psnr']:.2f} dB" if hist else ""
            moved = self._move_frustums()
            last += f"; {moved}" if moved else ""
            self.status.content = f"{state}: step **{t.step}** / {t.cfg.train.steps}, {t.elapsed:.0f} s{last}"
            if len(hist) >= 2:
                self.curve.data = (np.array([h["step"] for h in hist], np.float64),
                                   np.array([h["psnr"] for h in hist], np.float64))

    # ------------------------------------------------------------------ camera paths
    def add_keyframe(self, wxyz, position, fov: float, aspect: float) -> None:
        self.keyframes.append(viser_to_c2w(wxyz, position))
        self.keyframe_fov_y, self.keyframe_aspect = float(fov), float(aspect)
        k = len(self.keyframes) - 1
        self.server.scene.add_camera_frustum(f"/keyframes/{k:03d}", fov=fov, aspect=aspect, scale=0.08 * self.extent,
                                             wxyz=np.asarray(wxyz), position=np.asarray(position),
                                             color=(230, 120, 30), thickness=2.5, thickness_units="screen")
        self.path_info.content = f"{len(self.keyframes)} keyframe(s)"

    def add_keyframe_from(self, client) -> None:
        cam = client.camera
        self.add_keyframe(cam.wxyz, cam.position, cam.fov, cam.aspect)

    def _remove_keyframe(self) -> None:
        if self.keyframes:
            self.keyframes.pop()
            self.server.scene.remove_by_name(f"/keyframes/{len(self.keyframes):03d}")
            self.path_info.content = f"{len(self.keyframes)} keyframe(s)"

    def save_path(self, path: Optional[str] = None) -> Path:
        """The keyframes as a keyframe file (trajectories/keyframes.py); returns its path."""
        if not self.keyframes:
            raise UserError("no keyframes yet: add at least one with 'Add keyframe'")
        out = Path(path or self.path_file.value)
        out.parent.mkdir(parents=True, exist_ok=True)
        fov_x = 2 * math.degrees(math.atan(math.tan(self.keyframe_fov_y / 2) * self.keyframe_aspect))
        save_path_file(out, torch.tensor(np.stack(self.keyframes)), frames=int(self.frames.value), fov_x_deg=fov_x,
                       loop=bool(self.loop.value))
        return out

    def _notify_save(self) -> None:
        try:
            out = self.save_path()
            self.path_info.content = f"{len(self.keyframes)} keyframe(s), saved to `{out}`  \n" \
                                     f"render it: `nerf-ff render {self.run_dir} --path {out}`"
        except UserError as exc:
            self.path_info.content = f"not saved: {exc}"

    def preview_path(self, client=None, path: Optional[str] = None) -> list[np.ndarray]:
        """Save the path, then render its frames exactly as `nerf-ff render --path FILE` does (same file,
        same resolution) and show them in the browser; returns the frames (uint8 [H, W, 3])."""
        out = self.save_path(path)
        cams, _ = load_path_file(out, self.scene.train.cameras)
        view = self.clients.get(client.client_id) if client is not None else None
        if view is not None:
            view.hold.set()  # the worker leaves the browser's image to the preview
        frames = []
        try:
            for i in range(len(cams)):
                img = self.renderer.render(cams[[i]], "rgb")
                frames.append(img)
                if client is not None:
                    client.scene.set_background_image(img, format="jpeg", jpeg_quality=92)
        finally:
            if view is not None:
                view.hold.clear()
                view.refresh()
        self.last_preview = frames
        return frames

    def close(self) -> None:
        self._closed.set()
        for view in self.clients.values():
            view.close()
        self.server.stop()
