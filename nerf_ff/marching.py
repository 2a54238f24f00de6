"""Iso-surfaces of a sampled field: marching tetrahedra on a regular grid, vectorised in torch.

Each grid cube is split into the six tetrahedra of its Kuhn (Freudenthal) triangulation, all sharing
the cube's main diagonal; neighbouring cubes split their common face along the same diagonal, so the
tetrahedra form one consistent mesh of space. A tetrahedron crossed by the level set contributes one
triangle (one or three corners inside) or a quad of two (two inside), with vertices on its crossed
edges, linearly interpolated. Vertices are keyed by the grid edge they lie on, so triangles of
neighbouring cells share them: with the grid padded by one empty layer the surface is closed
(watertight) by construction, with none of marching cubes' ambiguous cases. Triangles are oriented
with their normal pointing from inside (value > level) to outside.

Only cubes that straddle the level are visited, so the cost follows the surface area, not the volume.
"""

from __future__ import annotations

import itertools

import torch
from torch import Tensor

# Cube corners as (dx, dy, dz) bits: corner c = dx + 2 dy + 4 dz.
_CORNERS = torch.tensor([[c & 1, (c >> 1) & 1, (c >> 2) & 1] for c in range(8)])


def _kuhn_tetrahedra() -> Tensor:
    """[6, 4] corner indices: for each order of the axes, the path 000 -> ... -> 111 along it."""
    tets = []
    for perm in itertools.permutations(range(3)):
        step = [0, 0, 0]
        path = [0]
        for axis in perm:
            step[axis] = 1
            path.append(step[0] + 2 * step[1] + 4 * step[2])
        tets.append(path)
    return torch.tensor(tets)


def _case_table() -> tuple[Tensor, Tensor]:
    """For each of the 16 inside-patterns of a tetrahedron: up to 2 triangles, each 3 edges given as
    (local vertex, local vertex). Returns edges [16, 2, 3, 2] and a mask [16, 2] of triangles used."""
    edges = torch.zeros(16, 2, 3, 2, dtype=torch.long)
    used = torch.zeros(16, 2, dtype=torch.bool)
    for mask in range(16):
        inside = [v for v in range(4) if mask >> v & 1]
        outside = [v for v in range(4) if not mask >> v & 1]
        if len(inside) in (1, 3):
            lone = inside[0] if len(inside) == 1 else outside[0]
            others = [v for v in range(4) if v != lone]
            edges[mask, 0] = torch.tensor([[lone, o] for o in others])
            used[mask, 0] = True
        elif len(inside) == 2:
            (i, j), (k, m) = inside, outside
            quad = [[i, k], [i, m], [j, m], [j, k]]  # cyclic: consecutive edges share a vertex
            edges[mask, 0] = torch.tensor([quad[0], quad[1], quad[2]])
            edges[mask, 1] = torch.tensor([quad[0], quad[2], quad[3]])
            used[mask] = True
    return edges, used


_TETS = _kuhn_tetrahedra()
_CASE_EDGES, _CASE_USED = _case_table()


