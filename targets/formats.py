"""Target specs and format look-ups over the one format table, ``edge.formats.FORMATS``.

The table (and every name derived from it: targets, precisions, backends) lives in ``edge.formats``,
because the device side needs the names and ``edge`` never imports ``targets``. Here each target's
rows fold into the ``TargetSpec`` its module declares as ``SPEC``; ``edgeparse deploy`` plans its jobs
with ``find_format``. Adding a precision is one new row there, not a hunt through the code.
"""
from __future__ import annotations

from dataclasses import dataclass

from edge.errors import UnknownNameError, UnsupportedError
from edge.formats import FORMATS, PRECISIONS, TARGETS, Format

__all__ = ["PRECISIONS", "Format", "TargetSpec", "export_formats", "find_format", "list_targets",
           "require_precision", "target_spec"]


@dataclass(frozen=True)
class TargetSpec:
    """What a target module declares about itself (its rows of the table, folded)."""

    name: str
    suffix: str
    precisions: tuple[str, ...]
    backend: str
    needs_gpu: bool


def export_formats() -> list[Format]:
    """Every buildable (target, precision), in table order."""
    return list(FORMATS)


def list_targets() -> list[str]:
    return list(TARGETS)


def target_spec(target: str) -> TargetSpec:
    rows = [f for f in FORMATS if f.target == target]
    if not rows:
        raise UnknownNameError("target", target, list_targets())
    first = rows[0]
    return TargetSpec(target, first.suffix, tuple(f.precision for f in rows), first.backend, first.needs_gpu)


def find_format(target: str, precision: str) -> Format:
    """The row of (target, precision); ``UnsupportedError`` for a precision the target lacks."""
    spec = target_spec(target)
    if precision not in spec.precisions:
        raise UnsupportedError(f"target {target!r} has no {precision!r} build; it supports "
                               f"{', '.join(spec.precisions)}")
    return next(f for f in FORMATS if f.target == target and f.precision == precision)


def require_precision(spec: TargetSpec, precision: str) -> None:
    """Raise ``UnsupportedError`` unless ``spec`` lists ``precision`` (called by every ``lower``)."""
    find_format(spec.name, precision)
