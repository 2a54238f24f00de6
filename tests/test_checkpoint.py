"""Atomic, safe, versioned checkpoints."""

import os

import pytest
import torch

from nerf_ff import checkpoint
from nerf_ff.checkpoint import load_checkpoint, save_checkpoint
from nerf_ff.errors import UserError


def test_round_trip_and_weights_only(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint({"step": 3, "model": {"w": torch.arange(4.0)}}, path)
    state = load_checkpoint(path)
    assert state["step"] == 3 and torch.equal(state["model"]["w"], torch.arange(4.0))
    assert state["version"] == checkpoint.VERSION
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]  # no temporary left behind


def test_failed_write_keeps_previous(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint({"step": 1}, path)

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint.torch, "save", full_disk)
    with pytest.raises(OSError):
        save_checkpoint({"step": 2}, path)
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


def test_rejects_code_foreign_truncated_and_old(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    evil = tmp_path / "evil.pt"
    torch.save({"format": checkpoint.FORMAT, "version": checkpoint.VERSION, "x": Evil()}, evil)
    with pytest.raises(UserError, match="not a readable nerf_ff checkpoint"):
        load_checkpoint(evil)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(UserError, match="not a nerf_ff checkpoint"):
        load_checkpoint(foreign)
    good = tmp_path / "good.pt"
    save_checkpoint({"step": 1, "w": torch.randn(1000)}, good)
    truncated = tmp_path / "trunc.pt"
    truncated.write_bytes(good.read_bytes()[:500])
    with pytest.raises(UserError, match="not a readable"):
        load_checkpoint(truncated)
    old = tmp_path / "old.pt"
    torch.save({"format": checkpoint.FORMAT, "version": 0}, old)
    with pytest.raises(UserError, match="version 0"):
        load_checkpoint(old)
    with pytest.raises(UserError, match="no checkpoint"):
        load_checkpoint(tmp_path / "none.pt")
