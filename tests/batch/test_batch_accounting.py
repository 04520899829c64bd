"""Issue 14 / 11: every entry is a row, corrupt result parts survive, stderr lines are safe."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
from batch_helpers import Spec, build
from conftest import FAST

from analyzer.batch import run_batch
from analyzer.batch.view import summary

REPO = Path(__file__).resolve().parents[2]


def test_every_entry_is_a_row(tmp_path: Path) -> None:
    folder = tmp_path / "cases"
    good = build(folder, Spec("vm-a", wire_failures=6))
    (folder / "random.txt").write_text("meeting notes\n")
    (folder / "nologs").mkdir()
    (folder / "nologs" / "readme.md").write_text("nothing here\n")
    (folder / "corrupt.tgz").write_bytes(b"\x1f\x8b\x08\x00" + b"\xff" * 300)
    out = tmp_path / "out"
    result = run_batch([folder], out, workers=1, limits=FAST, progress=False)
    rows = pd.read_parquet(out / "bundles").set_index("path")
    assert rows.loc[str(good), "status"] == "ok"
    assert rows.loc[str(folder / "corrupt.tgz"), "status"] in ("rejected", "skipped")
    assert rows.loc[str(folder / "corrupt.tgz"), "error"]
    assert rows.loc[str(folder / "random.txt"), "status"] == "skipped"
    assert rows.loc[str(folder / "nologs" / "readme.md"), "error"] == (
        "not an archive or a bundle folder")
    assert len(rows) == 4 and result.ok == 1 and result.rejected + result.not_bundles == 3
    text = summary(out)
    assert f"{result.rejected} rejected, 0 timed out, {result.not_bundles} skipped" in text


def test_corrupt_part_is_rerun_on_resume_and_reported_by_summary(tmp_path: Path) -> None:
    folder = tmp_path / "cases"
    build(folder, Spec("vm-a", wire_failures=6))
    build(folder, Spec("vm-b"))
    out = tmp_path / "out"
    run_batch([folder], out, workers=1, limits=FAST, progress=False, group_rows=1)
    part = sorted((out / "bundles").glob("part-*.parquet"))[0]
    part.write_bytes(b"PAR1 garbage")
    text = summary(out)  # goes on, and says what it could not read
    assert "Unreadable result files (1)" in text and part.name in text
    again = run_batch([folder], out, workers=1, limits=FAST, progress=False, resume=True)
    assert len(again.dropped) == 1 and again.analysed == 1 and again.skipped == 1
    assert len(pd.read_parquet(out / "bundles")) == 2


def test_newline_in_a_file_name_cannot_forge_stderr_lines(tmp_path: Path) -> None:
    folder = tmp_path / "cases"
    folder.mkdir()
    (folder / "x\nFORGED: all bundles ok.tgz").write_bytes(b"junk" * 100)
    result = subprocess.run(
        [sys.executable, "-m", "analyzer", "batch", str(folder), "--out", str(tmp_path / "o"),
         "--workers", "1", "--no-progress"], cwd=REPO, capture_output=True, text=True,
        timeout=120)
    assert not any(line.startswith("FORGED") for line in result.stderr.splitlines())
    assert "x\\nFORGED" in result.stderr
