"""``parse --table records``: every record of every log once, per log, written safely."""

from __future__ import annotations

import csv
import io
import json
import tarfile
from pathlib import Path

import pytest

from analyzer.export import iter_bundle_records, write_table
from analyzer.pipeline import AnalyzeOptions, export_records, members_from_files
from analyzer.settings import Limits

LINE = "2024-01-31T10:00:0{}.000000Z INFO ExtHandler ExtHandler {}\n"
EXT_DIR = "var/log/azure/A.B"


def _rows(files: dict[str, str]) -> list[dict[str, object]]:
    return list(iter_bundle_records(members_from_files(files, "case"), Limits()))


def test_a_rotated_copy_is_read_once_but_repeats_inside_one_log_are_kept() -> None:
    today = LINE.format(1, "enable") + LINE.format(1, "enable") + LINE.format(2, "done")
    rotated = LINE.format(1, "enable")
    rows = _rows({"var/log/waagent.log": today, "var/log/waagent.log.1": rotated})
    assert [(r["member"], r["line"], r["message"]) for r in rows] == [
        ("case!var/log/waagent.log", 1, "enable"),
        ("case!var/log/waagent.log", 2, "enable"),
        ("case!var/log/waagent.log", 3, "done"),
    ]


def test_a_line_copied_into_another_log_kind_is_a_record_of_that_log() -> None:
    """CommandExecution.log copies the agent's lines about one extension; the export lists
    what each file holds (it used to drop the copy)."""
    line = LINE.format(1, "Command: bin/enable")
    rows = _rows({"var/log/waagent.log": line, f"{EXT_DIR}/CommandExecution.log": line})
    assert sorted((r["source_kind"], r["line"]) for r in rows) == [
        ("command_execution_log", 1), ("waagent_log", 1)]


def test_csv_cells_cannot_start_a_formula_and_secrets_are_redacted() -> None:
    text = LINE.format(1, "=HYPERLINK(\"http://x\") sig=SECRETSIGNATURE123")
    rows = _rows({"var/log/waagent.log": text})
    out = io.BytesIO()
    assert write_table(rows, ["line", "message"], "csv", out) == 1
    (header, row) = list(csv.reader(io.StringIO(out.getvalue().decode())))
    assert header == ["line", "message"]
    assert not row[1].startswith("=") and "SECRETSIGNATURE123" not in row[1]


def test_json_export_is_ascii_with_iso_timestamps() -> None:
    rows = _rows({"var/log/waagent.log": LINE.format(3, "caf\u00e9")})
    out = io.BytesIO()
    write_table(rows, ["timestamp", "message"], "json", out)
    out.getvalue().decode("ascii")
    assert json.loads(out.getvalue()) == [{"timestamp": "2024-01-31T10:00:03Z",
                                           "message": "caf\u00e9"}]


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="valid options: csv, json, parquet"):
        write_table([], ["line"], "xlsx", io.BytesIO())


def test_export_records_runs_in_the_limited_child(tmp_path: Path) -> None:
    data = (LINE.format(1, "one") + LINE.format(2, "two")).encode()
    bundle = tmp_path / "case.tgz"
    with tarfile.open(bundle, "w:gz") as archive:
        info = tarfile.TarInfo("var/log/waagent.log")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    out = tmp_path / "records.json"
    with out.open("wb") as handle:
        count, problems = export_records(bundle, ["line", "message"], "json", handle,
                                         AnalyzeOptions())
    assert (count, problems) == (2, [])
    assert [r["message"] for r in json.loads(out.read_text())] == ["one", "two"]
