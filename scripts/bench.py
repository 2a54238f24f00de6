#!/usr/bin/env python
"""Speed and quality figures: `make bench` (GPU, lego) or `--device cpu --quick` (built-in scene).

Prints, and writes as JSON with --json:
  (a) field throughput, forward+backward samples/s, and as a fraction of the tensor-core / FMA bound
      (FLOPs per sample x a matmul peak measured on the same device and dtype);
  (b) a training-step breakdown: sampling, field forward, compositing, backward, optimiser;
  (c) test PSNR against training time (one run, the clock paused while evaluating);
  (d) render frames per second at two resolutions;
  (e) peak memory (GPU allocator, or the process's peak RSS on the CPU).
Numbers go into BENCHMARKS.md with the device and date.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nerf_ff import backends  # noqa: E402
from nerf_ff.config import RunConfig, apply_overrides, find_named, load_yaml  # noqa: E402
from nerf_ff.data import load_scene  # noqa: E402
from nerf_ff.data.cameras import Cameras  # noqa: E402
from nerf_ff.evaluate import composite_gt  # noqa: E402
from nerf_ff.fields import RadianceField  # noqa: E402
from nerf_ff.metrics import psnr  # noqa: E402
from nerf_ff.packed import composite, render_weights  # noqa: E402
from nerf_ff.render import autocast_for, render_image  # noqa: E402
from nerf_ff.trainer import Trainer  # noqa: E402


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device, repeat=10, warmup=3):
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def matmul_peak(device, dtype) -> float:
    """FLOP/s of a large square matrix product on this device and dtype (the measured ceiling)."""
    n = 8192 if device.type == "cuda" else 1024
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    t = timed(lambda: a @ b, device, repeat=10 if device.type == "cuda" else 3)
    return 2 * n**3 / t


def field_flops_per_sample(field: RadianceField) -> float:
    """Forward + backward FLOPs of the MLP layers per sample (backward = 2 x forward)."""
    fwd = 0
    for mod in field.modules():
        if isinstance(mod, torch.nn.Linear):
            fwd += 2 * mod.in_features * mod.out_features
    return 3 * fwd


def bench_field(cfg: RunConfig, device, amp: str, batch: int) -> dict:
    field = RadianceField(cfg.model, torch.tensor([-1.0, -1, -1, 1, 1, 1])).to(device)
    if cfg.train.compile:  # --set train.compile=true: compiled in the warm-up steps, then timed
        field.compile_trunk()
    x = torch.rand(batch, 3, device=device) * 2 - 1
    d = torch.nn.functional.normalize(torch.randn(batch, 3, device=device), dim=-1)
    ctx = autocast_for(device, amp)

    def step():
        with ctx:
            rgb, sigma = field(x, d)
        (rgb.float().sum() + sigma.float().sum()).backward()

    t = timed(step, device)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp, torch.float32)
    peak = matmul_peak(device, dtype)
    flops = field_flops_per_sample(field)
    rate = batch / t
    return {"batch": batch, "samples_per_s": rate, "flops_per_sample": flops, "matmul_peak_flops": peak,
            "dtype": str(dtype).replace("torch.", ""), "fraction_of_peak": rate * flops / peak}


def step_breakdown(trainer: Trainer, n: int = 20) -> dict:
    """Median seconds of each stage of a training step (synchronised between stages)."""
    dev, model = trainer.device, trainer.model
    stages = {k: [] for k in ("rays", "sampling", "field", "compositing", "backward", "optimizer")}
    for _ in range(n):
        marks = [time.perf_counter()]

        def mark():
            sync(dev)
            marks.append(time.perf_counter())

        rays_o, rays_d, target, _ = trainer.sample_batch(trainer.n_rays)
        mark()
        field = model.field
        ctx = autocast_for(dev, trainer.amp)

        def sigma_fn(ts, te, ri):
            with ctx:
                return field.density(rays_o[ri] + rays_d[ri] * (0.5 * (ts + te))[:, None])

        ri, ts, te = model.sampler.sample(rays_o, rays_d, sigma_fn, train=True, gen=trainer.gen)
        mark()
        with ctx:
            rgbs, sigmas = field(rays_o[ri] + rays_d[ri] * (0.5 * (ts + te))[:, None], rays_d[ri])
        mark()
        w, _, _ = render_weights(sigmas.float(), ts, te, ri, rays_o.shape[0])
        rgb, _, _ = composite(w, rgbs.float(), ts, te, ri, rays_o.shape[0], target[:, 3:])
        loss = torch.mean((rgb - target[:, :3]) ** 2)
        mark()
        trainer.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        mark()
        trainer.optimizer.step()
        mark()
        for k, a, b in zip(stages, marks[:-1], marks[1:]):
            stages[k].append(b - a)
    out = {k: sorted(v)[len(v) // 2] for k, v in stages.items()}
    out["total"] = sum(out.values())
    out["n_rays"] = trainer.n_rays
    out["n_samples"] = int(ri.numel())
    return out


def test_psnr(trainer: Trainer, scene, max_views: int, chunk: int) -> float:
    model = trainer.model.eval()
    test = scene.test
    idx = [round(i) for i in torch.linspace(0, len(test) - 1, min(max_views, len(test))).tolist()]
    vals = []
    for i in idx:
        out = render_image(model.field, model.sampler, test.cameras, i, scene.background.to(trainer.device),
                           chunk=chunk, amp=trainer.amp)
        vals.append(psnr(out["rgb"], composite_gt(test.images[i], scene.background.float())))
    model.train()
    return sum(vals) / len(vals)


def render_fps(trainer: Trainer, cams: Cameras, size: int, frames: int, chunk: int) -> float:
    model = trainer.model.eval()
    cams = cams[list(range(min(frames, len(cams))))].scaled(size / cams.width)
    bg = torch.ones(3, device=trainer.device)
    render_image(model.field, model.sampler, cams, 0, bg, chunk=chunk, amp=trainer.amp)  # warm-up
    sync(trainer.device)
    t0 = time.perf_counter()
    for i in range(len(cams)):
        render_image(model.field, model.sampler, cams, i, bg, chunk=chunk, amp=trainer.amp)
    sync(trainer.device)
    model.train()
    return len(cams) / (time.perf_counter() - t0)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto")
    p.add_argument("--quick", action="store_true", help="small version: built-in scene, demo preset, short marks")
    p.add_argument("--scene", help="scene (default: lego, or builtin with --quick)")
    p.add_argument("--config", action="append", help="presets (default: demo with --quick)")
    p.add_argument("--marks", help="comma-separated training seconds at which to evaluate test PSNR")
    p.add_argument("--eval-views", type=int, default=0, help="test views per PSNR mark (0: all)")
    p.add_argument("--set", action="append", default=[], help="section.key=value overrides")
    p.add_argument("--json", help="write the results here")
    args = p.parse_args()

    scene_name = args.scene or ("builtin" if args.quick else "lego")
    cfg = RunConfig()
    if scene_name == "builtin":
        cfg = apply_overrides(cfg, {"scene": {"format": "builtin", "name": "builtin"}}, "bench")
    else:
        cfg = apply_overrides(cfg, load_yaml(find_named("scenes", scene_name)), scene_name)
        from nerf_ff.config import expand_path  # noqa: PLC0415

        cfg.scene.path = expand_path(cfg.scene.path, find_named("scenes", scene_name).parent)
    for preset in args.config or (["demo"] if args.quick else []):
        cfg = apply_overrides(cfg, load_yaml(find_named("configs", preset)), preset)
    for item in args.set:
        key, value = item.split("=", 1)
        sec, name = key.split(".", 1)
        cfg = apply_overrides(cfg, {sec: {name: value}}, "--set")
    cfg.train.device = args.device
    cfg.train.steps = 10**9  # the marks decide when to stop
    cfg.validate()
    device = backends.resolve_device(cfg.train.device)
    amp = backends.resolve_amp(cfg.train.amp, device)
    marks = [float(m) for m in (args.marks or ("15,30,60,120" if args.quick else "30,60,120,300,600")).split(",")]
    cfg.train.time_budget = marks[-1]
    results = {"device": backends.describe(device, amp, cfg.train.compile), "scene": scene_name,
               "date": time.strftime("%Y-%m-%d"), "config": cfg.to_dict(), "command": " ".join(sys.argv)}

    print(f"device: {results['device']['device_name']} (amp {amp})", flush=True)
    batch = 2**18 if device.type == "cuda" else 2**14
    results["field"] = f = bench_field(cfg, device, amp, batch)
    print(f"(a) field fwd+bwd: {f['samples_per_s'] / 1e6:.2f} M samples/s at batch {batch}, "
          f"{f['flops_per_sample'] / 1e6:.2f} MFLOP/sample, measured {f['dtype']} matmul peak "
          f"{f['matmul_peak_flops'] / 1e12:.2f} TFLOP/s -> {100 * f['fraction_of_peak']:.1f}% of the bound", flush=True)

    scene = load_scene(cfg.scene)
    trainer = Trainer(cfg, scene, Path("/tmp/nerf_ff_bench"), progress=False)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    curve = []
    t_eval = 0.0
    wall0 = time.perf_counter()
    for mark in marks:
        while trainer.elapsed < mark:
            t0 = time.perf_counter()
            trainer.train_step()
            trainer.elapsed += time.perf_counter() - t0
        t0 = time.perf_counter()
        value = test_psnr(trainer, scene, args.eval_views or len(scene.test), cfg.eval.chunk)
        t_eval += time.perf_counter() - t0
        curve.append({"seconds": mark, "step": trainer.step, "test_psnr": value})
        print(f"(c) {mark:6.0f} s  step {trainer.step:6d}  test PSNR {value:.2f} dB", flush=True)
    results["time_to_psnr"] = curve
    results["wall_seconds"] = time.perf_counter() - wall0
    results["breakdown"] = b = step_breakdown(trainer)
    parts = ", ".join(f"{k} {1e3 * v:.1f}" for k, v in b.items() if k not in ("total", "n_rays", "n_samples"))
    print(f"(b) step {1e3 * b['total']:.1f} ms ({b['n_rays']} rays, {b['n_samples']} samples): {parts} (ms)", flush=True)
    sizes = (400, 800) if not args.quick else (64, 128)
    results["render_fps"] = {}
    for size in sizes:
        fps = render_fps(trainer, scene.test.cameras, size, frames=5 if device.type == "cuda" else 2,
                         chunk=cfg.eval.chunk)
        results["render_fps"][f"{size}x{size}"] = fps
        print(f"(d) render {size}x{size}: {fps:.2f} frames/s", flush=True)
    if device.type == "cuda":
        results["peak_memory_bytes"] = torch.cuda.max_memory_allocated(device)
        print(f"(e) peak GPU memory {results['peak_memory_bytes'] / 2**30:.2f} GiB")
    else:
        results["peak_memory_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print(f"(e) peak RSS {results['peak_memory_bytes'] / 2**30:.2f} GiB")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0 if all(math.isfinite(c["test_psnr"]) for c in curve) else 1


if __name__ == "__main__":
    sys.exit(main())
