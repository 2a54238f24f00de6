"""Training loop: random pixels → rays → render → MSE → Adam, with a dynamic ray batch.

Per step:
    1. draw `n_rays` random training pixels (uint8 images stay on the device, compact; masked-out
       pixels are dropped)
    2. with train.pose_refine (from train.pose_start on), move each ray by its camera's learned pose
       correction (poses.py); render them over a random background (RGBA / captured scenes) → rgb [n_rays, 3]
    3. MSE against the target composited over the same background (+ regularisers: distortion loss;
       with train.depth_loss, rays through SfM keypoints ride along and their weight is pulled to the
       keypoint's depth); backward; Adam (then the pose corrections' common motion is taken out)
    4. refresh the occupancy grid every `update_every` steps
    5. resize the ray batch so the next step processes about `target_samples` samples
Checkpoints are written atomically every `checkpoint_every` steps, at the end, and on Ctrl-C or
SIGTERM; `resume()` restores model, optimiser, grid, step, ray-batch size and RNG states. Every
`log_every` steps a row goes to RUN_DIR/log.csv (and TensorBoard with train.log tensorboard), every
`preview_every` steps a held-out preview render (trainlog.py).
"""

from __future__ import annotations

import contextlib
import math
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Optional

import torch
from torch import Tensor

from . import backends
from .checkpoint import load_checkpoint, save_checkpoint
from .config import RunConfig
from .cpu_threads import ThreadTuner
from .data.cameras import pixel_rays
from .data.scene import SceneData
from .errors import UserError
from .losses import depth_window_loss, distortion_loss
from .model import NeRFModel
from .trainlog import TrainLog

MAX_BAD_STEPS = 20  # consecutive non-finite steps before giving up
STARTUP_STEPS = 10  # steps whose time the schedule ignores (progress_fraction)
PACE_MIN_STEPS = 500  # a time budget that allows fewer steps than this gets a warning (pace_warning)
TIME_WARMUP = 0.02  # fraction of the time budget spent before time paces the schedule
PACE_EMA = 0.02  # weight of the newest step in the running seconds per step that pace a time budget
PREVIEW_SIDE = 128  # longest side of the periodic held-out preview render
KEYPOINT_RAY_FRACTION = 0.125  # rays through SfM keypoints added to each batch with train.depth_loss


class Gate:
    """Lets another thread (the viewer) pause training between steps, and render without racing a
    step: a training step holds `lock`; a paused trainer waits before its next step (paused time is
    not training time, so the time budget and the schedule lose nothing)."""

    def __init__(self):
        self.lock = threading.Lock()
        self._running = threading.Event()
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def wait(self, stop) -> None:
        while not self._running.wait(0.2) and not stop():
            pass


