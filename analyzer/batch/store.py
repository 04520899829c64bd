"""The results folder: Parquet tables written a small group of bundles at a time, atomically.

Layout (``RESULTS_DIR``)::

    bundles/part-<group>.parquet          one row per bundle (written last: the commit marker)
    findings/part-<group>.parquet         the group's findings (bundle key: ``sha256``)
    snapshot_runs/part-<group>.parquet    the group's backup runs (input of the fleet rules)
    fleet_findings/part-fleet.parquet     cross-bundle findings, rewritten at the end of a batch
    .lock                                 held (flock) while a batch writes

A group is the bundles that finished since the last write (at most ``GROUP_ROWS`` of them,
at most ``GROUP_SECONDS`` old): one file per table per group keeps the parent's CPU for the
workers and the folder readable (no million tiny files). Each file is written under a
dot-prefixed temporary name in its own folder and ``os.replace``-d into place, so readers
(``pyarrow.dataset`` and ``pandas.read_parquet`` skip names starting with ``.`` or ``_``) never
see half a file. The group's ``bundles`` file is written after its other files and is what
makes its bundles *done*; findings/runs files left without one by a killed batch are deleted
when the folder is opened again, so a re-run of those bundles cannot duplicate rows.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analyzer import __version__
from analyzer.batch.model import Outcome, path_key
from analyzer.errors import UsageError
from analyzer.parse.timeutil import from_micros
from analyzer.report.model import SEVERITIES

if TYPE_CHECKING:
    import pyarrow as pa

TABLES = ("bundles", "findings", "snapshot_runs", "fleet_findings")
PART_PREFIX = "part-"
TEMP_PREFIX = ".tmp-"
LOCK_NAME = ".lock"


@lru_cache(maxsize=1)
def schemas() -> dict[str, pa.Schema]:
    import pyarrow as pa

    stamp = pa.timestamp("us", tz="UTC")
    return {
        "bundles": pa.schema([
            ("path", pa.string()), ("sha256", pa.string()), ("status", pa.string()),
            ("error", pa.string()), ("collected_at", stamp),
            ("daemon_version", pa.string()), ("goal_state_agent_version", pa.string()),
            ("vmsnapshot_version", pa.string()), ("deployment", pa.string()),
            ("role", pa.string()), ("role_instance", pa.string()),
            *[(f"findings_{s}", pa.int32()) for s in SEVERITIES],
            ("worst_severity", pa.string()), ("problems", pa.int32()),
            ("problem_detail", pa.string()), ("duration_s", pa.float64()),
            ("cpu_s", pa.float64()), ("peak_rss_mb", pa.float64()),
            ("analyzer_version", pa.string()),
        ]),
        "findings": pa.schema([
            ("sha256", pa.string()), ("rule", pa.string()), ("category", pa.string()),
            ("severity", pa.string()), ("title", pa.string()), ("count", pa.int64()),
            ("first_seen", stamp), ("last_seen", stamp), ("message", pa.string()),
            ("guide_cause", pa.int32()), ("downranked", pa.string()),
        ]),
        "snapshot_runs": pa.schema([
            ("sha256", pa.string()), ("start", stamp), ("end", stamp),
            ("outcome", pa.string()),
        ]),
        "fleet_findings": pa.schema([
            ("rule", pa.string()), ("category", pa.string()), ("severity", pa.string()),
            ("guide_cause", pa.int32()), ("title", pa.string()), ("deployment", pa.string()),
            ("vms", pa.int32()), ("overlaps", pa.int32()), ("first_seen", stamp),
            ("last_seen", stamp), ("bundles", pa.list_(pa.string())), ("message", pa.string()),
            ("remediation", pa.string()),
        ]),
    }


def part_key(outcome: Outcome) -> str:
    """A bundle's identity in the results: its SHA-256, or (an input that could not even be
    read, so has no content hash) a key derived from its path."""
    sha256 = str(outcome.get("sha256") or "")
    return sha256 or path_key(str(outcome["path"]))


@dataclass
class ResultStore:
    root: Path

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self._schemas = schemas()
        self._lock_handle: Any = None
        self.unreadable: list[str] = []
        self.dropped: list[str] = []
        """Corrupt groups deleted when a batch resumed (their bundles run again)."""
        """Parts :meth:`read` could not read (``table/part: reason``); left out, not fatal."""

    # -- lifecycle ------------------------------------------------------------------------------

    def open_for_writing(self, resume: bool) -> None:
        """Create the folders, take the lock, clear what a killed run left half-done.

        Without ``resume`` the folder must not hold results yet: mixing two batches by
        accident would make the fleet view wrong.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        if not resume and self._parts("bundles"):
            self.close()
            raise UsageError(f"{self.root} already holds batch results; add --resume to "
                             "continue that batch, or choose another folder")
        for table in TABLES:
            folder = self.root / table
            folder.mkdir(exist_ok=True)
            for stale in folder.glob(TEMP_PREFIX + "*"):
                with contextlib.suppress(OSError):
                    stale.unlink()
        self.dropped = self.drop_corrupt_groups() if resume else []
        self._drop_orphans()

    def _take_lock(self) -> None:
        import fcntl

        handle = open(self.root / LOCK_NAME, "a+")  # noqa: SIM115 - held until close()
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise UsageError(f"{self.root}: another batch is writing to this folder") from None
        self._lock_handle = handle

    def close(self) -> None:
        if self._lock_handle is not None:
            self._lock_handle.close()
            self._lock_handle = None

    def _parts(self, table: str) -> list[Path]:
        folder = self.root / table
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.iterdir()
                      if p.name.startswith(PART_PREFIX) and p.name.endswith(".parquet"))

    def _drop_orphans(self) -> None:
        """Findings/runs files of a group whose ``bundles`` file was never written."""
        committed = {p.name for p in self._parts("bundles")}
        for table in ("findings", "snapshot_runs"):
            for part in self._parts(table):
                if part.name not in committed:
                    part.unlink()

    # -- what is there ----------------------------------------------------------------------

    def done_keys(self) -> set[str]:
        """Keys (see :func:`part_key`) of every bundle with a committed row."""
        return {row["sha256"] or path_key(row["path"])
                for row in self.rows("bundles", ["path", "sha256"])}

    def forget(self, statuses: tuple[str, ...]) -> int:
        """Delete the rows of bundles with these statuses, or without a content hash, so a
        resumed batch runs them again. Returns how many rows were removed.

        Such bundles have no findings or runs, so only ``bundles`` files are rewritten
        (atomically); a file left empty is removed with its group's other files.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        removed = 0
        for part in self._parts("bundles"):
            table = pq.ParquetFile(part).read().cast(self._schemas["bundles"])
            kept = [index for index, (status, sha256) in enumerate(zip(
                table.column("status").to_pylist(), table.column("sha256").to_pylist(),
                strict=True)) if status not in statuses and sha256]
            if len(kept) == table.num_rows:
                continue
            removed += table.num_rows - len(kept)
            if kept:
                self._replace(part, pa.concat_tables([table.slice(i, 1) for i in kept]))
            else:
                for table_name in ("findings", "snapshot_runs", "bundles"):
                    with contextlib.suppress(FileNotFoundError):
                        (self.root / table_name / part.name).unlink()
        return removed

    def read(self, table: str, columns: list[str] | None = None) -> pa.Table:
        """A whole table (all parts); an empty table with the right schema when there is none.

        Parts are read one by one with ``ParquetFile`` rather than through
        ``pyarrow.dataset``, whose import alone costs the parent ~0.2 s per batch.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = self._schemas[table]
        names = columns or schema.names
        wanted = pa.schema([schema.field(name) for name in names])
        parts = []
        for part in self._parts(table):
            try:
                parts.append(pq.ParquetFile(part).read(columns=names).cast(wanted))
            except (OSError, pa.ArrowException, ValueError) as error:
                self._note_unreadable(table, part, error)
        if not parts:
            return empty_table(wanted)
        return pa.concat_tables(parts)

    def _note_unreadable(self, table: str, part: Path, error: Exception) -> None:
        note = f"{table}/{part.name}: {str(error).splitlines()[0][:200] if str(error) else error}"
        if note not in self.unreadable:
            self.unreadable.append(note)

    def drop_corrupt_groups(self) -> list[str]:
        """Delete every group with a part that cannot be read (a crash or a full disk while
        it was written), so a resumed batch runs its bundles again. Returns what was dropped."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        dropped: list[str] = []
        for table in ("bundles", "findings", "snapshot_runs"):
            for part in self._parts(table):
                try:
                    pq.ParquetFile(part).read()
                except (OSError, pa.ArrowException, ValueError) as error:
                    dropped.append(f"{table}/{part.name}: {str(error).splitlines()[0][:200]}")
                    for name in ("bundles", "findings", "snapshot_runs"):
                        with contextlib.suppress(FileNotFoundError):
                            (self.root / name / part.name).unlink()
        return dropped

    def rows(self, table: str, columns: list[str] | None = None) -> list[dict[str, Any]]:
        """A table as Python rows; timestamps as aware UTC datetimes."""
        data = self.read(table, columns)
        values = {name: _python_values(data.column(name)) for name in data.column_names}
        return [dict(zip(values, row, strict=True)) for row in zip(*values.values(), strict=True)]

    # -- writing ------------------------------------------------------------------------------

    def write_group(self, outcomes: list[Outcome]) -> None:
        """The files of one group; ``bundles`` last, so it marks the group's bundles done."""
        if not outcomes:
            return
        keys = sorted(part_key(o) for o in outcomes)
        name = hashlib.sha256("\n".join(keys).encode()).hexdigest()[:32]
        findings, runs = [], []
        for outcome in outcomes:
            sha256 = str(outcome.get("sha256") or "")
            findings += [{"sha256": sha256, **f} for f in outcome["findings"]]
            runs += [{"sha256": sha256, **r} for r in outcome["snapshot_runs"]]
        self._write("findings", name, findings)
        self._write("snapshot_runs", name, runs)
        self._write("bundles", name, [bundle_row(o) for o in outcomes])

    def write_fleet(self, rows: list[dict[str, Any]]) -> None:
        self._write("fleet_findings", "fleet", rows)

    def _write(self, table: str, name: str, rows: list[dict[str, Any]]) -> None:
        data = arrow_table(rows, self._schemas[table])
        self._replace(self.root / table / f"{PART_PREFIX}{name}.parquet", data)

    def _replace(self, final: Path, data: pa.Table) -> None:
        import pyarrow.parquet as pq

        temporary = final.with_name(f"{TEMP_PREFIX}{final.stem}.{os.getpid()}.parquet")
        pq.write_table(data, temporary, compression="zstd")
        _fsync(temporary)  # the data is on disk before the name says the part exists
        os.replace(temporary, final)
        _fsync(final.parent)  # and so is the rename


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def bundle_row(outcome: Outcome) -> dict[str, Any]:
    row = {name: outcome.get(name) for name in schemas()["bundles"].names}
    row["analyzer_version"] = __version__
    row["error"] = row["error"] or ""
    return row


