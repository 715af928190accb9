"""``edgeparse evaluate``: per-class metrics of a checkpoint on its own recipe's split, or a clear error."""
from __future__ import annotations

import json

import pytest

from edge.cli import main
from edge.errors import DataError
from training.evaluate_cmd import evaluate_checkpoint


def test_scores_every_class_of_the_recipes_val_split_and_writes_json(tiny_lapa_checkpoint, tmp_path, capsys):
    checkpoint = tiny_lapa_checkpoint
    summary, cfg, schema = evaluate_checkpoint(str(checkpoint), [])
    assert cfg.data.size == 64 and schema.name == "lapa"
    assert 0.0 <= summary.miou <= 1.0 and summary.num_pixels == 2 * 64 * 64
    out = tmp_path / "metrics.json"
    assert main(["evaluate", str(checkpoint), "--json", str(out)]) == 0
    assert set(json.loads(out.read_text())["per_class"]) == set(schema.class_names)
    assert "l_brow" in capsys.readouterr().out


def test_a_dataset_on_another_schema_is_refused(tiny_lapa_checkpoint):
    checkpoint = tiny_lapa_checkpoint
    with pytest.raises(DataError, match="does not match the checkpoint's 'lapa'"):
        evaluate_checkpoint(str(checkpoint), ["data.schema=celebamask_hq"])


def test_a_fine_model_is_scored_on_coarse_labels_through_a_total_mapping():
    from training.evaluate_cmd import _prediction_map

    table = _prediction_map("celebamask_hq", "lfw_parts")
    assert table[13] == 2 and table[1] == 1 and table[18] == 0  # hair, skin -> face, cloth -> background
    with pytest.raises(DataError, match="drops classes"):
        _prediction_map("celebamask_hq", "lapa")  # hat, ears, ... have no LaPa home