def marching_tetrahedra(values: Tensor, level: float, lo: Tensor, hi: Tensor) -> tuple[Tensor, Tensor]:
    """Iso-surface {values = level} of a grid sampled at [N0, N1, N2] points spanning the box lo..hi
    (float [3] each; point (i, j, k) at lo + (i, j, k) (hi - lo) / (N - 1)).

    Returns vertices [V, 3] float32 (world units) and faces [F, 3] int64, oriented outwards (towards
    values below the level). The surface is closed where it does not reach the grid's border; pad
    the grid with values below the level to close it everywhere."""
    v = values.float()
    n0, n1, n2 = v.shape
    if min(n0, n1, n2) < 2:
        raise ValueError("marching_tetrahedra needs at least 2 samples along each axis")
    inside = v > level
    # Cubes that straddle the level: some corner inside and some outside.
    corners = [inside[dx:n0 - 1 + dx, dy:n1 - 1 + dy, dz:n2 - 1 + dz] for dx, dy, dz in _CORNERS.tolist()]
    any_in = torch.stack(corners).any(0)
    all_in = torch.stack(corners).all(0)
    cubes = (any_in & ~all_in).nonzero()  # [C, 3] lower corners
    empty = torch.zeros(0, 3)
    if cubes.numel() == 0:
        return empty, torch.zeros(0, 3, dtype=torch.long)
    strides = torch.tensor([n1 * n2, n2, 1])
    # Global grid index of each tetrahedron's 4 vertices: [C, 6, 4].
    corner_pts = cubes[:, None, :] + _CORNERS[None]  # [C, 8, 3]
    corner_ids = (corner_pts * strides).sum(-1)  # [C, 8]
    tet_ids = corner_ids[:, _TETS].reshape(-1, 4)  # [C*6, 4]
    flat_v, flat_in = v.reshape(-1), inside.reshape(-1)
    tet_in = flat_in[tet_ids]  # [T, 4]
    mask = (tet_in.long() * torch.tensor([1, 2, 4, 8])).sum(-1)
    keep = (mask != 0) & (mask != 15)
    tet_ids, mask = tet_ids[keep], mask[keep]
    # Triangles: [T, 2, 3, 2] local edge ends -> global vertex ids, only the used triangles.
    local = _CASE_EDGES[mask]  # [T, 2, 3, 2]
    used = _CASE_USED[mask]  # [T, 2]
    ends = torch.gather(tet_ids[:, None, None, :].expand(-1, 2, 3, 4), 3, local)  # [T, 2, 3, 2]
    tri_ends = ends[used]  # [F, 3, 2]
    # Orientation reference: from the centroid of the tetrahedron's inside corners to its outside ones.
    tet_of_tri = torch.arange(len(mask))[:, None].expand(-1, 2)[used]  # [F]
    # Vertices: one per crossed grid edge, keyed (min id, max id).
    a, b = tri_ends[..., 0], tri_ends[..., 1]
    lo_id, hi_id = torch.minimum(a, b), torch.maximum(a, b)
    n_total = n0 * n1 * n2
    keys, faces = torch.unique((lo_id * n_total + hi_id).reshape(-1), return_inverse=True)
    faces = faces.view(-1, 3)
    e0, e1 = keys // n_total, keys % n_total
    v0, v1 = flat_v[e0], flat_v[e1]
    t = ((level - v0) / (v1 - v0)).clamp(0, 1)[:, None]
    scale = (hi.float() - lo.float()) / torch.tensor([n0 - 1, n1 - 1, n2 - 1], dtype=torch.float32)

    def position(ids: Tensor) -> Tensor:
        ijk = torch.stack([ids // (n1 * n2), (ids // n2) % n1, ids % n2], -1).float()
        return lo.float() + ijk * scale

    verts = position(e0) + t * (position(e1) - position(e0))
    # Orient: the triangle's normal must point from the inside corners to the outside ones.
    tet_pts = position(tet_ids[tet_of_tri])  # [F, 4, 3]
    tin = tet_in[keep][tet_of_tri].float()[..., None]  # [F, 4, 1]
    c_in = (tet_pts * tin).sum(1) / tin.sum(1)
    c_out = (tet_pts * (1 - tin)).sum(1) / (1 - tin).sum(1)
    p = verts[faces]
    normal = torch.linalg.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    flip = (normal * (c_out - c_in)).sum(-1) < 0
    faces[flip] = faces[flip][:, [0, 2, 1]]
    return verts, faces


def boundary_edges(faces: Tensor) -> int:
    """Number of mesh edges not shared by exactly two faces (0 for a closed, manifold mesh)."""
    e = torch.cat([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    e = torch.sort(e, dim=1).values
    _, counts = torch.unique(e, dim=0, return_counts=True)
    return int((counts != 2).sum())
