"""docs/security.md and the test suite cannot drift: every row of its two tables names at
least one test, and every named test is collected by pytest (a renamed or deleted test, or a
checklist row id that no longer exists, fails here)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "security.md"
TEST_ID = re.compile(r"`(tests/[\w/]+\.py::[\w]+(?:\[[^\]`]+\])?)`")
TABLE_MARKER = re.compile(r"^<!-- (\w+): ")


def tables() -> dict[str, list[tuple[str, list[str]]]]:
    """Table name (from its ``<!-- name: ... -->`` marker) -> [(row key, named tests)]."""
    found: dict[str, list[tuple[str, list[str]]]] = {}
    current: list[tuple[str, list[str]]] | None = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        marker = TABLE_MARKER.match(line)
        if marker:
            current = found.setdefault(marker.group(1), [])
        elif current is not None and line.startswith("|"):
            key = line.split("|")[1].strip()
            if key in {"#", ""} or set(key) <= {"-"}:
                continue
            current.append((key, TEST_ID.findall(line)))
        elif current is not None and line.strip() == "" and current:
            current = None
    return found


@cache
def collected() -> frozenset[str]:
    """Node ids of the whole suite. One collection of ``tests`` (about 5 s): collecting
    chosen files together would load their folders' ``conftest`` modules side by side."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "WAAGENT_ANALYZER_NO_CACHE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "-o", "addopts=", "tests"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return frozenset(line.strip() for line in done.stdout.splitlines() if "::" in line)


def test_both_tables_are_complete() -> None:
    found = tables()
    assert [key for key, _ in found["checklist"]] == [str(n) for n in range(1, 51)]
    assert [key for key, _ in found["attacks"]] == [f"A{n}" for n in range(1, 21)]


def test_every_row_names_a_test() -> None:
    empty = [key for rows in tables().values() for key, tests in rows if not tests]
    assert not empty, f"rows without a test: {empty}"


def test_every_named_test_exists() -> None:
    named = {test for rows in tables().values() for _, tests in rows for test in tests}
    files = tuple(sorted({test.split("::")[0] for test in named}))
    missing_files = [name for name in files if not (REPO / name).is_file()]
    assert not missing_files, missing_files
    ids = collected()
    # A test named without parameters exists when any of its parametrisations does.
    bases = {node.split("[")[0] for node in ids}
    missing = sorted(t for t in named if t not in ids and not ("[" not in t and t in bases))
    assert not missing, f"docs/security.md names tests that do not exist: {missing}"


def test_the_check_catches_a_missing_test() -> None:
    """The parser and the collection really see the names (a check that cannot fail proves
    nothing): a made-up row id and a made-up function are not collected."""
    ids = collected()
    assert "tests/security/test_checklist.py::test_checklist[row01]" in ids
    assert "tests/security/test_checklist.py::test_checklist[row51]" not in ids
    assert not any(node.startswith("tests/security/test_checklist.py::test_nothing")
                   for node in ids)
