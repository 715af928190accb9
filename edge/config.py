"""Typed configs: YAML files loaded into frozen dataclasses.

Unknown keys and wrong types fail with a suggestion; overrides are dotted
``key=value`` strings whose values are parsed as YAML scalars. Numbers must be finite, and fields
declared with ``at_least``/``above`` must lie in their range. YAML is read with limits (``parse_yaml``):
no binary, no nesting deeper than ``MAX_YAML_DEPTH``, no alias bombs.
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from edge.errors import ConfigError, suggest
from edge.io import atomic_write_text

T = TypeVar("T")
STUDENT_STRIDE = 32  # the students' deepest stride: static input sizes must tile it exactly
MAX_YAML_DEPTH = 64  # far beyond any recipe; deeper documents overflow the YAML composer's recursion
# Values a document may expand to once its aliases are followed: recipes hold a few hundred, while
# nine aliases of nine aliases... (the "billion laughs") expand to 9**9 from a few hundred bytes.
MAX_YAML_VALUES = 100_000


def at_least(minimum: float, default: Any) -> Any:
    """A dataclass field whose value (when not None) must be >= ``minimum``; ``from_dict`` checks it."""
    return dataclasses.field(default=default, metadata={"min": minimum})


def above(minimum: float, default: Any) -> Any:
    """A dataclass field whose value (when not None) must be > ``minimum``; ``from_dict`` checks it."""
    return dataclasses.field(default=default, metadata={"above": minimum})


def check_input_size(size: int) -> None:
    """``ConfigError`` unless ``size`` is a positive multiple of ``STUDENT_STRIDE``."""
    if size < STUDENT_STRIDE or size % STUDENT_STRIDE:
        raise ConfigError(f"input_size must be a positive multiple of {STUDENT_STRIDE} (the student's stride), "
                          f"got {size}")


def from_dict(cls: type[T], data: dict[str, Any] | None, where: str = "") -> T:
    """Build dataclass ``cls`` from a mapping, checking keys and types recursively."""
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(f"{where or cls.__name__}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(fields)
    if unknown:
        key = min(unknown)
        raise ConfigError(
            f"unknown config key {_join(where, key)!r}.{suggest(key, fields)} "
            f"Valid keys: {', '.join(fields)}"
        )
    kwargs = {name: _coerce(hints[name], data[name], _join(where, name)) for name in data}
    for name, value in kwargs.items():
        _check_range(fields[name], value, _join(where, name))
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required field is missing
        raise ConfigError(f"{where or cls.__name__}: {exc}") from exc


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain-data form of a config dataclass (tuples become lists for YAML/JSON)."""
    return _plain(dataclasses.asdict(cfg))


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a YAML text file (byte {exc.start} is not UTF-8); give a recipe YAML") from None
    data = parse_yaml(text, str(path)) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    return data


def parse_yaml(text: str, where: str) -> Any:
    """``yaml.safe_load`` with limits: a one-line ``ConfigError`` naming ``where`` for invalid YAML (control
    characters included), nesting deeper than ``MAX_YAML_DEPTH`` or more than ``MAX_YAML_VALUES`` values
    once aliases are followed; the events are checked one by one before anything is built."""
    sizes: dict[str, int] = {}  # anchor -> how many values it expands to
    root, open_nodes = 0, []  # values counted so far: outside / inside each open collection
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            added = 0
            if isinstance(event, yaml.CollectionStartEvent):
                if len(open_nodes) == MAX_YAML_DEPTH:
                    raise ConfigError(f"{where}: nested more than {MAX_YAML_DEPTH} levels deep; a recipe is a few "
                                      f"levels of keys")
                open_nodes.append([1, event.anchor])
            elif isinstance(event, yaml.CollectionEndEvent):
                added, anchor = open_nodes.pop()
                if anchor:
                    sizes[anchor] = added
            elif isinstance(event, yaml.AliasEvent):
                added = sizes.get(event.anchor, 1)
            elif isinstance(event, yaml.ScalarEvent):
                added = 1
                if event.anchor:
                    sizes[event.anchor] = 1
            if open_nodes:
                open_nodes[-1][0] += added
            else:
                root += added
            if root + sum(count for count, _ in open_nodes) > MAX_YAML_VALUES:
                raise ConfigError(f"{where}: expands to more than {MAX_YAML_VALUES:,} values once its aliases are "
                                  f"followed (an alias bomb?); write the values out instead of nesting aliases")
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: not valid YAML: {' '.join(str(exc).split())}") from None


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply dotted ``a.b=value`` overrides to a nested dict (a new dict is returned)."""
    out = _deep_copy(data)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key=value (e.g. train.epochs=5)")
        key, raw = item.split("=", 1)
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {key!r}: {part!r} is not a section")
        node[parts[-1]] = parse_yaml(raw, f"override {key}") if raw.strip() else None
    return out


def load_config(cls: type[T], path: str | Path | None, overrides: list[str] | None = None) -> T:
    """Load ``cls`` from an optional YAML file plus dotted overrides."""
    data = load_yaml(path) if path else {}
    return from_dict(cls, apply_overrides(data, overrides or []))


def save_config(cfg: Any, path: str | Path) -> None:
    atomic_write_text(path, yaml.safe_dump(to_dict(cfg), sort_keys=False))


def _coerce(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(arg, value, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {', '.join(map(repr, args))}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        if origin is tuple and args:
            if len(args) != len(value):
                raise ConfigError(f"{where}: expected {len(args)} values, got {len(value)}")
            return tuple(_coerce(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
        return [_coerce(args[0], v, f"{where}[{i}]") for i, v in enumerate(value)] if args else list(value)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, where)
    return _scalar(hint, value, where)


def _scalar(hint: Any, value: Any, where: str) -> Any:
    if hint is Any:
        return value
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ConfigError(f"{where}: {value} is not a finite number; give a number such as 0.001")
        return float(value)
    if hint is Path and isinstance(value, str):
        return Path(value)
    if isinstance(hint, type) and isinstance(value, hint) and not (hint is int and isinstance(value, bool)):
        return value
    name = getattr(hint, "__name__", str(hint))
    raise ConfigError(f"{where}: expected {name}, got {value!r} ({type(value).__name__})")


def _check_range(field: dataclasses.Field, value: Any, where: str) -> None:
    """``field``'s ``at_least``/``above`` bound on ``value``, or on each item of a tuple value."""
    if isinstance(value, (tuple, list)):
        for i, item in enumerate(value):
            _check_range(field, item, f"{where}[{i}]")
        return
    if value is None or not isinstance(value, (int, float)):
        return
    if "min" in field.metadata and value < field.metadata["min"]:
        raise ConfigError(f"{where}: {value} is below the minimum {field.metadata['min']}; give a value >= "
                          f"{field.metadata['min']}")
    if "above" in field.metadata and value <= field.metadata["above"]:
        raise ConfigError(f"{where}: {value} must be above {field.metadata['above']}; give a larger value")


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _deep_copy(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, dict) else v for k, v in data.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value
