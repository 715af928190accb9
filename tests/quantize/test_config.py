"""QuantCfg loading: the shipped YAMLs, validation, and the method/subcommand agreement."""
from __future__ import annotations

from pathlib import Path

import pytest

from edge.errors import ConfigError
from quantize.config import QuantCfg, load_quant_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "quantize"


@pytest.mark.parametrize("name,method", [("ptq_default.yaml", "ptq"), ("qat_default.yaml", "qat")])
def test_shipped_configs_load(name, method):
    cfg = load_quant_config(CONFIGS / name, ["calib_images=8"], method=method)
    assert cfg.method == method and cfg.calib_images == 8 and cfg.input_size == 256


def test_config_method_must_match_the_subcommand():
    with pytest.raises(ConfigError, match="quantize qat"):
        load_quant_config(CONFIGS / "qat_default.yaml", [], method="ptq")
    assert load_quant_config(None, [], method="qat").method == "qat"


def test_unknown_key_is_rejected_with_a_suggestion():
    with pytest.raises(ConfigError, match="calib_images"):
        load_quant_config(None, ["calib_image=3"])


@pytest.mark.parametrize("kwargs,match", [({"input_size": 100}, "multiple of 32"),
                                          ({"percentile": 40.0}, "percentile"),
                                          ({"calib_images": 0}, "calib_images")])
def test_invalid_values_fail(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        QuantCfg(**kwargs)
