"""Write the generated benchmark scenes of BENCHMARKS.md ("real scenes" section) into a folder.

    python scripts/make_scenes.py OUT
        OUT/object_blender   the built-in objects as a NeRF-synthetic folder (64x64, 60 train / 16 test, RGBA)
        OUT/outdoor_ngp      the unbounded outdoor scene (96x72, 48 ring views) as instant-ngp transforms.json
        OUT/outdoor_colmap   the same views as a COLMAP text model with sparse points
        OUT/facing_llff      the outdoor scene from a forward-facing rig (96x72, 24 views) as LLFF poses_bounds.npy
        OUT/facing_colmap    the same views as a COLMAP text model
        OUT/facing_ngp       the same views as transforms.json without points (the box: the cameras' spread);
                             OUT/facing_ngp_ply: with its sparse points as sparse_pc.ply (ply_file_path)
        OUT/fisheye_ngp      the ring's poses through an OpenCV fisheye lens (96x72, ~165 degrees across) as
                             nerfstudio transforms.json (camera_model OPENCV_FISHEYE)
        OUT/fisheye_colmap   the same views as a COLMAP text model (an OPENCV_FISHEYE camera)
        OUT/transient_ngp    outdoor_ngp's views with passers-by painted into the training views, and masks
                             of them (mask_path); OUT/transient_nomask: the same images without the masks
        OUT/noisy_ngp        outdoor_ngp with the training views' poses off by 1 degree and 0.03 units (1 % of
                             the ring's radius), as structure from motion gets them wrong; held-out poses exact
        OUT/portrait_ngp     outdoor_ngp with every third view (0, 3, ...) a portrait camera (72x96): images of two
                             sizes, per-frame intrinsics; OUT/portrait_colmap: the same as a COLMAP model, two cameras
"""

import sys
import time
from pathlib import Path

from nerf_ff.config import SceneConfig
from nerf_ff.data.outdoor import (add_transients, facing_cameras, fisheye_cameras, render_outdoor, ring_cameras,
                                  with_portraits, write_outdoor_scene)
from nerf_ff.data.procedural import make_builtin_scene, write_blender_folder


POSE_NOISE = (1.0, 0.03)  # degrees, world units: the noisy_ngp scene's pose errors


def main(out: str) -> None:
    root = Path(out)
    t0 = time.perf_counter()
    write_blender_folder(make_builtin_scene(SceneConfig()), root / "object_blender")
    images = render_outdoor(ring_cameras())
    for layout in ("ngp", "colmap"):
        write_outdoor_scene(root / f"outdoor_{layout}", layout, images=images)
    busy, masks = add_transients(images)
    write_outdoor_scene(root / "transient_ngp", "ngp", images=busy, masks=masks)
    write_outdoor_scene(root / "transient_nomask", "ngp", images=busy)
    write_outdoor_scene(root / "noisy_ngp", "ngp", images=images, pose_noise=POSE_NOISE)
    images = render_outdoor(with_portraits(ring_cameras(), 3))
    for layout in ("ngp", "colmap"):
        write_outdoor_scene(root / f"portrait_{layout}", layout, images=images, portrait_every=3)
    images = render_outdoor(facing_cameras())
    for layout in ("llff", "colmap", "ngp"):
        write_outdoor_scene(root / f"facing_{layout}", layout, 24, images=images, rig="facing")
    write_outdoor_scene(root / "facing_ngp_ply", "ngp", 24, images=images, rig="facing", ply=True)
    images = render_outdoor(fisheye_cameras())
    for layout in ("ngp", "colmap"):
        write_outdoor_scene(root / f"fisheye_{layout}", layout, images=images, rig="fisheye")
    print(f"wrote {root}/object_blender, outdoor_ngp, outdoor_colmap, facing_llff, facing_colmap, facing_ngp, facing_ngp_ply, fisheye_ngp, fisheye_colmap, "
          f"transient_ngp, transient_nomask, noisy_ngp, portrait_ngp, portrait_colmap "
          f"in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "scenes_data")
