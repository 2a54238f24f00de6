"""A web viewer for runs, trained or training (viser; `pip install 'nerf_ff[viewer]'`).

    camera.py       browser camera (OpenCV axes) <-> Cameras (OpenGL axes)
    render_loop.py  per-browser progressive rendering: small while moving, full size at rest
    server.py       the viser scene and panel: frustums, outputs, metrics, training, camera paths
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def open_run(run_dir, *, host: str = "127.0.0.1", port: int = 8080, device=None, full_side=None):
    """Load a run folder and serve it; returns the Viewer (its `url`)."""
    from ..data import load_scene  # noqa: PLC0415
    from ..evaluate import load_run  # noqa: PLC0415
    from .server import Viewer, import_viser  # noqa: PLC0415

    import_viser()  # a missing extra fails before the run is loaded
    cfg, model, _ = load_run(run_dir, device)
    scene = model.posed(load_scene(cfg.scene, splits=("train",)))  # refined cameras, if any
    metrics_path = Path(run_dir) / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else None
    return Viewer(model, cfg, scene, run_dir, metrics=metrics, host=host, port=port, full_side=full_side)


def serve_forever(viewer, note: str = "") -> int:
    print(f"viewer at {viewer.url}{note} (Ctrl+C to quit)", file=sys.stderr, flush=True)
    try:
        while True:
            time.sleep(1.0)
    except KeyboardInterrupt:
        viewer.close()
    return 0
