"""edgeparse's on-device side (never imports torch). The API: ``from edge import FaceParser``.

``FaceParser`` and ``ParseResult`` load lazily (PEP 562): every ``import edge.x`` runs this file
first, so it must stay cheap (no NumPy, OpenCV or backend until the API is used).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edge.api import FaceParser, ParseResult

__all__ = ["FaceParser", "ParseResult"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from edge import api

        return getattr(api, name)
    raise AttributeError(f"module 'edge' has no attribute {name!r}")
