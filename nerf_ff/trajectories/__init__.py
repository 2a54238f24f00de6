"""Camera trajectories for novel-view videos: orbit, spiral, interpolated tours, keyframe files.

Every generator returns `Cameras` (OpenGL camera-to-world [N, 3, 4], float32, on the CPU) that the
renderer consumes directly; the geometry is computed in float64. Output cameras are ideal pinholes
(no distortion) with the intrinsics of a reference camera (the first training camera unless
`reference` is given); `resolution=(W, H)` rescales them keeping the field of view, as
`Cameras.scaled` does.

Submodules: `frame` (helpers, quaternions, the scene frame from training cameras: `focus_point`,
`estimate_up`), `generators` (`orbit`, `spiral`, `nearest_tour`, `interpolate`, `held_out_views`),
`spline` (`KeyframePath`), `keyframes` (this project's keyframe file: `load_path_file`,
`save_path_file`; its format is documented there) and `nerfstudio` (nerfstudio's
`camera_path.json`: `save_nerfstudio_path`).
"""

from .frame import estimate_up, focus_point
from .generators import held_out_views, interpolate, nearest_tour, orbit, spiral
from .keyframes import FORMAT, load_path_file, save_path_file
from .nerfstudio import save_nerfstudio_path
from .spline import KeyframePath

__all__ = ["FORMAT", "KeyframePath", "estimate_up", "focus_point", "held_out_views", "interpolate", "load_path_file",
           "nearest_tour", "orbit", "save_nerfstudio_path", "save_path_file", "spiral"]