class Trainer:
    def __init__(self, cfg: RunConfig, scene: SceneData, run_dir: str | Path, progress: bool = True):
        self.cfg, self.scene, self.run_dir = cfg, scene, Path(run_dir)
        self.device = backends.resolve_device(cfg.train.device)
        self.amp = backends.resolve_amp(cfg.train.amp, self.device)
        self.progress = progress
        t = cfg.train
        torch.manual_seed(t.seed)  # parameter initialisation
        self.model = NeRFModel.for_scene(cfg, scene).to(self.device)
        if t.compile:
            self.model.field.compile_trunk()
        # Position-encoding parameters (hash tables, a learned B) get their own group without weight
        # decay: a hash-table entry no ray touched has only the decay term as its gradient, and Adam
        # (eps 1e-15) normalises that into a full learning-rate step towards zero.
        enc = [p for p in self.model.field.pos_enc.parameters() if p.requires_grad]
        poses = [] if self.model.poses is None else [self.model.poses.delta]
        rest = [p for p in self.model.parameters() if p.requires_grad and all(p is not q for q in enc + poses)]
        groups = [{"params": rest}] + ([{"params": enc, "weight_decay": 0.0}] if enc else [])
        # Pose corrections: their own learning rate (a fixed ratio to the field's, so one schedule decays
        # both) and no weight decay (the pose regulariser is in the loss).
        groups += [{"params": poses, "weight_decay": 0.0, "lr_scale": t.pose_lr / t.lr}] if poses else []
        self.optimizer = torch.optim.Adam(groups, lr=t.lr, eps=t.eps, betas=(0.9, 0.99), weight_decay=t.weight_decay)
        self.gen = torch.Generator(device=self.device).manual_seed(t.seed)
        train = scene.train
        self.images = train.images.to(self.device)  # [N, H, W, C] uint8
        self.masks = None if train.masks is None else train.masks.to(self.device).view(-1)  # [N*H*W] bool: usable
        # Pixels are drawn from the whole canvas and the masked-out ones dropped: draw 1 / (usable fraction)
        # as many, so a batch keeps its size on average (images of several sizes leave ~25 % of a canvas unused).
        self._draw_factor = 1.0 if self.masks is None else 1.0 / max(float(self.masks.float().mean()), 1e-3)
        # Opaque photos with a learned background: rays composite over it instead of a random colour.
        self.learned_background = self.model.field.bg_head is not None and not train.has_alpha
        self.cameras = train.cameras.to(self.device)
        self.keypoints = None  # [K, 4] camera, u, v, depth (data/keypoints.py), for train.depth_loss
        if t.depth_loss > 0:
            if train.keypoints is None or len(train.keypoints) == 0:
                raise UserError(f"train.depth_loss needs SfM keypoints, and scene {scene.name} has none (they come from a "
                                "COLMAP model: a COLMAP scene, or sparse/0 beside transforms.json as `nerf-ff process` "
                                "writes it); set train.depth_loss=0")
            self.keypoints = train.keypoints.to(self.device)
        self.target_samples = t.target_samples or (2**18 if self.device.type == "cuda" else 2**15)
        self.step = 0
        self.n_rays = t.init_rays
        self.elapsed = 0.0  # training seconds, accumulated across resumes
        self.bad_steps = 0  # consecutive non-finite steps
        self.skipped_steps = 0  # all skipped steps of the run
        self.samples_total = 0  # samples through the field in training steps (cost: samples per second)
        self.history: list[dict] = []
        self._stop_signal: Optional[str] = None
        self._startup_s = 0.0  # time of this process's first STARTUP_STEPS steps (progress_fraction)
        self._step_s: Optional[float] = None  # running seconds per step after those (progress_fraction)
        self._loss_ema: Optional[float] = None  # the smoothed loss log.csv and the progress bar show
        self.gate: Optional[Gate] = None  # set by a viewer: pause / resume, and no render mid-step

    # ------------------------------------------------------------------ state
    def state(self) -> dict:
        rng = {"gen": self.gen.get_state(), "torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {
            "config": self.cfg.to_dict(),
            "step": self.step,
            "n_rays": self.n_rays,
            "elapsed": self.elapsed,
            "step_s": self._step_s,  # the pace that paces a time budget: a resumed run continues its schedule
            "loss_ema": self._loss_ema,
            "skipped_steps": self.skipped_steps,
            "samples_total": self.samples_total,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "rng": rng,
            "scene": {"name": self.scene.name, "aabb": self.scene.aabb.tolist(), "near": self.scene.near,
                      "far": self.scene.far, "grid_levels": self.scene.grid_levels, "kind": self.scene.kind,
                      "n_train_images": len(self.scene.train), "subject_box": self.scene.meta.get("subject_box")},
            "history": self.history,
        }

    def save(self) -> Path:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        path = self.run_dir / "checkpoint.pt"
        save_checkpoint(self.state(), path)
        return path

    def resume(self) -> None:
        state = load_checkpoint(self.run_dir / "checkpoint.pt", map_location=self.device)
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, KeyError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0][:160]
            raise UserError(f"checkpoint in {self.run_dir} does not match this config ({first}); "
                            f"resume with the run's own config.yaml or start a new run folder") from None
        self.step, self.n_rays, self.elapsed = int(state["step"]), int(state["n_rays"]), float(state["elapsed"])
        # The pace a time budget is scheduled by, until this process has timed its own: without it the
        # schedule fell back to step / train.steps (~0 for a budgeted run), so a resumed run restarted at
        # the full learning rate with the high frequencies faded out again, and lost what it had learned.
        # (Checkpoints from before it was saved: the mean pace so far.)
        self._loss_ema = state.get("loss_ema")
        pace = state.get("step_s")
        self._step_s = float(pace) if pace else (self.elapsed / self.step if self.step > 0 and self.elapsed > 0 else None)
        self.history = list(state.get("history", []))
        self.skipped_steps = int(state.get("skipped_steps", 0))
        self.samples_total = int(state.get("samples_total", 0))
        rng = state["rng"]
        self.gen.set_state(rng["gen"].cpu())
        torch.set_rng_state(rng["torch"].cpu())
        if "cuda" in rng and self.device.type == "cuda":
            torch.cuda.set_rng_state(rng["cuda"].cpu(), self.device)

    # ------------------------------------------------------------------ schedule
    def progress_fraction(self) -> float:
        t = self.cfg.train
        p = self.step / t.steps
        if t.time_budget and self._step_s and self.elapsed - self._startup_s >= TIME_WARMUP * t.time_budget:
            # A budget that binds stretches the schedule over the steps it will allow: those done and
            # those the time left allows at the current pace (when the pace picks up, the schedule steps
            # back: a warm restart). Pacing by the share of time spent let a slow stretch spend the
            # schedule on few steps: a fox run that shared the CPU for its first 5 minutes had at step
            # 850 the learning rate an idle run has at step 5000, and ended 3 dB low. The pace is a
            # running mean that leaves out the first steps of a process (allocations, kernel set-up,
            # other processes starting: a run the budget never binds must not depend on them; the same
            # sweep on Ray and in local processes once differed by 0.2 dB), used once 2 % of the budget is spent.
            ahead = max(0.0, t.time_budget - self.elapsed) / self._step_s
            p = max(p, self.step / (self.step + ahead) if self.step + ahead > 0 else 1.0)
        return min(p, 1.0)

    def learning_rate(self) -> float:
        t = self.cfg.train
        warm = min(1.0, (self.step + 1) / max(1, t.warmup))
        return warm * t.lr * (t.lr_final / t.lr) ** self.progress_fraction()

    # ------------------------------------------------------------------ one step
    def sample_batch(self, n_rays: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Random training pixels → rays_o, rays_d [n,3], target rgb + background [n,6], image index [n]."""
        N, H, W, C = self.images.shape
        n_draw = n_rays if self.masks is None else max(1, round(n_rays * self._draw_factor))
        flat = torch.randint(0, N * H * W, (n_draw,), device=self.device, generator=self.gen)
        if self.masks is not None:  # masked-out pixels (transients, the canvas beyond an image) are never trained on
            flat = flat[self.masks[flat]]
            n_rays = flat.shape[0]
        img, pix = flat // (H * W), flat % (H * W)
        rays_o, rays_d = pixel_rays(self.cameras, img, pix % W, pix // W)
        colour = self.images.view(N, H * W, C)[img, pix].float() / 255.0  # [n, C]
        if self.cfg.scene.random_background:
            bg = torch.rand(n_rays, 3, device=self.device, generator=self.gen)
        else:
            bg = self.scene.background.to(self.device).expand(n_rays, 3)
        rgb = colour[:, :3]
        if C == 4:
            alpha = colour[:, 3:4]
            rgb = rgb * alpha + bg * (1 - alpha)
        return rays_o, rays_d, torch.cat([rgb, bg], dim=-1), img

    def keypoint_batch(self, n_rays: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Rays through random SfM keypoints: rays_o, rays_d [k, 3], depth [k], image index [k];
        k = n_rays * KEYPOINT_RAY_FRACTION."""
        k = max(1, round(n_rays * KEYPOINT_RAY_FRACTION))
        rows = self.keypoints[torch.randint(0, len(self.keypoints), (k,), device=self.device, generator=self.gen)]
        img = rows[:, 0].long()
        rays_o, rays_d = pixel_rays(self.cameras, img, rows[:, 1] - 0.5, rows[:, 2] - 0.5)  # u, v: pixel centres at +0.5
        return rays_o, rays_d, rows[:, 3], img

    def train_step(self) -> dict:
        t = self.cfg.train
        lr = self.learning_rate()
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        self.model.train()
        field, sampler = self.model.field, self.model.sampler
        if t.anneal_frequencies > 0 and hasattr(field.pos_enc, "set_anneal"):
            field.pos_enc.set_anneal(self.progress_fraction() / t.anneal_frequencies)
        if self.step > 0:  # the random initial field says nothing about occupancy
            sampler.update(self.step, field.density, gen=self.gen)
        rays_o, rays_d, target, img = self.sample_batch(self.n_rays)
        rgb_target, bg = target[:, :3], target[:, 3:]
        n = rays_o.shape[0]
        if self.keypoints is not None:  # keypoint rays ride along: depth loss only, no colour
            k_o, k_d, k_depth, k_img = self.keypoint_batch(n)
            rays_o, rays_d, img = torch.cat([rays_o, k_o]), torch.cat([rays_d, k_d]), torch.cat([img, k_img])
            bg = torch.cat([bg, bg.new_zeros(len(k_o), 3)])
        poses = self.model.poses
        if poses is not None and self.progress_fraction() < t.pose_start:
            poses = None  # the field first learns the scene at the given poses (train.pose_start)
        if poses is not None:  # each ray moves with its camera's learned pose correction
            rays_o, rays_d = poses.rays(self.cameras.c2w, img, rays_o, rays_d)
        out = self.model(rays_o, rays_d, None if self.learned_background else bg, train=True, gen=self.gen,
                         amp=self.amp, image_index=img if self.cfg.model.appearance_dim > 0 else None,
                         near_grad=t.near_grad * 0.5 * self.model.box_size)
        mse = torch.mean((out["rgb"][:n] - rgb_target) ** 2)
        loss = mse
        depth_term = torch.zeros((), device=self.device)
        if self.keypoints is not None:  # the photometric rays get depth 0: not supervised
            depth = torch.cat([k_depth.new_zeros(n), k_depth])
            depth_term = depth_window_loss(out["weights"], out["t_starts"], out["t_ends"], out["ray_indices"], depth,
                                           t.depth_window, len(depth))
            loss = loss + t.depth_loss * depth_term
        if poses is not None:
            loss = loss + poses.regulariser()
        if t.distortion_loss > 0:
            ri = out["ray_indices"]
            s0 = sampler.spacing(rays_o, rays_d, out["t_starts"], ri)
            s1 = sampler.spacing(rays_o, rays_d, out["t_ends"], ri)
            loss = loss + t.distortion_loss * distortion_loss(out["weights"], s0, s1, ri, rays_o.shape[0])
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        params = [p for p in self.model.parameters() if p.grad is not None]
        gnorm = torch.nn.utils.clip_grad_norm_(params, max_norm=float("inf")) if params else torch.zeros((), device=self.device)
        # The one host sync of the step: loss, gradient health and the sample count together.
        loss_v, gnorm_v, n_samples, mse_v, depth_v = torch.stack([
            loss.detach().float(), gnorm.float(), out["n_samples"].float(), mse.detach().float(),
            depth_term.detach().float()]).tolist()
        ok = math.isfinite(loss_v) and math.isfinite(gnorm_v)
        if ok:
            self.optimizer.step()
            if poses is not None:
                poses.fix_gauge(self.cameras.c2w)
            self.bad_steps = 0
        else:
            self.optimizer.zero_grad(set_to_none=True)
            self.bad_steps += 1
            self.skipped_steps += 1
        if n_samples > 0:  # aim the next batch at target_samples
            self.n_rays = int(min(t.max_rays, max(256, round(self.n_rays * self.target_samples / n_samples))))
        self.step += 1
        self.samples_total += int(n_samples)
        return {"loss": mse_v, "total_loss": loss_v, "ok": ok, "n_samples": int(n_samples),
                **({"depth_loss": depth_v} if self.keypoints is not None else {})}

    # ------------------------------------------------------------------ watching
    def _b_stats(self) -> dict:
        """Mean and largest row norm of a learned frequency matrix B (cycles per box); {} otherwise."""
        B = getattr(self.model.field.pos_enc, "B", None)
        if not isinstance(B, torch.nn.Parameter):
            return {}
        norms = B.detach().norm(dim=1)
        return {"b_norm_mean": float(norms.mean()), "b_norm_max": float(norms.max())}

    def _pose_stats(self) -> dict:
        """Mean pose correction so far (degrees; % of the scene box) with train.pose_refine; {} otherwise."""
        if self.model.poses is None:
            return {}
        s = self.model.poses.summary()
        return {"pose_rot_deg": s["rotation_deg_mean"], "pose_move_pct": s["translation_pct_of_box_mean"]}

    @torch.no_grad()
    def _preview(self, log: TrainLog) -> float:
        """Render held-out view 0 at a longest side of 128 px; image to the log; returns its PSNR."""
        from .evaluate import composite_gt, to_u8  # noqa: PLC0415 (evaluate imports the trainer's peers)
        from .metrics import psnr  # noqa: PLC0415
        from .render import eval_background, render_image  # noqa: PLC0415

        test = self.model.posed(self.scene).test  # held-out view 0 where the refined cameras put it
        cams = test.cameras.alone(0)  # at its own size (scenes with images of several sizes)
        image = test.view(0)[0]
        scale = min(1.0, PREVIEW_SIDE / max(cams.width, cams.height))
        small = cams.scaled(scale) if scale < 1 else cams
        self.model.eval()
        bg = self.scene.background.to(self.device)
        out = render_image(self.model.field, self.model.sampler, small, 0,
                           eval_background(self.model.field, bg, not test.has_alpha), amp=self.amp)
        self.model.train()
        gt = image.float().permute(2, 0, 1)[None] / 255.0
        gt = torch.nn.functional.interpolate(gt, size=(small.height, small.width), mode="area")[0].permute(1, 2, 0)
        gt = composite_gt((gt * 255).round().to(torch.uint8), self.scene.background.float())
        log.image(self.step, to_u8(out["rgb"]))
        return psnr(out["rgb"], gt)

    # ------------------------------------------------------------------ loop
    def _install_signal_handlers(self):
        if threading.current_thread() is not threading.main_thread():
            return {}

        def handler(signum, frame):  # noqa: ARG001
            self._stop_signal = signal.Signals(signum).name

        previous = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, handler)
        return previous

    def _gated(self):
        """Training steps pause here while a viewer asks (Gate), and hold its lock while they run."""
        if self.gate is None:
            return contextlib.nullcontext()
        self.gate.wait(lambda: bool(self._stop_signal))
        return self.gate.lock

    def nothing_to_train(self) -> Optional[str]:
        """Why fit() would stop at once (a resumed run already at its steps or past its budget), else None."""
        t = self.cfg.train
        if self.step >= t.steps:
            return (f"the run is at step {self.step}, at or past --steps {t.steps}: nothing to train; pass a larger "
                    "--steps to train on")
        if t.time_budget and self.elapsed >= t.time_budget:
            return (f"the run has trained {self.elapsed:.0f} s, its whole time budget of {t.time_budget:g} s: nothing "
                    "to train; pass a larger --time-budget to train on")
        return None

    def pace_warning(self, seconds_per_step: float) -> Optional[str]:
        """A warning when the time budget at this pace allows too few steps to converge (e.g. a GPU
        preset on a CPU), else None."""
        t = self.cfg.train
        if not t.time_budget or seconds_per_step <= 0:
            return None
        reach = self.step + int(max(0.0, t.time_budget - self.elapsed) / seconds_per_step)
        if reach >= min(t.steps, PACE_MIN_STEPS):
            return None
        return (f"nerf-ff: warning: {seconds_per_step:.2f} s a step on {self.device.type}: the {t.time_budget:g} s "
                f"budget allows about {reach} of {t.steps} steps, too few to converge; use a smaller model or fewer "
                "samples a step (train.target_samples), a longer --time-budget, or, if the run has a --config preset, "
                "the automatic defaults for this device (no preset)")

    def fit(self) -> dict:
        """Train until the step count or time budget is reached. Returns a summary dict."""
        t = self.cfg.train
        self.run_dir.mkdir(parents=True, exist_ok=True)
        previous = self._install_signal_handlers()
        bar = None
        if self.progress:
            from tqdm import tqdm  # noqa: PLC0415

            bar = tqdm(total=t.steps, initial=self.step, desc="train", unit="step", dynamic_ncols=True,
                       mininterval=1.0)
        reason = "steps"
        log = TrainLog(self.run_dir, t.log, resume_step=self.step)
        startup_steps = STARTUP_STEPS
        threads = torch.get_num_threads()
        tuner = ThreadTuner.for_run(self.device, t.time_budget)
        try:
            while self.step < t.steps:
                if t.time_budget and self.elapsed >= t.time_budget:
                    reason = "time_budget"
                    done = STARTUP_STEPS - startup_steps  # the budget ran out before the pace was timed: say so too
                    if startup_steps and done and (warning := self.pace_warning(self._startup_s / done)):
                        print(warning, file=sys.stderr, flush=True)
                    break
                if self._stop_signal:
                    reason = self._stop_signal
                    break
                with self._gated():
                    t0 = time.perf_counter()
                    info = self.train_step()
                    took = time.perf_counter() - t0
                    self.elapsed += took
                    if not startup_steps:
                        self._step_s = took if self._step_s is None else self._step_s + PACE_EMA * (took - self._step_s)
                        if tuner is not None:
                            tuner.observe(took)
                    else:
                        self._startup_s, startup_steps = self._startup_s + took, startup_steps - 1
                        if not startup_steps and (warning := self.pace_warning(self._startup_s / STARTUP_STEPS)):
                            print(warning, file=sys.stderr, flush=True)
                if not info["ok"]:
                    if t.nan_policy == "stop" or self.bad_steps >= MAX_BAD_STEPS:
                        self.save()
                        raise UserError(
                            f"training diverged at step {self.step} (loss or gradients not finite"
                            f"{' ' + str(self.bad_steps) + ' steps in a row' if self.bad_steps > 1 else ''}); "
                            f"the last good state is in {self.run_dir / 'checkpoint.pt'}; lower train.lr or model.sigma")
                    continue
                prev = self._loss_ema  # kept in the checkpoint: the logged loss continues across a resume
                loss_ema = self._loss_ema = info["loss"] if prev is None else 0.9 * prev + 0.1 * info["loss"]
                row = None  # one log.csv row per step at most: scalars and / or the preview's PSNR
                if self.step % t.log_every == 0 or self.step == t.steps:
                    psnr = -10 * math.log10(max(loss_ema, 1e-10))
                    entry = {"step": self.step, "elapsed": round(self.elapsed, 3), "loss": loss_ema,
                             "psnr": psnr, "n_rays": self.n_rays, "n_samples": info["n_samples"],
                             "occupied": round(self.model.sampler.occupied_fraction(), 4)}
                    self.history.append(entry)
                    row = {**entry, "lr": self.learning_rate(), **self._b_stats(), **self._pose_stats(),
                           **({"depth_loss": info["depth_loss"]} if "depth_loss" in info else {})}
                if t.preview_every and self.step % t.preview_every == 0:
                    row = {**(row or {"step": self.step, "elapsed": round(self.elapsed, 3)}),
                           "preview_psnr": self._preview(log)}
                if row is not None:
                    log.row(row)
                if bar is not None:
                    bar.update(1)
                    if self.step % 10 == 0:
                        psnr = -10 * math.log10(max(loss_ema, 1e-10))
                        post = {"loss": f"{loss_ema:.4f}", "psnr": f"{psnr:.2f}", "rays": self.n_rays}
                        if t.time_budget:
                            post["time"] = f"{self.elapsed:.0f}/{t.time_budget:.0f}s"
                        bar.set_postfix(post, refresh=False)
                if self.step % t.checkpoint_every == 0:
                    self.save()
        finally:
            torch.set_num_threads(threads)
            log.close()
            if bar is not None:
                bar.close()
            for sig, h in previous.items():
                signal.signal(sig, h)
        if hasattr(self.model.field.pos_enc, "set_anneal"):
            self.model.field.pos_enc.set_anneal(None)  # evaluation and rendering see every frequency
        self.save()
        return {"steps": self.step, "elapsed": self.elapsed, "stopped": reason,
                "train_psnr": self.history[-1]["psnr"] if self.history else None,
                "cpu_threads": tuner.note() if tuner is not None else ""}
