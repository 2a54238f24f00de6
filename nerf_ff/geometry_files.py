"""Geometry files: coloured point clouds and meshes written as binary PLY, meshes as OBJ; PLY points read.

PLY is binary little-endian with `float x, y, z` and `uchar red, green, blue` per vertex (what
MeshLab, Blender, Open3D and CloudCompare read), faces as `list uchar int vertex_indices`. OBJ has
vertex colours as the common `v x y z r g b` extension (colours in [0, 1]) and 1-based faces.
Files are written to a temporary name and renamed, so an interrupted export leaves no half file.
`read_ply_points` reads the vertices of any PLY (ascii or binary, vertex element first) such as the
sparse points nerfstudio and `nerf-ff process` write beside transforms.json (`ply_file_path`).
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


PLY_TYPES = {"char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2", "ushort": "u2",
             "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4", "float": "f4", "float32": "f4",
             "double": "f8", "float64": "f8"}


def read_ply_points(path) -> np.ndarray:
    """The x, y, z of a PLY file's vertices, [N, 3] float64 (other elements and properties are skipped)."""
    path = Path(path)
    with open(path, "rb") as f:
        if f.readline().strip() != b"ply":
            raise UserError(f"{path} is not a PLY file (no 'ply' line at its start)")
        fmt, elements = None, []  # elements: [name, count, [(property, type)]]
        while True:
            line = f.readline()
            if not line:
                raise UserError(f"{path} has no end_header line; the file is cut short")
            words = line.decode("ascii", "replace").split()
            if not words or words[0] in ("comment", "obj_info"):
                continue
            if words[0] == "end_header":
                break
            if words[0] == "format" and len(words) >= 2:
                fmt = words[1]
            elif words[0] == "element" and len(words) == 3:
                elements.append([words[1], int(words[2]), []])
            elif words[0] == "property" and elements:
                if words[1] == "list":
                    elements[-1][2].append((words[-1], "list"))
                elif words[1] in PLY_TYPES and len(words) == 3:
                    elements[-1][2].append((words[2], PLY_TYPES[words[1]]))
                else:
                    raise UserError(f"{path}: unknown PLY property line {line.decode('ascii', 'replace').strip()!r}")
        if not elements or elements[0][0] != "vertex":
            raise UserError(f"{path} has no vertex element first; write the points as a PLY point cloud")
        _, count, props = elements[0]
        names = [n for n, _ in props]
        if not {"x", "y", "z"} <= set(names) or any(t == "list" for _, t in props):
            raise UserError(f"{path}: its vertices have no x, y, z (properties {', '.join(names)})")
        if fmt == "ascii":
            rows = [f.readline().split() for _ in range(count)]
            if any(len(r) < len(names) for r in rows):
                raise UserError(f"{path} holds fewer vertices than its header says ({count}); the file is cut short")
            table = np.array([r[:len(names)] for r in rows], dtype=np.float64).reshape(count, len(names))
            return table[:, [names.index(k) for k in "xyz"]]
        order = {"binary_little_endian": "<", "binary_big_endian": ">"}.get(fmt)
        if order is None:
            raise UserError(f"{path}: PLY format {fmt!r} is unknown (ascii, binary_little_endian, binary_big_endian)")
        dtype = np.dtype([(n, order + t) for n, t in props])
        data = f.read(dtype.itemsize * count)
        if len(data) < dtype.itemsize * count:
            raise UserError(f"{path} holds fewer vertices than its header says ({count}); the file is cut short")
        verts = np.frombuffer(data, dtype=dtype, count=count)
        return np.stack([verts[k].astype(np.float64) for k in "xyz"], axis=1)
