"""Run folders are never lost or mixed: a new run refuses an earlier run's results, the demo replaces only a
demo run (and only what a run writes), and an evaluation of another split or number of views is written
beside the run's own scores instead of over them."""

import json
import shutil

import pytest

from nerf_ff.cli import main
from nerf_ff.errors import UserError
from nerf_ff.evaluate import side_tag
from nerf_ff.rundir import check_free, prepare_demo


def _run_main(capsys, *argv):
    code = main(list(argv))
    return code, capsys.readouterr()


def test_a_new_run_refuses_an_earlier_runs_results(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    check_free(run)  # empty: fine
    (run / "metrics.json").write_text("{}")  # results whose checkpoint was deleted to save space
    with pytest.raises(UserError, match="earlier run's results"):
        check_free(run)
    code, out = _run_main(capsys, "train", "builtin", "--steps", "2", "--no-eval", "--quiet", "--out", str(run))
    assert code == 2 and "metrics.json" in out.err and not (run / "config.yaml").exists()
    (tmp_path / "afile").write_text("x")
    with pytest.raises(UserError, match="is a file"):
        check_free(tmp_path / "afile")


def test_demo_replaces_only_a_demo_run_and_only_its_outputs(tmp_path, tiny_run):
    other = tmp_path / "notes"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    for force in (False, True):  # a folder that is not a demo run is never touched
        with pytest.raises(UserError, match="not a demo run"):
            prepare_demo(other, force)
    assert (other / "notes.txt").read_text() == "mine"
    demo = tmp_path / "demo"
    shutil.copytree(tiny_run, demo)  # the tiny run trains the built-in scene, as the demo does
    for name in ("eval-val", "export", "camera_paths"):
        (demo / name).mkdir()
    (demo / "metrics-val.json").write_text("{}")
    (demo / "mine.txt").write_text("mine")
    with pytest.raises(UserError, match="--force"):
        prepare_demo(demo, force=False)
    assert (demo / "checkpoint.pt").exists()
    prepare_demo(demo, force=True)
    assert sorted(p.name for p in demo.iterdir()) == ["camera_paths", "mine.txt"]
    prepare_demo(tmp_path / "new", force=False)  # absent: fine, nothing created


def test_side_evaluations_keep_the_runs_scores(tmp_path, capsys, tiny_run):
    assert side_tag("test", 0, 0) == "" and side_tag("test", 13, 13) == ""
    assert side_tag("val", 0, 0) == "-val" and side_tag("test", 1, 0) == "-test-1views"
    with pytest.raises(UserError, match=">= 0"):
        side_tag("test", -2, 0)
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    assert _run_main(capsys, "eval", str(run), "--quiet", "--lpips", "none")[0] == 0
    own = json.loads((run / "metrics.json").read_text())
    n_own = len(list((run / "eval").glob("???.png")))
    code, out = _run_main(capsys, "eval", str(run), "--quiet", "--lpips", "none", "--max-views", "1")
    assert code == 0 and json.loads(out.out)["written"] == str(run / "metrics-test-1views.json")
    side = json.loads((run / "metrics-test-1views.json").read_text())
    assert side["n_views"] == 1 and len(list((run / "eval-test-1views").glob("???.png"))) == 1
    assert json.loads((run / "metrics.json").read_text()) == own  # the run's scores and pictures unchanged
    assert len(list((run / "eval").glob("???.png"))) == n_own == own["n_views"] > 1
    code, out = _run_main(capsys, "eval", str(run), "--quiet", "--max-views", "-2")
    assert code == 2 and out.err.count("\n") == 1 and ">= 0" in out.err


def test_an_unwritable_video_is_one_line_and_fit_image_size_is_bounded(tmp_path, monkeypatch):
    from pathlib import Path

    from nerf_ff.fit_image import FitImageConfig
    from nerf_ff.video import FrameWriter

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "touch", refuse)  # root ignores permission bits; the folder refuses the file
    with pytest.raises(UserError, match="cannot write .*orbit.mp4 .*Permission denied"):
        FrameWriter(tmp_path / "videos" / "orbit.mp4", "mp4", 24)
    with pytest.raises(UserError, match="from 8 to 4096"):
        FitImageConfig(size=100000).validate()


def test_resume_takes_the_first_command_again_and_refuses_a_change(tmp_path, capsys, tiny_run):
    """--resume repeats the run's command (scene, flags and --set that match its config.yaml pass); a
    flag that would change the run is an error naming the key, never silently ignored."""
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    for argv, key in ((["fox"], "scene.name"), (["--encoding", "posenc"], "model.encoding"),
                      (["--sigma", "9"], "model.sigma"), (["--set", "model.width=64"], "model.width"),
                      (["--seed", "5"], "train.seed")):
        code, out = _run_main(capsys, "train", *argv, "--resume", "--out", str(run), "--quiet", "--no-eval")
        assert code == 2 and key in out.err and "--resume continues" in out.err, (argv, out.err)
    same = ["builtin", "--sigma", "4", "--set", "model.width=32", "--set", "scene.builtin_resolution=24"]
    code, out = _run_main(capsys, "train", *same, "--resume", "--steps", "34", "--out", str(run), "--quiet", "--no-eval")
    assert code == 0 and "resumed at step 30 of 34" in out.err, out.err
    assert json.loads(out.out.strip().splitlines()[-1])["steps"] == 34


def test_train_without_a_scene_says_it_takes_the_builtin_one(tmp_path, capsys):
    code, out = _run_main(capsys, "train", "--steps", "1", "--no-eval", "--quiet", "--out", str(tmp_path / "r"),
                          "--set", "scene.builtin_resolution=16")
    assert code == 0 and "no scene given: training the built-in scene" in out.err


def test_a_missing_logging_package_fails_before_the_run_folder(tmp_path, capsys, monkeypatch):
    import sys  # noqa: PLC0415

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import raises ImportError
    code, out = _run_main(capsys, "train", "--steps", "1", "--log", "tensorboard", "--out", str(tmp_path / "r"))
    assert code == 2 and "pip install tensorboard" in out.err and not (tmp_path / "r").exists()


def test_debug_after_the_command_shows_the_traceback(tmp_path, capsys):
    code, out = _run_main(capsys, "eval", str(tmp_path / "nope"))
    assert code == 2 and "does not exist" in out.err
    with pytest.raises(UserError, match="does not exist"):
        main(["eval", str(tmp_path / "nope"), "--debug"])


def test_files_written_atomically_get_the_usual_permissions(tmp_path):
    import os  # noqa: PLC0415

    from nerf_ff.files import write_json  # noqa: PLC0415

    old = os.umask(0o022)
    try:
        write_json(tmp_path / "m.json", {"a": 1})
        (tmp_path / "plain.txt").write_text("x")
    finally:
        os.umask(old)
    assert (tmp_path / "m.json").stat().st_mode & 0o777 == (tmp_path / "plain.txt").stat().st_mode & 0o777 == 0o644


def test_a_moved_dataset_names_the_config_to_fix(tmp_path, capsys, tiny_run):
    import yaml  # noqa: PLC0415

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["scene"].update(format="blender", path=str(tmp_path / "moved_away"))
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    code, out = _run_main(capsys, "eval", str(run), "--quiet")
    assert code == 2 and "moved_away any more" in out.err and str(run / "config.yaml") in out.err