# -- Python <-> Arrow without pandas ------------------------------------------------------------
#
# pyarrow imports pandas (~0.3 s, most of a small batch's start-up) the first time it converts
# Python objects (``Table.from_pylist``, ``pa.array``, timestamps ``to_pylist``). The parent of
# a batch never needs pandas, so rows go in through Arrow's JSON reader (C++, typed by the
# schema) and timestamps come out as integers.


def arrow_table(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    """Rows (dicts; extra keys ignored; datetimes or ISO text for timestamps) as a table."""
    import io

    import pyarrow.json as pj

    if not rows:
        return empty_table(schema)
    text = "\n".join(json.dumps({name: _json_value(row.get(name)) for name in schema.names})
                     for row in rows).encode()
    return pj.read_json(
        io.BytesIO(text),
        read_options=pj.ReadOptions(block_size=max(1 << 20, len(text) + 1)),
        parse_options=pj.ParseOptions(explicit_schema=schema))


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates (undecodable bytes): keep them visible
            return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    if isinstance(value, list):
        return [_json_value(item) for item in value]
    return value


def empty_table(schema: pa.Schema) -> pa.Table:
    import pyarrow as pa

    return pa.Table.from_arrays([pa.nulls(0, field.type) for field in schema], schema=schema)




def _python_values(column: Any) -> list[Any]:
    import pyarrow as pa

    if not pa.types.is_timestamp(column.type):
        values: list[Any] = column.to_pylist()
        return values
    micros = column.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_pylist()
    return [None if us is None else from_micros(us) for us in micros]
