"""Write the bundle's tables as CSV, JSON or Parquet, in chunks.

The ``records`` table is never held in memory: log members are parsed record by record
and written ``CHUNK_ROWS`` rows at a time. Every string cell of a CSV goes through the
spreadsheet sanitizer (no live formulas); JSON is ASCII-escaped.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import IO, Any

from analyzer.bundle.model import Member, SourceKind
from analyzer.parse.logsources import grammar_for
from analyzer.parse.records import Record
from analyzer.parse.waagent_log import iter_records
from analyzer.parse.windows_agent_log import enrich_record, text_stream
from analyzer.redact import redact_text
from analyzer.settings import Limits

CHUNK_ROWS = 50_000
FORMATS = ("csv", "json", "parquet")
RECORD_COLUMNS = [
    "member",
    "source_kind",
    "line",
    "end_line",
    "timestamp",
    "tz",
    "level",
    "thread",
    "prefix",
    "extension",
    "extension_version",
    "generation",
    "message",
    "fields",
    "flags",
]


def iter_bundle_records(members: Iterable[Member], limits: Limits) -> Iterator[dict[str, Any]]:
    """Every log record of the bundle, rotated duplicates collapsed, as plain dicts."""
    seen: set[int] = set()
    for member in members:
        if member.kind not in SourceKind.LOG_KINDS:
            continue
        grammar = grammar_for(member.kind)
        with member.open() as raw:
            # windows: a log saved as UTF-16 is read as UTF-8
            stream = text_stream(raw) if member.kind in SourceKind.WINDOWS_LOG_KINDS else raw
            chunks = iter(partial(stream.read, 1 << 20), b"")
            for record in iter_records(
                chunks,
                member.provenance,
                member.kind,
                max_line_bytes=limits.max_line_bytes,
                max_continuation_lines=limits.max_continuation_lines,
                collector_truncated=member.collector_truncated,
                header_parser=grammar.header_parser,
                prefix_has_real_version=grammar.prefix_has_real_version,
            ):
                if member.kind in SourceKind.WINDOWS_LOG_KINDS:  # windows: parsed fields
                    enrich_record(record)
                if record.timestamp is not None:
                    key = hash((record.timestamp, record.message))
                    if key in seen:
                        continue
                    seen.add(key)
                yield record_row(record)


def record_row(record: Record) -> dict[str, Any]:
    row = {name: getattr(record, name) for name in RECORD_COLUMNS}
    row["message"] = redact_text(record.message)
    row["fields"] = json.dumps(
        {k: redact_text(v) for k, v in record.fields.items()}, ensure_ascii=True, sort_keys=True
    )
    row["flags"] = ",".join(record.flags)
    return row


def rows_as_dicts(rows: Iterable[Any]) -> Iterator[dict[str, Any]]:
    for row in rows:
        data = asdict(row) if not isinstance(row, dict) else dict(row)
        for key, value in data.items():
            if isinstance(value, dict | list):
                data[key] = json.dumps(value, ensure_ascii=True, sort_keys=True, default=str)
        yield data


def write_table(
    rows: Iterable[dict[str, Any]], columns: list[str], fmt: str, output: IO[bytes] | Path
) -> int:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; valid options: {', '.join(FORMATS)}")
    writer = {"csv": _write_csv, "json": _write_json, "parquet": _write_parquet}[fmt]
    return writer(rows, columns, output)


def _open_binary(output: IO[bytes] | Path) -> tuple[IO[bytes], bool]:
    if isinstance(output, Path):
        return output.open("wb"), True
    return output, False


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value


def _write_csv(rows: Iterable[dict[str, Any]], columns: list[str], output: IO[bytes] | Path) -> int:
    from analyzer.report.sanitize import for_csv

    handle, close = _open_binary(output)
    count = 0
    try:
        text = _TextAdapter(handle)
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(
                [for_csv(_cell(row.get(c))) if row.get(c) is not None else "" for c in columns]
            )
            count += 1
    finally:
        if close:
            handle.close()
    return count


class _TextAdapter:
    """csv needs a text stream; the output may be stdout's binary buffer."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle

    def write(self, text: str) -> int:
        return self.handle.write(text.encode("utf-8", "backslashreplace"))


def _write_json(
    rows: Iterable[dict[str, Any]], columns: list[str], output: IO[bytes] | Path
) -> int:
    handle, close = _open_binary(output)
    count = 0
    try:
        handle.write(b"[")
        for row in rows:
            handle.write(b",\n" if count else b"\n")
            item = {c: _cell(row.get(c)) for c in columns}
            handle.write(json.dumps(item, ensure_ascii=True, default=str).encode("ascii"))
            count += 1
        handle.write(b"\n]\n")
    finally:
        if close:
            handle.close()
    return count


def _write_parquet(
    rows: Iterable[dict[str, Any]], columns: list[str], output: IO[bytes] | Path
) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    count = 0
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        nonlocal writer
        table = pa.Table.from_pylist(
            [{c: _parquet_cell(r.get(c)) for c in columns} for r in batch], schema=schema
        )
        if writer is None:
            writer = pq.ParquetWriter(output, schema)
        writer.write_table(table)
        batch.clear()

    schema = pa.schema([(c, pa.string()) for c in columns])
    for row in rows:
        batch.append(row)
        count += 1
        if len(batch) >= CHUNK_ROWS:
            flush()
    if batch or writer is None:
        flush()
    assert writer is not None
    writer.close()
    return count


def _parquet_cell(value: Any) -> str | None:
    """Parquet files end up in spreadsheets and notebooks too: same neutralisation as CSV
    (formula prefixes, control characters), and undecodable bytes shown as ``\\xNN``."""
    from analyzer.report.sanitize import for_csv

    if value is None:
        return None
    value = _cell(value)
    text = value if isinstance(value, str) else str(value)
    cell = for_csv(text)
    return str(cell).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
