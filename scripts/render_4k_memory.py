"""Peak memory and time of rendering one 3840x2160 frame, through the code path of `nerf-ff render`.

    python scripts/render_4k_memory.py                       # trains a small built-in run first
    python scripts/render_4k_memory.py --run runs/demo       # or takes a trained run
    python scripts/render_4k_memory.py --outputs rgb,depth --chunk 2048

The render runs in a child process so its peak RSS (resource.getrusage ru_maxrss) counts neither
the training nor this script. The mp4 encoder (ffmpeg, a process of its own) is watched apart, by
polling its VmHWM: its ru_maxrss would start at the forking Python process's size. Prints a JSON
line: peak_rss_mb (render process), encoder_peak_rss_mb, seconds (render_video: depth probe,
rendering, encoding; not loading), load_seconds, resolution, chunk, n_rays, run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _rss_mb() -> float:
    """Current resident set size of this process, MB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class _ChildPeak:
    """Largest VmHWM (peak RSS) seen among this process's child processes, polled in a thread."""

    def __init__(self, every: float = 0.02):
        import threading  # noqa: PLC0415

        self.peak_kb, self.every = 0, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(self.every):
            for tid in os.listdir("/proc/self/task"):
                try:
                    pids = Path(f"/proc/self/task/{tid}/children").read_text().split()
                except OSError:
                    continue
                for pid in pids:
                    try:
                        status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                                      if ":" in line)
                    except OSError:
                        continue
                    # Before its exec a forked child still has Python's pages; count it once it is the encoder.
                    if "python" not in status.get("Name", "") and "VmHWM" in status:
                        self.peak_kb = max(self.peak_kb, int(status["VmHWM"].split()[0]))

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak_kb / 1024


def render_child(args) -> None:
    sys.path.insert(0, str(ROOT))
    t0 = time.perf_counter()
    import torch  # noqa: F401, PLC0415 (imports count in the baseline, not the render)

    from nerf_ff import video  # noqa: PLC0415
    from nerf_ff.data import load_scene  # noqa: PLC0415

    # render_path, split in two so that loading and rendering are timed apart.
    runs = video.load_runs([args.run], device=args.device)
    scene = load_scene(runs[0].cfg.scene, splits=("train", "test"))
    cams, _, _ = video.camera_path(scene, "orbit", 1, video.parse_resolution(args.resolution))
    load_seconds = time.perf_counter() - t0
    rss_loaded = _rss_mb()
    encoder = _ChildPeak()
    result = video.render_video(runs, cams, args.out, background=scene.background, outputs=args.outputs,
                                chunk=args.chunk, progress=False)
    self_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB → MB on Linux
    child_peak = encoder.stop()
    print(json.dumps({
        "peak_rss_mb": round(self_peak, 1), "rss_after_loading_mb": round(rss_loaded, 1),
        "encoder_peak_rss_mb": round(child_peak, 1), "seconds": result["seconds"],
        "load_seconds": round(load_seconds, 2), "resolution": result["resolution"], "outputs": result["outputs"],
        "chunk": args.chunk or runs[0].cfg.eval.chunk, "n_rays": cams.width * cams.height,
        "torch_threads": torch.get_num_threads(), "run": str(args.run), "out": result["out"],
    }))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", help="a trained run folder (default: train a small built-in run in a temp folder)")
    p.add_argument("--steps", type=int, default=300, help="training steps of that run (default 300)")
    p.add_argument("--preset", default="demo", help="config preset of that run (default demo)")
    p.add_argument("--resolution", default="3840x2160")
    p.add_argument("--outputs", default="rgb")
    p.add_argument("--chunk", type=int, help="rays per chunk (default: the run's eval.chunk)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", help="output file or folder (default: a temp .mp4)")
    p.add_argument("--render-child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.render_child:
        render_child(args)
        return 0
    with tempfile.TemporaryDirectory(prefix="render4k-") as tmp:
        run = args.run
        if run is None:
            run = str(Path(tmp) / "run")
            print(f"training a {args.preset} built-in run for {args.steps} steps → {run}", file=sys.stderr)
            subprocess.run([sys.executable, "-m", "nerf_ff.cli", "train", "builtin", "--config", args.preset,
                            "--steps", str(args.steps), "--device", args.device, "--out", run, "--no-eval",
                            "--quiet"], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        cmd = [sys.executable, __file__, "--render-child", "--run", run, "--resolution", args.resolution,
               "--outputs", args.outputs, "--device", args.device, "--out", args.out or str(Path(tmp) / "frame.mp4")]
        if args.chunk:
            cmd += ["--chunk", str(args.chunk)]
        return subprocess.run(cmd, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
