"""The one error hierarchy for edgeparse.

Library code raises these; only the CLI layer turns them into a one-line message
and an exit code. Messages say what is wrong, the valid values, and the next step.
"""
from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

# C0 and C1 control characters but tab and newline: ESC (0x1b) starts terminal escape sequences.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class EdgeparseError(Exception):
    """Base class: an expected failure with a message meant for the user."""

    exit_code = 1


class ConfigError(EdgeparseError):
    """A config file, key or value is wrong."""

    exit_code = 2


class UnknownNameError(ConfigError):
    """A name (model, schema, backend, target...) is not registered."""

    def __init__(self, kind: str, name: str, known: Iterable[str]):
        known = sorted(known)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        super().__init__(f"unknown {kind} {name!r}.{hint} Known: {', '.join(known)}")
        self.kind, self.name, self.known = kind, name, known


class DataError(EdgeparseError):
    """A dataset file or folder is missing, unreadable or inconsistent."""


class CheckpointError(EdgeparseError):
    """A checkpoint is missing, truncated, corrupt or incompatible."""


class BundleError(EdgeparseError):
    """A deploy bundle is missing, truncated, tampered with or inconsistent."""


class NonFiniteOutputError(BundleError):
    """A runner's output holds NaN or Inf; ``output`` is that output (the parity gate scores it as failed)."""

    def __init__(self, message: str, output):
        super().__init__(message)
        self.output = output


class BackendUnavailable(EdgeparseError):
    """An inference backend's library is not installed on this machine."""


class UnsupportedError(EdgeparseError):
    """A valid request that this target, backend or quantizer cannot do."""


class ExportError(EdgeparseError):
    """Export or lowering of a model failed or produced an invalid graph."""


class ParityError(EdgeparseError):
    """A deployed model missed the agreed parity tolerance."""


class InUseError(EdgeparseError):
    """A folder is being written by another edgeparse process (its lock is held)."""


class WriteError(EdgeparseError):
    """An output could not be written (a full disk, a read-only folder); what was there before is unchanged."""


class InputError(EdgeparseError):
    """An image, video or array given to the runtime is unusable."""


def registered_name(kind: str, name: str, known: Iterable[str]) -> str:
    """``name`` as spelled in the registry ``known`` (case and ``-``/``_`` do not matter, so
    ``CelebAMask-HQ`` finds ``celebamask_hq``); ``UnknownNameError`` when it is not there."""
    key = name.replace("-", "_").lower()
    known = list(known)
    if key not in known:
        raise UnknownNameError(kind, name, known)
    return key


def printable(text: str) -> str:
    """``text`` with control characters (terminal escape sequences included) spelled as ``\\x1b`` and
    so on: a name read from a file cannot clear, recolour or retitle the terminal it is printed on."""
    return _CONTROL.sub(lambda match: repr(match.group())[1:-1], text)


def suggest(name: str, known: Iterable[str]) -> str:
    """Return ' Did you mean X?' for the closest known name, or ''."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.5)
    return f" Did you mean {close[0]!r}?" if close else ""
