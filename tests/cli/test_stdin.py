"""``analyze -`` and ``parse -``: the bundle from standard input, in memory, with the limits."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from analyzer.errors import InputRejected
from analyzer.settings import Limits
from analyzer.stdin_input import read_stdin
from tests.cli.clihelp import REPO, failing_bundle, run

FIXTURE = REPO / "fixtures" / "bundles" / "wireserver-down-g4.tgz"


def test_analyze_stdin_gives_the_same_findings_as_the_file(tmp_path: Path) -> None:
    from_file = json.loads(run("analyze", str(FIXTURE), "-f", "json").stdout)
    piped = run("analyze", "-", "-f", "json", stdin=FIXTURE.read_bytes(),
                env={"TMPDIR": str(tmp_path)})
    assert piped.returncode == 1, piped  # critical findings, as for the file
    report = json.loads(piped.stdout)
    assert [f["rule"] for f in report["findings"]] == [f["rule"] for f in from_file["findings"]]
    assert report["bundle"]["sha256"] == from_file["bundle"]["sha256"]
    assert report["bundle"]["source"] == "stdin"
    assert all(f["member"].startswith("stdin!") for f in report["bundle"]["files"])
    assert list(tmp_path.iterdir()) == []  # nothing of the bundle was spooled to disk


def test_parse_stdin_exports_the_same_rows(tmp_path: Path) -> None:
    bundle = failing_bundle(tmp_path)
    for table in ("records", "config"):
        from_file = run("parse", str(bundle), "-t", table, "-f", "json")
        piped = run("parse", "-", "-t", table, "-f", "json", stdin=bundle.read_bytes())
        assert piped.returncode == 0, piped
        rows = json.loads(piped.stdout)
        assert rows and len(rows) == len(json.loads(from_file.stdout))


def test_empty_stdin_is_rejected() -> None:
    result = run("analyze", "-", stdin=b"")
    assert result.returncode == 3 and "stdin: empty input" in result.stderr


def test_stdin_over_the_input_limit_is_rejected_without_reading_it_all() -> None:
    class Endless(io.RawIOBase):
        served = 0

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            self.served += size
            return b"x" * size

    stream = Endless()
    with pytest.raises(InputRejected, match="more than the limit"):
        read_stdin(Limits(max_input_bytes=5000), stream)  # type: ignore[arg-type]
    assert stream.served <= 5001
    assert read_stdin(Limits(max_input_bytes=5000), io.BytesIO(b"y" * 5000)) == b"y" * 5000
