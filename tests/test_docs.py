"""Documentation that is derived from code must not drift."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_rule_catalogue_is_current() -> None:
    generated = subprocess.run(
        [sys.executable, "-m", "analyzer", "rules", "list", "--markdown"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    committed = (REPO / "docs" / "rules.md").read_text(encoding="utf-8")
    assert committed == generated, "run: waagent-analyzer rules list --markdown > docs/rules.md"


def test_readme_names_a_fixture_that_exists() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    start = readme.index("waagent-analyzer analyze fixtures/")
    path = readme[start:].split("\n", 1)[0].split(" ")[2]
    assert (REPO / path).exists(), path
