"""Geometry out of a field (issue #15): marching tetrahedra on analytic fields, the built-in scene's
analytic distances, and `nerf-ff export` on a tiny run, read back with independent readers."""

import numpy as np
import pytest
import torch

from nerf_ff.cli import main
from nerf_ff.data.procedural import SOLIDS, builtin_sdf
from nerf_ff.errors import UserError
from nerf_ff.evaluate import load_run
from nerf_ff.export import density_grid, export_mesh, export_points
from nerf_ff.geometry_files import write_mesh, write_ply
from nerf_ff.marching import boundary_edges, marching_tetrahedra


def _grid(fn, n=33, lo=-1.0, hi=1.0):
    ax = torch.linspace(lo, hi, n)
    pts = torch.stack(torch.meshgrid(ax, ax, ax, indexing="ij"), -1)
    return fn(pts.reshape(-1, 3)).reshape(n, n, n), torch.full((3,), lo), torch.full((3,), hi)


def _volume(verts, faces):
    p = verts[faces].double()
    return float(torch.linalg.det(p).sum() / 6)  # signed volume: > 0 when the normals point outwards


def test_sphere_is_closed_outward_and_on_the_surface():
    values, lo, hi = _grid(lambda p: 0.6 - p.norm(dim=-1))  # positive inside
    verts, faces = marching_tetrahedra(values, 0.0, lo, hi)
    assert len(faces) > 500 and boundary_edges(faces) == 0
    cell = 2 / 32
    assert (verts.norm(dim=-1) - 0.6).abs().max() < 0.25 * cell  # linear interpolation of a smooth field
    assert _volume(verts, faces) == pytest.approx(4 / 3 * np.pi * 0.6**3, rel=0.03)
    # Euler characteristic of a sphere: V - E + F = 2.
    n_edges = len(torch.unique(torch.sort(torch.cat([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), 1).values,
                               dim=0))
    assert len(verts) - n_edges + len(faces) == 2


def test_two_touching_blobs_and_a_cut_surface():
    # Two spheres that overlap: one closed surface of genus 0; an open cut where the grid ends.
    values, lo, hi = _grid(lambda p: torch.maximum(0.45 - (p - torch.tensor([0.35, 0, 0])).norm(dim=-1),
                                                   0.45 - (p + torch.tensor([0.35, 0, 0])).norm(dim=-1)))
    verts, faces = marching_tetrahedra(values, 0.0, lo, hi)
    assert boundary_edges(faces) == 0 and _volume(verts, faces) > 0
    slab, lo, hi = _grid(lambda p: 0.3 - p[:, 2].abs())  # a slab through the whole grid: open at the border
    _, faces = marching_tetrahedra(slab, 0.0, lo, hi)
    assert boundary_edges(faces) > 0
    empty, lo, hi = _grid(lambda p: -torch.ones(len(p)))
    assert marching_tetrahedra(empty, 0.0, lo, hi)[1].shape == (0, 3)


def test_builtin_sdf_matches_the_ray_caster():
    # Points on the first hit of rays are on a surface (sdf ~ 0); the centres are inside; far is outside.
    from nerf_ff.data.procedural import builtin_cameras, trace_builtin
    from nerf_ff.data.cameras import image_rays

    cams = builtin_cameras(2, 24)
    o, d = image_rays(cams, 0)
    _, hit, t = trace_builtin(o, d)
    surface = o.double()[hit] + t[hit, None] * d.double()[hit]
    assert builtin_sdf(surface).abs().max() < 2e-3
    step = 0.005 * d.double()[hit]  # a little before the hit is outside, a little after inside (bar grazing rays)
    assert (builtin_sdf(surface - step) > 0).all() and (builtin_sdf(surface + step) < 0).float().mean() > 0.97
    assert (builtin_sdf(torch.stack([s.centre for s in SOLIDS])) < -0.1).all()
    assert builtin_sdf(torch.tensor([[3.0, 3.0, 3.0]])) > 4


def test_writers_read_back_with_independent_readers(tmp_path):
    trimesh = pytest.importorskip("trimesh", reason="trimesh reads the exported meshes back (test extra)")
    plyfile = pytest.importorskip("plyfile", reason="plyfile reads the exported points back (test extra)")
    values, lo, hi = _grid(lambda p: 0.6 - p.norm(dim=-1), n=17)
    verts, faces = marching_tetrahedra(values, 0.0, lo, hi)
    rgb = (np.arange(len(verts) * 3) % 256).reshape(-1, 3).astype(np.uint8)
    for name in ("m.ply", "m.obj"):
        write_mesh(tmp_path / name, verts.numpy(), rgb, faces.numpy())
        mesh = trimesh.load(tmp_path / name, process=False)
        assert mesh.vertices.shape == verts.shape and len(mesh.faces) == len(faces)
        assert mesh.is_watertight and mesh.is_winding_consistent and mesh.volume > 0
        assert np.allclose(mesh.vertices, verts.numpy(), atol=1e-5)
        assert np.array_equal(np.asarray(mesh.visual.vertex_colors)[:, :3], rgb)
    write_ply(tmp_path / "p.ply", verts.numpy(), rgb)
    el = plyfile.PlyData.read(tmp_path / "p.ply")["vertex"]
    assert np.allclose(np.stack([el["x"], el["y"], el["z"]], 1), verts.numpy())
    assert np.array_equal(np.stack([el["red"], el["green"], el["blue"]], 1), rgb)
    with pytest.raises(UserError, match=".ply or .obj"):
        write_mesh(tmp_path / "m.stl", verts.numpy(), rgb, faces.numpy())


def test_export_of_a_tiny_run(tiny_run, tmp_path, capsys):
    # A few dozen steps learn little density: the surface at half its largest value on the grid.
    _, model, _ = load_run(tiny_run)
    level = 0.5 * float(density_grid(model.field, model.field.aabb.cpu(), 24, progress=False).max())
    mesh = export_mesh(tiny_run, tmp_path / "mesh.ply", resolution=24, threshold=level, progress=False)
    assert mesh["faces"] > 0 and mesh["open_edges"] == 0 and mesh["resolution"] == [24, 24, 24]
    assert (tmp_path / "mesh.ply").stat().st_size > 100
    pts = export_points(tiny_run, tmp_path / "pts.ply", views=3, min_opacity=0.5, progress=False)
    assert pts["views"] == 3 and 0 < pts["points"] <= 3 * 24 * 24
    box = torch.tensor(pts["bounds"])
    assert box.tolist() == [-1, -1, -1, 1, 1, 1] and pts["depth"] == "median"
    exp = export_points(tiny_run, tmp_path / "pts_exp.ply", views=3, min_opacity=0.5, progress=False, depth="expected")
    assert exp["depth"] == "expected" and exp["points"] > 0
    # The CLI: one of --points / --mesh, and one-line errors for bad values.
    assert main(["export", str(tiny_run), "--mesh", "--resolution", "24", "--threshold", str(level), "--quiet",
                 "--out", str(tmp_path / "m.obj")]) == 0
    assert (tmp_path / "m.obj").is_file()
    with pytest.raises(SystemExit):
        main(["export", str(tiny_run), "--points", "--mesh"])
    capsys.readouterr()
    for bad in (["--mesh", "--out", str(tmp_path / "m.stl")], ["--mesh", "--bounds", "1", "1", "1", "0", "0", "0"],
                ["--points", "--min-opacity", "1.5"], ["--points", "--depth", "mean"], ["--mesh", "--threshold", "1e9", "--resolution", "8"]):
        assert main(["export", str(tiny_run), *bad, "--quiet"]) != 0
        err = capsys.readouterr().err.strip()
        assert err.startswith("nerf-ff: error:") and "\n" not in err and "Traceback" not in err, err
    # An option of the other kind is refused, not ignored
    for bad, named in ((["--points", "--resolution", "64"], "--resolution applies to export --mesh only"),
                       (["--mesh", "--views", "3", "--depth", "expected"], "--views, --depth apply to export --points only")):
        assert main(["export", str(tiny_run), *bad, "--quiet"]) == 2
        assert named in capsys.readouterr().err
