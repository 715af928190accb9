"""Typed configs: unknown keys and wrong types fail loudly, overrides are dotted."""
from dataclasses import dataclass, field

import pytest

from edge.config import apply_overrides, from_dict, load_config, to_dict
from edge.errors import ConfigError


@dataclass(frozen=True)
class Inner:
    size: int = 256
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class Outer:
    name: str = "x"
    lr: float = 0.1
    mode: str | None = None
    inner: Inner = field(default_factory=Inner)


def test_unknown_key_suggests_the_close_match():
    with pytest.raises(ConfigError, match=r"inner\.sise.*Did you mean 'size'"):
        from_dict(Outer, {"inner": {"sise": 3}})


def test_wrong_type_names_the_key():
    with pytest.raises(ConfigError, match=r"inner\.size: expected int"):
        from_dict(Outer, {"inner": {"size": "big"}})


def test_int_is_accepted_for_float_and_tuples_are_checked():
    cfg = from_dict(Outer, {"lr": 1, "inner": {"mean": [0.1, 0.2, 0.3]}})
    assert cfg.lr == 1.0 and isinstance(cfg.lr, float)
    assert cfg.inner.mean == (0.1, 0.2, 0.3)
    with pytest.raises(ConfigError, match="expected 3 values"):
        from_dict(Outer, {"inner": {"mean": [0.1]}})


def test_dotted_overrides_parse_yaml_scalars(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: a\ninner: {size: 64}\n")
    cfg = load_config(Outer, path, ["inner.size=128", "lr=0.5", "mode=null"])
    assert (cfg.name, cfg.inner.size, cfg.lr, cfg.mode) == ("a", 128, 0.5, None)
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides({}, ["nonsense"])


def test_round_trip_through_plain_dict():
    cfg = Outer(inner=Inner(size=32))
    assert from_dict(Outer, to_dict(cfg)) == cfg


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(Outer, tmp_path / "absent.yaml")


def test_input_sizes_must_tile_the_student_stride():
    from edge.config import check_input_size

    check_input_size(256)
    for bad in (0, 16, 100):
        with pytest.raises(ConfigError, match="multiple of 32"):
            check_input_size(bad)
