#!/usr/bin/env python
"""How far a run's camera poses are from the truth, before and after train.pose_refine.

    python scripts/pose_error.py RUN TRUE_SCENE

RUN was trained on a scene whose training poses are perturbed (make_scenes.py's noisy_ngp); TRUE_SCENE is
the same views with exact poses (outdoor_ngp). Both pose sets are first aligned to the truth by the rigid
similarity that fits them best (poses.common_motion), as pose errors are only defined up to one; then the rotation
(degrees) and camera-centre (world units) errors of the training cameras, given and refined, and of the
held-out cameras where the run evaluates them.
"""

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nerf_ff.config import SceneConfig  # noqa: E402
from nerf_ff.data import load_scene  # noqa: E402
from nerf_ff.evaluate import load_run  # noqa: E402
from nerf_ff.poses import common_motion, move_cameras  # noqa: E402


def errors(c2w, truth, box):
    """Mean and max rotation (deg) and centre (world units) error of c2w [N,3,4] against truth after alignment."""
    aligned = move_cameras(c2w, *common_motion(c2w, truth, box))
    rel = aligned[:, :, :3].transpose(1, 2) @ truth[:, :, :3]
    ang = torch.rad2deg(torch.arccos(((rel.diagonal(dim1=1, dim2=2).sum(-1) - 1) / 2).clamp(-1, 1)))
    pos = (aligned[:, :, 3] - truth[:, :, 3]).norm(dim=-1)
    return {"rot_deg_mean": round(float(ang.mean()), 3), "rot_deg_max": round(float(ang.max()), 3),
            "centre_mean": round(float(pos.mean()), 4), "centre_max": round(float(pos.max()), 4)}


def main(run_dir: str, truth_dir: str) -> None:
    cfg, model, _ = load_run(run_dir, "cpu")
    given = load_scene(cfg.scene)
    truth = load_scene(SceneConfig(**{**cfg.scene.__dict__, "path": truth_dir, "name": "truth"}))
    assert given.train.names == truth.train.names, "the two scenes must hold the same views"
    box = float((given.aabb[3:] - given.aabb[:3]).max())
    out = {"given": errors(given.train.cameras.c2w, truth.train.cameras.c2w, box)}
    if model.poses is not None:
        refined = model.posed(given)
        out["refined"] = errors(refined.train.cameras.c2w, truth.train.cameras.c2w, box)
        # held-out cameras as the run renders them, against their true poses (no alignment: the run's frame)
        d = refined.test.cameras.c2w
        rel = d[:, :, :3].transpose(1, 2) @ truth.test.cameras.c2w[:, :, :3]
        ang = torch.rad2deg(torch.arccos(((rel.diagonal(dim1=1, dim2=2).sum(-1) - 1) / 2).clamp(-1, 1)))
        out["held_out_moved_deg_mean"] = round(float(ang.mean()), 3)
        out["held_out_moved_mean"] = round(float((d[:, :, 3] - truth.test.cameras.c2w[:, :, 3]).norm(dim=-1).mean()), 4)
    print(json.dumps(out))


if __name__ == "__main__":
    main(*sys.argv[1:3])
