"""Sweeps on Ray, for real (no mocks): a local Ray started by the sweep, and a two-node cluster
simulated on this machine with Ray's own test utilities (ray.cluster_utils.Cluster), one node of
which is killed in the middle of the sweep."""

import json
import threading
import time

import pytest
import yaml
from conftest import TINY_RUN

from nerf_ff.errors import UserError
from nerf_ff.sweep import sweep_main

ray = pytest.importorskip("ray", reason="Ray is an optional extra (pip install -e .[ray])")


def _sweep(tmp_path, encodings, steps=30, checkpoint_every=1000) -> str:
    cfg = json.loads(json.dumps(TINY_RUN))
    cfg["train"].update(steps=steps, checkpoint_every=checkpoint_every)
    cfg["eval"]["max_views"] = 2
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({"preset": str(tmp_path / "tiny.yaml"), "scenes": ["builtin"], "seeds": [0],
                                    "encodings": encodings}, sort_keys=False))
    return str(path)


def _manifest(out):
    return {r["id"]: r for r in json.loads((out / "runs.json").read_text())["runs"]}


def test_local_ray_matches_local_processes_and_sends_files_back(tmp_path):
    """The same sweep through a local Ray (files sent back through Ray, as for nodes without a shared
    disk) and through local processes: the same runs, bit for bit the same PSNR on the CPU."""
    sweep = _sweep(tmp_path, ["none", {"name": "gaussian", "sigmas": [2]}])
    rc = sweep_main(sweep, out=str(tmp_path / "ray"), ray="local", ray_transfer="always", echo=lambda s: None)
    assert rc == 0 and not ray.is_initialized()  # the Ray started for the sweep is stopped after it
    rc = sweep_main(sweep, out=str(tmp_path / "jobs"), jobs=2, echo=lambda s: None)
    assert rc == 0
    via_ray, local = _manifest(tmp_path / "ray"), _manifest(tmp_path / "jobs")
    assert set(via_ray) == set(local) == {"builtin/none/seed0", "builtin/gaussian-s2/seed0"}
    for run_id, r in via_ray.items():
        assert r["status"] == "done" and r["node"].startswith("node ")
        a = json.loads((tmp_path / "ray" / run_id / "metrics.json").read_text())
        b = json.loads((tmp_path / "jobs" / run_id / "metrics.json").read_text())
        assert a["psnr"] == b["psnr"] and a["steps"] == b["steps"]
        for name in ("config.yaml", "checkpoint.pt", "eval/per_view.csv", "eval/000.png", "train.log", "node.json"):
            assert (tmp_path / "ray" / run_id / name).is_file(), name
    assert (tmp_path / "ray" / "report" / "runs.csv").is_file()


def test_missing_ray_is_a_one_line_error(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("no ray here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(UserError, match=r"pip install 'nerf_ff\[ray\]'"):
        sweep_main(_sweep(tmp_path, ["none"]), out=str(tmp_path / "o"), ray="local", echo=lambda s: None)
    assert not (tmp_path / "o").exists()


def test_two_node_cluster_spreads_runs_and_survives_a_killed_node(tmp_path):
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    worker = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    try:
        worker_id = worker.node_id
        # Four runs, one CPU each, on two one-CPU nodes: two at a time, one per node. Long enough (and
        # checkpointing often enough) that a run is caught in the middle on the worker node.
        sweep = _sweep(tmp_path, ["none", "basic", "posenc", {"name": "gaussian", "sigmas": [2]}],
                       steps=400, checkpoint_every=20)
        out = tmp_path / "sweep"
        killed = {}

        def kill_worker_mid_run():
            deadline = time.time() + 240
            while time.time() < deadline and not killed:
                for node_file in out.glob("builtin/*/seed0/node.json"):
                    run = node_file.parent
                    try:
                        on_worker = json.loads(node_file.read_text())["node_id"] == worker_id
                    except (OSError, ValueError):
                        continue
                    if on_worker and (run / "checkpoint.pt").is_file() and not (run / "metrics.json").exists():
                        killed["run"] = run.relative_to(out).as_posix()
                        cluster.remove_node(worker, allow_graceful=False)
                        return
                time.sleep(0.2)

        killer = threading.Thread(target=kill_worker_mid_run)
        killer.start()
        rc = sweep_main(sweep, out=str(out), ray=cluster.address, echo=lambda s: None)
        killer.join()
        assert killed, "no run was caught running on the worker node"
        first = _manifest(out)
        assert rc == 1 and first[killed["run"]]["status"] == "interrupted"
        assert worker_id[:12] in first[killed["run"]]["error"]  # the failure names its node
        assert (out / killed["run"] / "checkpoint.pt").is_file()

        # A new node joins; the rerun resumes the interrupted run and finishes the sweep.
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        rc = sweep_main(sweep, out=str(out), ray=cluster.address, echo=lambda s: None)
        final = _manifest(out)
        assert rc == 0 and all(r["status"] == "done" for r in final.values())
        log = (out / killed["run"] / "train.log").read_text()
        assert "--resume" in log  # continued from its checkpoint, not restarted
        first_nodes = {r["node"] for r in first.values() if r.get("node")}
        assert len(first_nodes) >= 2, first_nodes  # the first pass ran on both nodes
        assert all((out / run_id / "node.json").is_file() for run_id in final)  # every run records its node
    finally:
        ray.shutdown()
        cluster.shutdown()
