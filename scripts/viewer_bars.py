"""The viewer and export bars (BENCHMARKS.md, "Viewer and export"), on a trained built-in run.

    python scripts/viewer_bars.py RUN_DIR [--mesh-resolution 128]

1. Viewer latency, in a real headless Chromium: the server moves the browser's camera (as a drag
   does) and times, from the camera message arriving to the image being handed to the browser, the
   first (preview) image and the full-resolution one once the camera rests; 10 moves.
2. Export of the built-in scene: the mesh's open edges (0: watertight) and, for every vertex, its
   distance to the scene's analytic surfaces (data/procedural.py builtin_sdf) in grid cells.
3. A camera path made in the viewer (4 keyframes, 30 frames): the preview's frames against
   `nerf-ff render RUN --path FILE`'s.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from browser import Browser, chromium_path, free_port  # noqa: E402

from nerf_ff.data.procedural import SOLIDS, builtin_sdf  # noqa: E402
from nerf_ff.export import export_mesh  # noqa: E402
from nerf_ff.viewer import open_run  # noqa: E402
from nerf_ff.viewer.camera import c2w_to_viser  # noqa: E402


def viewer_latency(run_dir: str, moves: int = 10) -> dict:
    viewer = open_run(run_dir, port=free_port())
    browser = Browser(width=1000, height=700) if chromium_path() else None
    if browser is None:
        raise SystemExit("needs headless Chromium (Debian: apt-get install chromium)")
    try:
        browser.goto(viewer.url)
        deadline = time.time() + 60
        while not viewer.clients and time.time() < deadline:
            time.sleep(0.1)
        client = next(iter(viewer.server.get_clients().values()))
        view = next(iter(viewer.clients.values()))
        time.sleep(3.0)  # the first full image
        cams = viewer.scene.train.cameras
        firsts, fulls, sizes = [], [], []
        for k in range(moves):
            wxyz, pos = c2w_to_viser(cams.c2w[(7 * k + 3) % len(cams)].double().numpy())
            n = len(view.timings)
            client.camera.position = tuple(pos)
            client.camera.look_at = tuple(float(v) for v in viewer.focus)
            deadline = time.time() + 30
            while time.time() < deadline and not any(t["full"] for t in view.timings[n:]):
                time.sleep(0.01)
            new = view.timings[n:]
            pre = [t for t in new if not t["full"]]
            full = [t for t in new if t["full"]]
            if pre:
                firsts.append(pre[0]["seconds"])
            if full:
                fulls.append(full[-1]["seconds"] - view.rest_s)  # after the camera rests
                sizes.append(list(full[-1]["shape"]))
            time.sleep(0.5)
    finally:
        browser.close()
        viewer.close()
    return {"moves": moves, "first_image_s": {"median": float(np.median(firsts)), "max": float(np.max(firsts))},
            "full_after_rest_s": {"median": float(np.median(fulls)), "max": float(np.max(fulls))},
            "full_size": sizes[0] if sizes else None, "preview_side": viewer.preview_side}


def mesh_accuracy(run_dir: str, resolution: int) -> dict:
    out = Path(run_dir) / "export" / f"mesh_{resolution}.ply"
    res = export_mesh(run_dir, out, resolution=resolution, progress=False)
    import trimesh  # noqa: PLC0415

    mesh = trimesh.load(out, process=False)
    cell = float(np.max(res["cell"]))
    verts = torch.from_numpy(np.asarray(mesh.vertices)).double()
    signed = builtin_sdf(verts).numpy() / cell
    d = np.abs(signed)
    nearest = torch.stack([s.sdf_local(s.to_local(verts)) for s in SOLIDS], -1).abs().argmin(-1).numpy()
    per_solid = {type(s).__name__ + str(k): float((d[nearest == k] <= 1).mean()) for k, s in enumerate(SOLIDS)}
    parts = mesh.split(only_watertight=False)
    return {**{k: res[k] for k in ("vertices", "faces", "threshold", "resolution", "open_edges", "seconds")},
            "watertight": bool(mesh.is_watertight), "components": len(parts),
            "watertight_components": int(sum(p.is_watertight for p in parts)),
            "within_1_cell": float((d <= 1).mean()), "within_half_cell": float((d <= 0.5).mean()),
            "median_cells": float(np.median(d)), "p95_cells": float(np.quantile(d, 0.95)), "cell": cell,
            "mean_signed_cells": float(signed.mean()), "within_1_cell_per_solid": per_solid}


def camera_path_check(run_dir: str, out_dir: str = "/tmp/nerf_ff_campath") -> dict:
    import glob  # noqa: PLC0415
    import shutil  # noqa: PLC0415
    import subprocess  # noqa: PLC0415

    import imageio.v3 as iio  # noqa: PLC0415

    from nerf_ff.viewer.camera import fov_y  # noqa: PLC0415

    viewer = open_run(run_dir, port=free_port())
    try:
        cams = viewer.scene.train.cameras
        for i in (0, 10, 20, 30):
            wxyz, pos = c2w_to_viser(cams.c2w[i % len(cams)].double().numpy())
            viewer.add_keyframe(wxyz, pos, fov_y(cams), 1.6)
        viewer.frames.value = 30
        frames = viewer.preview_path(path=f"{out_dir}/path.json")
    finally:
        viewer.close()
    shutil.rmtree(f"{out_dir}/frames", ignore_errors=True)
    subprocess.run([sys.executable, "-m", "nerf_ff.cli", "render", run_dir, "--path", f"{out_dir}/path.json", "--out",
                    f"{out_dir}/frames", "--quiet"], check=True, stdout=subprocess.DEVNULL)
    files = sorted(glob.glob(f"{out_dir}/frames/rgb_*.png"))
    diffs = [int(np.abs(a.astype(int) - iio.imread(f)[..., :3].astype(int)).max()) for a, f in zip(frames, files)]
    return {"preview_frames": len(frames), "rendered_frames": len(files), "max_abs_diff": max(diffs),
            "identical_frames": sum(d == 0 for d in diffs)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir")
    ap.add_argument("--mesh-resolution", type=int, default=128)
    ap.add_argument("--skip-viewer", action="store_true")
    args = ap.parse_args()
    out = {"mesh": mesh_accuracy(args.run_dir, args.mesh_resolution)}
    print(json.dumps(out), flush=True)
    if not args.skip_viewer:
        out["viewer"] = viewer_latency(args.run_dir)
        out["camera_path"] = camera_path_check(args.run_dir)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
