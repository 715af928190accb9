"""Shared by the robustness tests: reading the one error line a failed command prints."""
from __future__ import annotations

from collections.abc import Callable

import pytest


@pytest.fixture
def error_line(capsys) -> Callable[[], str]:
    """``error_line()``: the one ``edgeparse: …`` line the last command wrote to stderr (progress bars
    aside); fails on a traceback or on more than one such line."""
    def read() -> str:
        err = capsys.readouterr().err
        assert "Traceback" not in err, err
        lines = [line for line in err.replace("\r", "\n").splitlines() if line.startswith("edgeparse: ")]
        assert len(lines) == 1, err
        return lines[0]
    return read
