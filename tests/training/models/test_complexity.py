"""Parameter/MAC counting, checked against the reference counts (docs/design.md#complexity) and against hand-computed values."""
from __future__ import annotations

import argparse

import pytest
from torch import nn

from edge.errors import ConfigError
from training.models import create_model, info_cmd, list_cmd, list_models
from training.models.complexity import count_macs, count_params

# The reference counts (docs/design.md#complexity), 19 classes: params, GMACs @256², GMACs @512² (every conv counted).
REFERENCE_COMPLEXITY = {
    ("ehanet_r18", "full"): (11.81e6, 3.11, 12.45),
    ("ehanet_r18", "conv1x1"): (11.73e6, 2.98, 11.92),
    ("ehanet_r34", "full"): (21.92e6, 5.53, 22.11),
}


@pytest.mark.parametrize("name, sgcb", sorted(REFERENCE_COMPLEXITY))
def test_ehanet_resnet_complexity_matches_spec(name, sgcb):
    params, gmacs_256, gmacs_512 = REFERENCE_COMPLEXITY[name, sgcb]
    model = create_model(name, num_classes=19, sgcb=sgcb)
    assert count_params(model).spec == pytest.approx(params, rel=0.03)
    for graph in ("deploy", "train"):
        assert count_macs(model, 256, graph=graph).gmacs == pytest.approx(gmacs_256, rel=0.03)
        assert count_macs(model, 512, graph=graph).gmacs == pytest.approx(gmacs_512, rel=0.03)
    # The reference counts every conv, i.e. our train graph; it then agrees to rounding.
    assert count_macs(model, 512, graph="train").gmacs == pytest.approx(gmacs_512, abs=0.006)


def test_spec_head_breakdown_for_ehanet_r18():
    """The reference counts: backbone 11.18 M; SCAM 0.313 M + SGCB 0.271 M (our neck); boundary + classifiers 0.047 M."""
    by_module = count_params(create_model("ehanet_r18", num_classes=19)).by_module
    assert by_module["backbone"] == pytest.approx(11.18e6, abs=0.005e6)
    assert by_module["neck"] == pytest.approx(0.313e6 + 0.271e6, abs=0.002e6)
    assert by_module["head"] == pytest.approx(0.032e6 + 0.015e6, abs=0.002e6)


def test_default_mobile_student_fits_the_edge_budget():
    assert count_macs(create_model("ehanet_mbv2", num_classes=11), 256).gmacs <= 0.7


def test_mac_formula_on_a_hand_computable_model():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1, groups=4),
                          nn.Flatten(), nn.Linear(8 * 4 * 6, 10))
    macs = count_macs(model, (4, 6))
    assert macs.total == 4 * 6 * 8 * 3 * 9 + 4 * 6 * 8 * 2 * 9 + 8 * 4 * 6 * 10
    assert macs.by_module == {"0": 4 * 6 * 8 * 27, "1": 4 * 6 * 8 * 18, "3": 1920}


def test_counting_restores_training_mode_and_leaves_weights_on_cpu():
    model = create_model("ehanet_mbv2", num_classes=3).train()
    count_macs(model, 64)
    assert model.training
    assert all(p.device.type == "cpu" for p in model.parameters())


def test_spec_param_count_equals_trainable_count_for_every_model():
    for name in list_models():
        counts = count_params(create_model(name, num_classes=5))
        assert counts.spec == counts.trainable == sum(counts.by_module.values())


def test_unknown_graph_is_a_config_error():
    with pytest.raises(ConfigError, match="deploy, train"):
        count_macs(nn.Conv2d(3, 3, 1), 8, graph="eval")


def _run(module, argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return module.run(parser.parse_args(argv))


def test_model_info_prints_totals_and_breakdown(capsys):
    assert _run(info_cmd, ["ehanet_r18", "--size", "256", "--num-classes", "19", "--graph", "train"]) == 0
    out = capsys.readouterr().out
    assert "11.808 M" in out and "3.112 GMAC" in out
    assert [line.split()[0] for line in out.splitlines()[-3:]] == ["backbone", "neck", "head"]


def test_model_list_filters_and_shows_overrides(capsys):
    assert _run(list_cmd, ["ehanet_r*"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["ehanet_r18", "ehanet_r34"]
    assert "backbone_weights" in lines[0]
    assert _run(list_cmd, ["nomatch*"]) == 1
