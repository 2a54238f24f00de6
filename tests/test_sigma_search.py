"""--sigma auto: validation views come from the training split only, the golden-section refinement
finds a peak between grid points, and the search runs end to end on a tiny built-in scene."""

import dataclasses
import json
import math

import pytest
import torch
import yaml
from conftest import TINY_RUN

from nerf_ff.cli import main
from nerf_ff.config import RunConfig
from nerf_ff.data import load_scene
from nerf_ff.data.scene import Split
from nerf_ff.errors import UserError
from nerf_ff.sigma_search import SigmaSearch, refine_log_golden, scan_grid, search_sigma, validation_split

TINY = json.loads(json.dumps(TINY_RUN))
TINY["eval"]["max_views"] = 2


@pytest.fixture(scope="module")
def scene():
    return load_scene(RunConfig.from_dict(TINY).scene)


def test_validation_views_are_held_out_training_views(scene):
    sub, val = validation_split(scene, every=8)
    n = len(scene.train)
    assert val == list(range(0, n, 8)) and set(sub.splits) == {"train", "val"}  # no test split to read
    fit = [i for i in range(n) if i not in val]
    assert torch.equal(sub.splits["val"].images, scene.train.images[val])
    assert torch.equal(sub.train.images, scene.train.images[fit])
    assert torch.equal(sub.train.cameras.c2w, scene.train.cameras.c2w[fit])
    one_view = Split(scene.train.images[:1], scene.train.cameras[0])
    with pytest.raises(UserError, match="at least 2 training views"):
        validation_split(dataclasses.replace(scene, splits={"train": one_view}), every=8)


def test_golden_refinement_converges_between_grid_points():
    grid = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]
    for peak in (5.3, 11.0, 0.5):
        def f(s, peak=peak):  # unimodal in log sigma
            return -(math.log(s) - math.log(peak)) ** 2

        probes = []
        sigma, score = refine_log_golden(lambda s, f=f: probes.append(s) or f(s), grid, [f(s) for s in grid], 10)
        assert len(probes) == 10 and score == max([f(s) for s in grid] + [f(s) for s in probes])
        if peak >= 1:  # inside the grid: found to a few percent
            assert abs(math.log(sigma / peak)) < 0.03, (peak, sigma)
        else:  # below the grid: probes stay inside [1, 2] and drift to its lower edge
            assert all(1 < s < 2 for s in probes) and sigma < 1.02
    # Without refinement steps nothing is probed and the grid's best is returned.
    assert refine_log_golden(lambda s: 1 / 0, grid, [0, 1, 5, 2, 0, 0, 0], 0) == (4.0, 5)


def test_grid_stops_once_the_scores_have_fallen_well_past_the_peak():
    grid = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]
    table = {1.0: 21.9, 2.0: 22.6, 4.0: 19.2, 8.0: 13.4, 16.0: 12.8, 32.0: 12.8, 64.0: 13.0}  # the demo's
    asked = []
    sigmas, scores = scan_grid(lambda s: asked.append(s) or table[s], grid, stop_after=2, drop_db=3.0)
    assert sigmas == asked == [1.0, 2.0, 4.0, 8.0] and scores == [table[s] for s in sigmas]
    # A dip of less than drop_db, or a single bad point, does not stop it; stop_after 0 never stops.
    gentle = {s: 20 - 0.5 * i for i, s in enumerate(grid)}
    assert scan_grid(gentle.get, grid, 2, 3.0)[0] == grid
    one_bad = {**table, 8.0: 22.0, 16.0: 12.0, 32.0: 21.0}
    assert scan_grid(one_bad.get, grid, 2, 3.0)[0] == grid
    assert scan_grid(table.get, grid, 0, 3.0)[0] == grid
    # Diverged trials (-inf) before any finite score do not count as falling past a peak.
    assert scan_grid(lambda s: -math.inf, grid, 2, 3.0)[0] == grid


def test_search_on_a_tiny_scene_never_sees_the_test_split(tmp_path, scene):
    cfg = RunConfig.from_dict(TINY).validate()
    train_only = dataclasses.replace(scene, splits={"train": scene.train})  # scene.test would raise
    opts = SigmaSearch(grid=(1.0, 4.0, 16.0), refine_steps=1, fraction=0.5)
    record = search_sigma(cfg, train_only, tmp_path, opts)
    on_disk = json.loads((tmp_path / "sigma_search.json").read_text())
    assert on_disk == json.loads(json.dumps(record)) and on_disk["complete"]
    sigmas, scores = on_disk["sigmas"], on_disk["scores"]
    assert sigmas[:3] == [1.0, 4.0, 16.0] and len(sigmas) == 4
    assert [t["phase"] for t in on_disk["trials"]] == ["grid"] * 3 + ["refine"]
    assert all(5 < s < 60 for s in scores) and all(t > 0 for t in on_disk["seconds"])
    assert on_disk["chosen_sigma"] == sigmas[scores.index(max(scores))]
    best = sigmas[scores[:3].index(max(scores[:3]))]
    neighbours = {1.0: (1.0, 4.0), 4.0: (1.0, 16.0), 16.0: (4.0, 16.0)}[best]
    assert neighbours[0] < sigmas[3] < neighbours[1]  # the probe lies inside the best grid point's bracket
    assert on_disk["trial_steps"] == 15 and on_disk["val_views"] == [0, 8] and on_disk["n_fit_views"] == 10


def test_cli_sigma_auto_trains_with_the_chosen_sigma(tmp_path):
    preset = tmp_path / "tiny.yaml"
    preset.write_text(yaml.safe_dump(TINY))
    out = tmp_path / "run"
    assert main(["train", "builtin", "--config", str(preset), "--sigma", "auto", "--out", str(out), "--quiet"]) == 0
    search = json.loads((out / "sigma_search.json").read_text())
    metrics = json.loads((out / "metrics.json").read_text())
    config = yaml.safe_load((out / "config.yaml").read_text())
    grid = list(SigmaSearch().grid)
    assert search["sigmas"][:len(grid)] == grid and len(search["sigmas"]) <= len(grid) + SigmaSearch().refine_steps
    chosen = search["chosen_sigma"]
    assert chosen in search["sigmas"] and grid[0] <= chosen <= grid[-1]
    assert metrics["sigma"] == config["model"]["sigma"] == chosen
    assert metrics["sigma_search"]["sigmas"] == search["sigmas"] and metrics["steps"] == TINY["train"]["steps"]


def test_sigma_auto_needs_a_gaussian_encoding(tmp_path, scene, capsys):
    cfg = RunConfig.from_dict(TINY).validate()
    cfg.model.encoding = "none"
    with pytest.raises(UserError, match="gaussian or learned"):
        search_sigma(cfg, scene, tmp_path / "lib")
    out = tmp_path / "cli"
    rc = main(["train", "builtin", "--encoding", "none", "--sigma", "auto", "--out", str(out), "--quiet"])
    assert rc == 2 and "--sigma auto needs --encoding gaussian or learned" in capsys.readouterr().err
    assert not out.exists()  # refused before the scene was loaded or anything written
    with pytest.raises(SystemExit):
        main(["train", "--sigma", "often"])
