"""Teacher sizes: AGRNet ≈ 66.7 M parameters with 19 classes (docs/design.md#agrnet), reported by `model info`."""
from __future__ import annotations

import argparse

import pytest

from training.models import create_model, info_cmd
from training.models.complexity import count_macs, count_params

NUM_CLASSES = 19


@pytest.fixture(scope="module")
def full_teachers() -> dict:
    return {name: create_model(name, num_classes=NUM_CLASSES) for name in ("agrnet_r101", "bass_r101")}


@pytest.mark.parametrize("name", ["agrnet_r101", "bass_r101"])
def test_teacher_parameter_counts(full_teachers, name):
    """docs/design.md#agrnet: about 66.7 M for AGRNet. BASS shares the trunk and PSP (65.7 M)."""
    params = count_params(full_teachers[name])
    assert params.spec == params.trainable  # the GCN's Conv1d layers are counted too
    assert params.millions == pytest.approx(66.7, rel=0.03)
    assert params.by_module["backbone"] / 1e6 == pytest.approx(42.62, abs=0.01)  # deep-stem ResNet-101


def test_agrnet_counts_the_gcn_convs(full_teachers):
    """A (V × V + V) and W_G (C × C): 76 vertices and C = 256 with 19 classes."""
    assert count_params(full_teachers["agrnet_r101"]).by_module["gcn"] == 76 * 76 + 76 + 256 * 256


def test_macs_at_473(full_teachers):
    """AGRNet's OS 8 trunk and PSP cost about three times BASS's OS 16 ones."""
    assert count_macs(full_teachers["agrnet_r101"], 473).gmacs == pytest.approx(235.2, rel=0.01)
    assert count_macs(full_teachers["bass_r101"], 473).gmacs == pytest.approx(76.5, rel=0.01)


@pytest.mark.parametrize("name, expected", [("agrnet_r101", "66.540 M"), ("bass_r101", "66.723 M")])
def test_model_info_reports_the_teachers_at_473(capsys, name, expected):
    parser = argparse.ArgumentParser()
    info_cmd.add_arguments(parser)
    assert info_cmd.run(parser.parse_args([name, "--size", "473", "--num-classes", "19"])) == 0
    out = capsys.readouterr().out
    assert expected in out and "473x473" in out
    assert [line.split()[0] for line in out.splitlines()[-2:]] == (
        ["decoder", "classifier"] if name == "agrnet_r101" else ["boundary", "head"])
