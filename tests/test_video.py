"""`nerf-ff render`: camera paths through a tiny trained run → mp4 / gif / PNG frames."""

import json
import shutil

import imageio.v3 as iio
import numpy as np
import pytest
import torch
import yaml

from nerf_ff.cli import main
from nerf_ff.config import RunConfig
from nerf_ff.data.procedural import builtin_cameras
from nerf_ff.errors import UserError
from nerf_ff.evaluate import load_run
from nerf_ff.render import render_image
from nerf_ff.trajectories import orbit, save_path_file
from nerf_ff.video import (FrameWriter, colorize_depth, colormap_lut, default_label, parse_outputs,
                           parse_resolution, render_path)

SIZE = 24  # the tiny run's image size (tests/conftest.py)


def _render(capsys, *args) -> dict:
    """Run `nerf-ff render ... --quiet`; return its JSON line."""
    assert main(["render", *map(str, args), "--quiet"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    return json.loads(lines[-1])


def _png(path) -> np.ndarray:
    return iio.imread(path)


def test_orbit_mp4_reads_back_with_moving_frames(tiny_run, tmp_path, capsys):
    out = tmp_path / "orbit.mp4"
    result = _render(capsys, tiny_run, "--path", "orbit", "--frames", 6, "--out", out)
    assert result["frames"] == 6 and result["out"] == str(out) and result["fps"] > 0 and result["seconds"] > 0
    video = iio.imread(out)  # [frames, H, W, 3]
    assert video.shape == (6, SIZE, SIZE, 3)
    diffs = [np.abs(video[i].astype(int) - video[i + 1]).mean() for i in range(5)]
    assert min(diffs) > 0.5, diffs  # the camera moves
    assert sorted(p.name for p in tmp_path.iterdir()) == ["orbit.mp4"]  # no temporary file left


def test_default_out_is_in_the_run_folder(tiny_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    result = _render(capsys, run, "--path", "test", "--frames", 2)
    assert result["out"] == str(run / "videos" / "test.mp4")
    assert iio.imread(run / "videos" / "test.mp4").shape == (2, SIZE, SIZE, 3)


def test_keyframe_file_path_sets_frames_and_fps(tiny_run, tmp_path, capsys):
    keys = tmp_path / "keys.json"
    save_path_file(keys, builtin_cameras(12, SIZE)[[0, 3, 6]], frames=3, fps=12)
    out = tmp_path / "keys.mp4"
    result = _render(capsys, tiny_run, "--path", keys, "--out", out)
    assert result["frames"] == 3
    assert iio.imread(out).shape == (3, SIZE, SIZE, 3) and iio.immeta(out)["fps"] == 12


def test_png_folder_writes_each_output(tiny_run, tmp_path, capsys):
    out = tmp_path / "frames"
    _render(capsys, tiny_run, "--path", "interpolate", "--frames", 3, "--outputs", "rgb,depth,opacity", "--out", out)
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(f"{k}_{i:04d}.png" for k in ("rgb", "depth", "opacity") for i in range(3))
    for i in range(3):
        rgb, depth, opacity = (_png(out / f"{k}_{i:04d}.png") for k in ("rgb", "depth", "opacity"))
        assert rgb.shape == depth.shape == opacity.shape == (SIZE, SIZE, 3)
        assert (opacity[..., 0] == opacity[..., 1]).all() and (opacity[..., 1] == opacity[..., 2]).all()  # grey
        assert (depth[..., 0] != depth[..., 2]).any()  # colour-mapped, not grey


def test_outputs_side_by_side_and_padded_to_even_sizes(tiny_run, tmp_path, capsys):
    out = tmp_path / "rgbd.mp4"
    _render(capsys, tiny_run, "--frames", 2, "--outputs", "rgb,depth", "--out", out)
    assert iio.imread(out).shape == (2, SIZE, 2 * SIZE, 3)
    # An odd size keeps its field of view and is padded (not resized) to even for yuv420p.
    out = tmp_path / "odd.mp4"
    _render(capsys, tiny_run, "--frames", 2, "--outputs", "rgb,depth", "--resolution", "15x13", "--out", out)
    video = iio.imread(out)
    assert video.shape == (2, 14, 30, 3)  # imageio's default would have resized to multiples of 16


def test_gif_output(tiny_run, tmp_path, capsys):
    out = tmp_path / "orbit.gif"
    _render(capsys, tiny_run, "--frames", 4, "--fps", 10, "--out", out)
    frames = iio.imread(out, index=None)
    assert frames.shape[0] == 4 and frames.shape[1:3] == (SIZE, SIZE)


def test_compare_with_itself_gives_identical_halves(tiny_run, tmp_path, capsys):
    same = tmp_path / "same"
    _render(capsys, tiny_run, "--frames", 2, "--compare", tiny_run, "--labels", "x,x", "--outputs", "rgb,depth",
            "--out", same)
    for name in ("rgb_0000.png", "depth_0001.png"):
        frame = _png(same / name)
        assert frame.shape == (SIZE, 2 * SIZE, 3)
        assert np.array_equal(frame[:, :SIZE], frame[:, SIZE:])
    # Different labels change only the labelled top-left corner of each panel.
    ab = tmp_path / "ab"
    _render(capsys, tiny_run, "--frames", 1, "--compare", tiny_run, "--labels", "A,W", "--resolution", "48x48",
            "--out", ab)
    frame = _png(ab / "rgb_0000.png").astype(int)
    assert frame.shape == (48, 96, 3)
    rows = np.nonzero(np.abs(frame[:, :48] - frame[:, 48:]).sum(axis=(1, 2)))[0]
    assert rows.size and rows.max() < 24


def test_compare_video_is_one_column_per_run_and_one_row_per_output(tiny_run, tmp_path, capsys):
    out = tmp_path / "cmp.mp4"
    _render(capsys, tiny_run, "--frames", 2, "--compare", tiny_run, "--outputs", "rgb,opacity", "--out", out)
    assert iio.imread(out).shape == (2, 2 * SIZE, 2 * SIZE, 3)


def test_compare_runs_of_different_scenes_is_a_user_error(tiny_run, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(tiny_run, other)
    cfg = yaml.safe_load((other / "config.yaml").read_text())
    cfg["scene"].update(name="lego", format="blender", path=str(tmp_path / "lego"))
    (tmp_path / "lego").mkdir()  # the dataset is there; it is another one
    (other / "config.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(UserError, match="another scene"):
        render_path(tiny_run, "orbit", frames=1, compare=[other], out=tmp_path / "x.mp4", progress=False)
    assert not (tmp_path / "x.mp4").exists()


@pytest.mark.parametrize("args", [
    ["--path", "helix"],
    ["--resolution", "abc"],
    ["--resolution", "0x10"],
    ["--outputs", "rgb,normals"],
    ["--out", "video.avi"],
    ["--labels", "a,b,c"],
    ["--depth", "mean"],
    ["--fps", "0"],  # not the default fps in disguise
    ["--resolution", "100000x100000"],  # refused before anything is allocated
])
def test_bad_arguments_exit_2_with_one_line(tiny_run, tmp_path, capsys, args):
    out = ["--out", str(tmp_path / "x.mp4")]  # (a later --out in args wins)
    assert main(["render", str(tiny_run), "--frames", "1", "--quiet", *out, *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("nerf-ff: error: ") and "\n" not in err
    assert not list(tmp_path.iterdir())


def test_missing_run_folder_exits_2(tmp_path, capsys):
    assert main(["render", str(tmp_path / "nope"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("nerf-ff: error: ") and "does not exist" in err and "\n" not in err


def test_parsers():
    assert parse_resolution("1280x720") == (1280, 720) and parse_resolution("64X48") == (64, 48)
    for bad in ("abc", "0x10", "10x0", "-5x5", "1.5x2", "10"):
        with pytest.raises(UserError):
            parse_resolution(bad)
    assert parse_outputs("depth, rgb,depth") == ["depth", "rgb"]
    with pytest.raises(UserError):
        parse_outputs("")


def test_default_labels_name_the_embedding():
    cfg = RunConfig()
    cfg.model.encoding, cfg.model.sigma = "gaussian", 8.0
    assert default_label(cfg) == "gaussian sigma=8"
    cfg.model.encoding = "posenc"
    assert default_label(cfg) == "posenc"


def test_depth_colours_span_the_colormap_and_fade_where_transparent():
    lut = colormap_lut("viridis")
    depth = torch.tensor([[1.0, 2.0, 3.0, 0.0, 9.0]])
    opacity = torch.tensor([[1.0, 1.0, 1.0, 1.0, 0.0]])
    img = colorize_depth(depth, opacity, 1.0, 3.0, lut)
    assert img.dtype == torch.uint8 and img.shape == (1, 5, 3)
    assert torch.equal(img[0, 0], lut[0]) and torch.equal(img[0, 2], lut[255])
    assert torch.equal(img[0, 3], lut[0])  # clamped below the range
    assert (img[0, 4] == 0).all()  # transparent: black
    assert not torch.equal(img[0, 1], img[0, 0]) and not torch.equal(img[0, 1], img[0, 2])
    with pytest.raises(UserError):
        colormap_lut("no-such-map")


def test_interrupted_video_leaves_no_file(tmp_path):
    out = tmp_path / "cut.mp4"
    with pytest.raises(RuntimeError):
        with FrameWriter(out, "mp4", 30) as writer:
            writer.write(np.zeros((16, 16, 3), np.uint8))
            raise RuntimeError("interrupted")
    assert not list(tmp_path.iterdir())


def test_field_evaluated_in_slices_renders_the_same_image(tiny_run):
    _, model, _ = load_run(tiny_run, device="cpu")
    cams = orbit(builtin_cameras(12, SIZE), 1)
    bg = torch.ones(3)
    whole = render_image(model.field, model.sampler, cams, 0, bg, chunk=4096)
    sliced = render_image(model.field, model.sampler, cams, 0, bg, chunk=4096, max_samples=100)
    assert whole["n_samples"] > 10 * 100  # many slices per ray chunk
    for k in ("rgb", "depth", "opacity"):
        assert torch.allclose(whole[k], sliced[k], atol=1e-5), k
    expected = render_image(model.field, model.sampler, cams, 0, bg, chunk=4096, depth="expected")
    assert torch.equal(expected["rgb"], whole["rgb"]) and not torch.equal(expected["depth"], whole["depth"])
    opaque = whole["opacity"] > 0.5  # where the field is opaque, both depths lie within the scene's range
    assert opaque.any() and ((whole["depth"][opaque] - expected["depth"][opaque]).abs() < 2.0).all()


def test_png_folder_frames_replace_the_earlier_render_whole(tmp_path):
    """A PNG folder gets the new render's frames only when all are written: an interrupted render leaves
    the earlier frames, a shorter one leaves none of them; other files in the folder stay."""
    out = tmp_path / "frames"
    frame = {"rgb": np.zeros((8, 8, 3), np.uint8), "depth": np.ones((8, 8, 3), np.uint8)}
    with FrameWriter(out, "dir", 30) as writer:
        for _ in range(4):
            writer.write_pngs(frame)
    (out / "notes.txt").write_text("mine")
    with pytest.raises(RuntimeError):
        with FrameWriter(out, "dir", 30) as writer:
            writer.write_pngs({"rgb": np.full((8, 8, 3), 9, np.uint8)})
            raise RuntimeError("interrupted")
    assert len(list(out.glob("*.png"))) == 8 and _png(out / "rgb_0000.png").max() == 0
    with FrameWriter(out, "dir", 30) as writer:
        for _ in range(2):
            writer.write_pngs({"rgb": np.full((8, 8, 3), 9, np.uint8)})
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "rgb_0000.png", "rgb_0001.png"]
    assert _png(out / "rgb_0001.png").min() == 9
    with pytest.raises(RuntimeError):  # a new folder an interrupted render made is not left behind empty
        with FrameWriter(tmp_path / "new", "dir", 30):
            raise RuntimeError("interrupted")
    assert not (tmp_path / "new").exists()


def test_auto_path_orbits_a_walk_around_and_spirals_a_forward_facing_capture():
    from nerf_ff.data.outdoor import facing_cameras  # noqa: PLC0415
    from nerf_ff.video_paths import auto_path  # noqa: PLC0415

    assert auto_path(builtin_cameras(12, SIZE))[0] == "orbit"
    assert auto_path(facing_cameras(12, 48, 36)) == ("spiral", "the cameras share no focus: a forward-facing capture")


def test_spiral_of_a_forward_facing_run_looks_at_the_fields_surfaces(facing, tmp_path, monkeypatch, capsys):
    """`nerf-ff render RUN` on a forward-facing capture: a spiral (an orbit would circle to the unseen back),
    looking at the harmonic mean of the rendered depth of the central training view; one line when that
    view renders nothing opaque."""
    from conftest import tiny_trainer  # noqa: PLC0415

    from nerf_ff import video_paths  # noqa: PLC0415
    from nerf_ff.config import dump_yaml  # noqa: PLC0415

    run = tmp_path / "run"
    run.mkdir()
    trainer = tiny_trainer(facing["ngp"], run)
    dump_yaml(trainer.cfg, run / "config.yaml")
    trainer.fit()
    real = video_paths.render_view
    shown = {}

    def fake(vrun, cams, index, background, chunk, opaque=False, depth="median"):
        out = real(vrun, cams, index, background, chunk, opaque, depth)
        if cams.width <= video_paths.FOCUS_SIDE and "view" not in shown:  # the focus probe: half at 2, half at 4 units
            shown["view"] = (cams.width, cams.height)
            h, w = out["depth"].shape[:2]
            out["depth"] = torch.where(torch.arange(w)[None, :] < w // 2, 2.0, 4.0).expand(h, w).clone()
            out["opacity"] = torch.ones(h, w)
        return out

    monkeypatch.setattr(video_paths, "render_view", fake)
    result = render_path(run, frames=3, progress=False)
    assert result["path"] == "spiral" and result["out"] == str(run / "videos" / "spiral.mp4")
    assert result["focus_depth"] == pytest.approx(1 / ((1 / 2 + 1 / 4) / 2))
    assert iio.imread(run / "videos" / "spiral.mp4").shape[0] == 3
    # An explicit orbit is still an orbit; a field that renders nothing opaque: a one-line error
    assert render_path(run, "orbit", frames=2, progress=False, out=tmp_path / "o.mp4")["path"] == "orbit"

    def transparent(vrun, cams, index, background, chunk, opaque=False, depth="median"):
        out = real(vrun, cams, index, background, chunk, opaque, depth)
        out["opacity"] = torch.zeros_like(out["opacity"])
        return out

    monkeypatch.setattr(video_paths, "render_view", transparent)
    with pytest.raises(UserError, match="renders nothing opaque from its central training view"):
        render_path(run, "spiral", frames=2, progress=False, out=tmp_path / "s.mp4")
