"""The docstring examples of the parser modules are part of the suite."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "analyzer.redact",
    "analyzer.parse.errors",
    "analyzer.parse.xmlsafe",
    "analyzer.parse.goal_state",
    "analyzer.parse.status",
    "analyzer.parse.conf",
    "analyzer.parse.dhcp",
    "analyzer.parse.events",
    "analyzer.parse.log_facts",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
