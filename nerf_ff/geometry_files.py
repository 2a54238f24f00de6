"""Writing geometry for other tools: coloured point clouds and meshes as binary PLY, meshes as OBJ.

PLY is binary little-endian with `float x, y, z` and `uchar red, green, blue` per vertex (what
MeshLab, Blender, Open3D and CloudCompare read), faces as `list uchar int vertex_indices`. OBJ has
vertex colours as the common `v x y z r g b` extension (colours in [0, 1]) and 1-based faces.
Files are written to a temporary name and renamed, so an interrupted export leaves no half file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from .errors import UserError
from .files import atomic_write

SUFFIXES = (".ply", ".obj")


def _vertex_array(xyz: np.ndarray, rgb: Optional[np.ndarray]) -> np.ndarray:
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    if rgb is not None:
        fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
    arr = np.empty(len(xyz), dtype=fields)
    for i, k in enumerate("xyz"):
        arr[k] = xyz[:, i]
    if rgb is not None:
        for i, k in enumerate(("red", "green", "blue")):
            arr[k] = rgb[:, i]
    return arr


def write_ply(path, xyz: np.ndarray, rgb: Optional[np.ndarray] = None, faces: Optional[np.ndarray] = None) -> Path:
    """xyz [N, 3] float, rgb [N, 3] uint8 (or None), faces [F, 3] int (or None: a point cloud)."""
    verts = _vertex_array(np.asarray(xyz, np.float32), None if rgb is None else np.asarray(rgb, np.uint8))
    header = ["ply", "format binary_little_endian 1.0", "comment written by nerf_ff", f"element vertex {len(verts)}",
              "property float x", "property float y", "property float z"]
    if rgb is not None:
        header += ["property uchar red", "property uchar green", "property uchar blue"]
    face_arr = None
    if faces is not None:
        face_arr = np.empty(len(faces), dtype=[("n", "u1"), ("v", "<i4", (3,))])
        face_arr["n"] = 3
        face_arr["v"] = np.asarray(faces, np.int64)
        header += [f"element face {len(face_arr)}", "property list uchar int vertex_indices"]
    header.append("end_header")

    def write(f):
        f.write(("\n".join(header) + "\n").encode("ascii"))
        f.write(verts.tobytes())
        if face_arr is not None:
            f.write(face_arr.tobytes())

    return atomic_write(path, write)


def write_obj(path, xyz: np.ndarray, rgb: Optional[np.ndarray], faces: np.ndarray) -> Path:
    xyz = np.asarray(xyz, np.float64)

    def write(f):
        f.write(b"# written by nerf_ff\n")
        if rgb is not None:
            cols = np.asarray(rgb, np.float64) / 255.0
            np.savetxt(f, np.hstack([xyz, cols]), fmt="v %.6f %.6f %.6f %.4f %.4f %.4f")
        else:
            np.savetxt(f, xyz, fmt="v %.6f %.6f %.6f")
        np.savetxt(f, np.asarray(faces, np.int64) + 1, fmt="f %d %d %d")

    return atomic_write(path, write)


def write_mesh(path, xyz: np.ndarray, rgb: Optional[np.ndarray], faces: np.ndarray) -> Path:
    suffix = Path(path).suffix.lower()
    if suffix == ".ply":
        return write_ply(path, xyz, rgb, faces)
    if suffix == ".obj":
        return write_obj(path, xyz, rgb, faces)
    raise UserError(f"cannot write a mesh as {Path(path).name!r}; use a .ply or .obj file name")
