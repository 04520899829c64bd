"""bench/ab.py (a contributor tool): its usage errors come before any checkout or run."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import ab


@pytest.mark.parametrize("argv, message", [
    (["HEAD", "HEAD"], "the two versions are the same"),
    (["HEAD~1", "--mixes", "standard,nope"], "unknown mix nope"),
    (["HEAD~1", "--rounds", "0"], "--rounds must be at least 1"),
])
def test_a_bad_comparison_is_refused_before_any_work(
        argv: list[str], message: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    checkouts: list[str] = []
    monkeypatch.setattr(ab, "checked_out", lambda revision: checkouts.append(revision))
    with pytest.raises(SystemExit) as ended:
        ab.main(argv)
    assert ended.value.code == 2
    assert message in capsys.readouterr().err
    assert checkouts == []
