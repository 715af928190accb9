"""Name → entrypoint registries for models and backbones (timm's pattern, without its kwargs chains).

An entrypoint is a function registered under its own name whose keyword parameters are the only
overrides it accepts; ``create_*`` rejects anything else with the list of valid keys. The modules
holding entrypoints are listed here and imported on first use, so importing this package (e.g. for
``edgeparse --help``) does not import torch.
"""
from __future__ import annotations

import fnmatch
import importlib
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from edge.errors import ConfigError, UnknownNameError, suggest

if TYPE_CHECKING:
    from torch import nn


class Registry:
    """Entrypoints of one kind ("model", "backbone"), keyed by function name."""

    def __init__(self, kind: str, modules: tuple[str, ...]):
        self.kind = kind
        self._modules = modules
        self._entries: dict[str, Callable[..., Any]] = {}

    def register(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        if fn.__name__ in self._entries:
            raise RuntimeError(f"{self.kind} {fn.__name__!r} is registered twice")
        self._entries[fn.__name__] = fn
        return fn

    def names(self, pattern: str = "*") -> list[str]:
        self._import_modules()
        return sorted(n for n in self._entries if fnmatch.fnmatchcase(n, pattern))

    def entrypoint(self, name: str) -> Callable[..., Any]:
        self._import_modules()
        if name not in self._entries:
            raise UnknownNameError(self.kind, name, self._entries)
        return self._entries[name]

    def override_keys(self, name: str, fixed: tuple[str, ...] = ()) -> list[str]:
        """The keyword overrides ``name`` accepts (its parameters minus the ``fixed`` ones)."""
        params = inspect.signature(self.entrypoint(name)).parameters
        return [p for p in params if p not in fixed]

    def create(self, name: str, fixed: dict[str, Any], overrides: dict[str, Any]) -> Any:
        valid = self.override_keys(name, tuple(fixed))
        unknown = sorted(set(overrides) - set(valid))
        if unknown:
            raise ConfigError(
                f"unknown override {unknown[0]!r} for {self.kind} {name!r}.{suggest(unknown[0], valid)} "
                f"Valid overrides: {', '.join(valid) or '(none)'}"
            )
        return self.entrypoint(name)(**fixed, **overrides)

    def _import_modules(self) -> None:
        for module in self._modules:
            importlib.import_module(module)


_MODELS = Registry(
    "model",
    ("training.models.ehanet", "training.models.bisenet", "training.models.teachers.bass",
     "training.models.teachers.agrnet"),
)
_BACKBONES = Registry(
    "backbone",
    (
        "training.models.backbones.resnet",
        "training.models.backbones.mobilenetv2",
        "training.models.backbones.efficientnet_lite",
    ),
)

register_model = _MODELS.register
register_backbone = _BACKBONES.register


def create_model(name: str, num_classes: int, **overrides: Any) -> nn.Module:
    """Build registered model ``name`` with ``num_classes`` outputs and keyword ``overrides``."""
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
        raise ConfigError(f"num_classes must be a positive integer, got {num_classes!r}")
    return _MODELS.create(name, {"num_classes": num_classes}, overrides)


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style ``pattern`` (``"ehanet_*"``), sorted."""
    return _MODELS.names(pattern)


def model_overrides(name: str) -> list[str]:
    """The override keys model ``name`` accepts."""
    return _MODELS.override_keys(name, ("num_classes",))


def create_backbone(name: str, **overrides: Any) -> nn.Module:
    """Build registered backbone ``name`` (a module returning a feature list, with ``feature_info``)."""
    return _BACKBONES.create(name, {}, overrides)


def list_backbones(pattern: str = "*") -> list[str]:
    return _BACKBONES.names(pattern)
