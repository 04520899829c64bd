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
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import IO, Any

from analyzer.bundle.model import Member, SourceKind
from analyzer.parse.dedupe import FirstSighting
from analyzer.parse.logsources import grammar_for
from analyzer.parse.records import Record
from analyzer.parse.waagent_log import iter_records
from analyzer.parse.windows_agent_log import enrich_record, text_stream
from analyzer.redact import redact_text
from analyzer.settings import Limits
from analyzer.unicode_safe import scrub

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
    """Every log record of the bundle, rotated duplicates collapsed (as ``analyze`` counts
    them, :mod:`analyzer.parse.dedupe`), as plain dicts."""
    seen = FirstSighting(per_kind=True)
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
                if seen.is_first(record.source_kind, record.timestamp, record.message,
                                 record.member):
                    yield record_row(record)


def record_row(record: Record) -> dict[str, Any]:
    row = {name: getattr(record, name) for name in RECORD_COLUMNS}
    row["message"] = redact_text(record.message)
    row["fields"] = {k: redact_text(v) for k, v in sorted(record.fields.items())}
    row["flags"] = ",".join(record.flags)
    return row


def rows_as_dicts(rows: Iterable[Any]) -> Iterator[dict[str, Any]]:
    """Rows as dicts; nested values stay nested (JSON objects, Parquet maps and lists) and
    only CSV writes them as JSON text."""
    for row in rows:
        yield asdict(row) if not isinstance(row, dict) else dict(row)


def _flat(value: Any) -> Any:
    """A CSV cell: nested values as JSON text."""
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=True, sort_keys=True, default=str)
    return _cell(value)


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
                [for_csv(_flat(row.get(c))) if row.get(c) is not None else "" for c in columns]
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
            item = scrub({c: _json_cell(row.get(c)) for c in columns})
            handle.write(json.dumps(item, ensure_ascii=True, default=str).encode("ascii"))
            count += 1
        handle.write(b"\n]\n")
    finally:
        if close:
            handle.close()
    return count


PARQUET_EXTRA_HINT = "pip install 'waagent-analyzer[parquet]'"


def require_pyarrow(what: str) -> None:
    """Usage error (exit 2, before any work) when ``what`` needs Parquet and pyarrow, an
    optional extra since the default install only carries what ``analyze`` needs, is absent."""
    from analyzer.errors import UsageError

    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise UsageError(
            f"{what} needs pyarrow, which is not installed: {PARQUET_EXTRA_HINT}"
        ) from None


def _json_cell(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_cell(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_cell(v) for v in value]
    return _cell(value)


def _parquet_type(values: Iterable[Any]) -> Any:
    """The Arrow type of a column from its first values: integers, floats, booleans,
    timestamps (UTC, microseconds), string maps and string lists keep their type."""
    import pyarrow as pa

    for value in values:
        if value is None:
            continue
        if isinstance(value, bool):
            return pa.bool_()
        if isinstance(value, int):
            return pa.int64()
        if isinstance(value, float):
            return pa.float64()
        if isinstance(value, datetime):
            return pa.timestamp("us", tz="UTC")
        if isinstance(value, dict):
            return pa.map_(pa.string(), pa.string())
        if isinstance(value, list | tuple):
            return pa.list_(pa.string())
        return pa.string()
    return pa.string()


def _typed_cell(value: Any, kind: Any) -> Any:
    import pyarrow as pa

    if value is None:
        return None
    if pa.types.is_string(kind):
        return _parquet_cell(value)
    if pa.types.is_timestamp(kind):
        if not isinstance(value, datetime):
            return None
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if pa.types.is_map(kind):
        if not isinstance(value, dict):
            return None
        return [(_parquet_cell(k), _parquet_cell(v)) for k, v in value.items()]
    if pa.types.is_list(kind):
        return [_parquet_cell(v) for v in value] if isinstance(value, list | tuple) else None
    if pa.types.is_boolean(kind):
        return value if isinstance(value, bool) else None
    if pa.types.is_integer(kind):
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    return float(value) if isinstance(value, int | float) else None


def _write_parquet(
    rows: Iterable[dict[str, Any]], columns: list[str], output: IO[bytes] | Path
) -> int:
    require_pyarrow("--format parquet")
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    count = 0
    batch: list[dict[str, Any]] = []
    schema: Any = None

    def flush() -> None:
        nonlocal writer, schema
        if schema is None:  # typed from the first batch; later rows are made to fit it
            schema = pa.schema([(c, _parquet_type(r.get(c) for r in batch)) for c in columns])
        table = pa.Table.from_pylist(
            [{c: _typed_cell(r.get(c), schema.field(c).type) for c in columns} for r in batch],
            schema=schema,
        )
        if writer is None:
            writer = pq.ParquetWriter(output, schema)
        writer.write_table(table)
        batch.clear()

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
    value = _flat(value)
    text = value if isinstance(value, str) else str(value)
    cell = for_csv(text)
    return str(cell).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
