"""Checkpoints are written atomically and bad files fail with a clear error."""
import pytest
import torch

from edge.errors import CheckpointError
from edge.schemas import get_schema
from training.checkpoint import load_checkpoint, save_checkpoint


def _payload(weight):
    return {"model_name": "m", "num_classes": 11, "schema": get_schema("lapa").to_dict(),
            "state_dict": {"w": weight}}


def test_round_trip_with_weights_only(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(_payload(torch.ones(3)), path)
    loaded = load_checkpoint(path)
    assert torch.equal(loaded["state_dict"]["w"], torch.ones(3))
    assert not list(tmp_path.glob(".*tmp*")), "no temp file is left behind"


def test_truncated_file_is_rejected(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(_payload(torch.ones(1000)), path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="unreadable or truncated"):
        load_checkpoint(path)


def test_nan_weights_are_rejected(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(_payload(torch.tensor([1.0, float("nan")])), path)
    with pytest.raises(CheckpointError, match="'w' contains NaN"):
        load_checkpoint(path)


def test_foreign_and_missing_files(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "none.pt")
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not an edgeparse checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    save_checkpoint(_payload(torch.ones(2)), path)

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError):
        save_checkpoint(_payload(torch.zeros(2)), path)
    assert torch.equal(load_checkpoint(path)["state_dict"]["w"], torch.ones(2))


def test_the_shipped_default_student_carries_its_checksum():
    """Users load it on every deploy: it must verify, not warn that it cannot be checked."""
    from targets.config import DEFAULT_CHECKPOINT
    from training.checkpoint import CHECKSUM_KEY

    assert CHECKSUM_KEY in torch.load(DEFAULT_CHECKPOINT, map_location="cpu", weights_only=True)
    assert load_checkpoint(DEFAULT_CHECKPOINT)["model_name"] == "ehanet_mbv2"
