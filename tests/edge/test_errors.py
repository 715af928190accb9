"""Registry names: one spelling rule for every registry, and an unknown name suggests the close ones."""
from __future__ import annotations

import pytest

from edge.data import open_dataset
from edge.errors import UnknownNameError, registered_name
from edge.schemas import get_schema


def test_case_and_dashes_do_not_matter() -> None:
    assert registered_name("label schema", "CelebAMask-HQ", ["celebamask_hq", "lapa"]) == "celebamask_hq"


def test_an_unknown_name_lists_the_known_ones_and_the_closest() -> None:
    with pytest.raises(UnknownNameError, match=r"unknown raw dataset 'lappa'\. Did you mean 'lapa'\?.*Known: helen, lapa"):
        registered_name("raw dataset", "lappa", ["lapa", "helen"])


def test_the_registries_use_the_one_rule(tmp_path) -> None:
    assert get_schema("CELEBAMASK-HQ").name == "celebamask_hq"
    with pytest.raises(UnknownNameError, match="dataset format 'lapa-x'"):
        open_dataset("lapa-x", tmp_path, "val")
