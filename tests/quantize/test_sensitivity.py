"""Per-layer SQNR sensitivity and the bounded mixed-precision search."""
from __future__ import annotations

import math

import torch
from torch import nn

from quantize.sensitivity import (
    auto_mixed_precision,
    float_layer_counts,
    format_sensitivity,
    layer_sensitivity,
)


class Cancellation(nn.Module):
    """``head`` subtracts two large, nearly equal features: int8 inputs erase the small difference."""

    def __init__(self):
        super().__init__()
        self.feat = nn.Conv2d(3, 2, 1)
        self.head = nn.Conv2d(2, 2, 1, bias=False)
        with torch.no_grad():
            self.feat.weight.zero_()
            self.feat.weight[0, 0] = 0.05  # channel 0 = 50 + 0.05 x0, channel 1 = 50
            self.feat.bias.fill_(50.0)
            self.head.weight.copy_(torch.tensor([[1.0, -1.0], [-1.0, 1.0]]).reshape(2, 2, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.feat(x))


def test_the_layer_whose_int8_inputs_erase_the_signal_ranks_first(calib, make_cfg):
    rows = layer_sensitivity(Cancellation().eval(), calib, make_cfg(observer="minmax"), images=2)
    assert [r.layer for r in rows] == ["head", "feat"]
    assert rows[0].sqnr_db < 10.0 < rows[1].sqnr_db
    table = format_sensitivity(rows)
    assert "head" in table.splitlines()[2] and "SQNR dB" in table


def test_every_conv_of_the_tiny_net_is_ranked(tiny_model, calib, make_cfg):
    rows = layer_sensitivity(tiny_model, calib, make_cfg(), images=2)
    assert sorted(r.layer for r in rows) == ["body.0", "fuse.0", "gate", "head", "stem.0"]
    assert [r.sqnr_db for r in rows] == sorted(r.sqnr_db for r in rows)
    assert all(math.isfinite(r.sqnr_db) and r.sqnr_db > 0 for r in rows)


def test_excluded_layers_are_not_ranked(tiny_model, calib, make_cfg):
    rows = layer_sensitivity(tiny_model, calib, make_cfg(float_layers=("head",)), images=2)
    assert "head" not in {r.layer for r in rows}


def test_float_layer_counts_are_bounded_and_logarithmic():
    assert float_layer_counts(0) == [0]
    assert float_layer_counts(1) == [0, 1]
    assert float_layer_counts(4) == [0, 1, 2, 4]
    assert float_layer_counts(5) == [0, 1, 2, 4, 5]


def _search(deltas: dict[int, float], target: float, max_layers: int):
    ranked = ["a", "b", "c", "d", "e"]
    calls = {"rank": 0, "quantize": []}

    def rank():
        calls["rank"] += 1
        return ranked

    def quantize(layers):
        calls["quantize"].append(layers)
        return f"candidate-{len(layers)}"

    result = auto_mixed_precision(quantize, lambda c: deltas[int(c.split("-")[1])], rank, target, max_layers)
    return result, calls


def test_search_stops_at_the_first_k_meeting_the_target_and_records_the_float_layers():
    result, calls = _search({0: -3.0, 1: -1.0, 2: -0.4, 4: -0.1}, target=0.5, max_layers=4)
    assert result.met_target and result.float_layers == ("a", "b") and result.candidate == "candidate-2"
    assert [a.float_layers for a in result.attempts] == [(), ("a",), ("a", "b")]
    assert calls["quantize"] == [(), ("a",), ("a", "b")]


def test_search_skips_ranking_when_full_int8_meets_the_target():
    result, calls = _search({0: -0.2}, target=0.5, max_layers=4)
    assert result.met_target and result.float_layers == () and calls["rank"] == 0


def test_search_returns_the_best_attempt_when_the_target_is_never_met():
    result, calls = _search({0: -3.0, 1: -2.0, 2: -2.5}, target=0.5, max_layers=2)
    assert not result.met_target and result.float_layers == ("a",) and result.delta_miou_pts == -2.0
    assert len(result.attempts) == 3 and len(calls["quantize"]) == 3
