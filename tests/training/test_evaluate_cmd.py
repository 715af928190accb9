"""``edgeparse evaluate``: per-class metrics of a checkpoint on its own recipe's split, or a clear error."""
from __future__ import annotations

import json

import pytest
import torch

from edge.cli import main
from edge.config import to_dict
from edge.errors import DataError
from edge.schemas import get_schema
from training.checkpoint import save_checkpoint
from training.config import load_recipe
from training.evaluate_cmd import evaluate_checkpoint
from training.models import create_model

TINY = ["model.name=ehanet_mbv2", "model.overrides={}", "data.size=64", "data.synthetic_val=2", "data.workers=0",
        "train.batch_size=2"]


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    schema = get_schema("lapa")
    model = create_model("ehanet_mbv2", num_classes=schema.num_classes)
    path = tmp_path / "student.pt"
    save_checkpoint({"model_name": "ehanet_mbv2", "model_overrides": {}, "num_classes": schema.num_classes,
                     "schema": schema.to_dict(), "config": to_dict(load_recipe(None, TINY)),
                     "state_dict": model.state_dict()}, path)
    return path


def test_scores_every_class_of_the_recipes_val_split_and_writes_json(checkpoint, tmp_path, capsys):
    summary, cfg, schema = evaluate_checkpoint(str(checkpoint), [])
    assert cfg.data.size == 64 and schema.name == "lapa"
    assert 0.0 <= summary.miou <= 1.0 and summary.num_pixels == 2 * 64 * 64
    out = tmp_path / "metrics.json"
    assert main(["evaluate", str(checkpoint), "--json", str(out)]) == 0
    assert set(json.loads(out.read_text())["per_class"]) == set(schema.class_names)
    assert "l_brow" in capsys.readouterr().out


def test_a_dataset_on_another_schema_is_refused(checkpoint):
    with pytest.raises(DataError, match="does not match the checkpoint's 'lapa'"):
        evaluate_checkpoint(str(checkpoint), ["data.schema=celebamask_hq"])
