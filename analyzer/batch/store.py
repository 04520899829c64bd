"""The results folder: Parquet tables written one bundle at a time, atomically.

Layout (``RESULTS_DIR``)::

    bundles/part-<sha256>.parquet         one row per bundle (written last: the commit marker)
    findings/part-<sha256>.parquet        that bundle's findings (0..n rows)
    snapshot_runs/part-<sha256>.parquet   its backup runs (input of the fleet rules)
    fleet_findings/part-fleet.parquet     cross-bundle findings, rewritten at the end of a batch
    .lock                                 held (flock) while a batch writes

Every file is written under a dot-prefixed temporary name in its own folder and then
``os.replace``-d into place, so a reader (``pyarrow.dataset`` and ``pandas.read_parquet``
ignore names starting with ``.`` or ``_``) never sees half a file, and a killed batch loses
only the bundles it had not finished. A bundle's ``bundles`` part is written after its other
parts: when it exists, the bundle is done (``--resume`` trusts that and nothing else), and a
re-run of an unfinished bundle replaces its parts under the same names, so rows are never
duplicated.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analyzer import __version__
from analyzer.batch.model import Outcome
from analyzer.errors import UsageError
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
            ("analyzer_version", pa.string()),
        ]),
        "findings": pa.schema([
            ("sha256", pa.string()), ("rule", pa.string()), ("category", pa.string()),
            ("severity", pa.string()), ("title", pa.string()), ("count", pa.int64()),
            ("first_seen", stamp), ("last_seen", stamp), ("message", pa.string()),
            ("seed_cause", pa.int32()), ("downranked", pa.string()),
        ]),
        "snapshot_runs": pa.schema([
            ("sha256", pa.string()), ("start", stamp), ("end", stamp),
            ("status", pa.string()), ("code", pa.string()),
        ]),
        "fleet_findings": pa.schema([
            ("rule", pa.string()), ("category", pa.string()), ("severity", pa.string()),
            ("seed_cause", pa.int32()), ("title", pa.string()), ("deployment", pa.string()),
            ("vms", pa.int32()), ("overlaps", pa.int32()), ("first_seen", stamp),
            ("last_seen", stamp), ("bundles", pa.list_(pa.string())), ("message", pa.string()),
            ("remediation", pa.string()),
        ]),
    }


def part_key(outcome: Outcome) -> str:
    """File-name key of a bundle's parts: its SHA-256, or (unreadable input, no content hash)
    a hash of its path, so a retry replaces the same file."""
    sha256 = str(outcome.get("sha256") or "")
    if sha256:
        return sha256
    return "path-" + hashlib.sha256(str(outcome["path"]).encode("utf-8", "replace")).hexdigest()


@dataclass
class ResultStore:
    root: Path

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self._schemas = schemas()
        self._lock_handle: Any = None

    # -- lifecycle ------------------------------------------------------------------------------

    def open_for_writing(self, resume: bool) -> None:
        """Create the folders, take the lock, clear temp files of a killed run.

        Without ``resume`` the folder must not hold results yet: mixing two batches by
        accident would make the fleet view wrong.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        if not resume and any(self.done_keys()):
            self.close()
            raise UsageError(f"{self.root} already holds batch results; add --resume to "
                             "continue that batch, or choose another folder")
        for table in TABLES:
            folder = self.root / table
            folder.mkdir(exist_ok=True)
            for stale in folder.glob(TEMP_PREFIX + "*"):
                with contextlib.suppress(OSError):
                    stale.unlink()

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

    # -- what is there ----------------------------------------------------------------------

    def done_keys(self) -> Iterator[str]:
        """Keys of bundles with a committed row (from file names: no Parquet read needed)."""
        folder = self.root / "bundles"
        if not folder.is_dir():
            return
        for entry in os.scandir(folder):
            name = entry.name
            if name.startswith(PART_PREFIX) and name.endswith(".parquet"):
                yield name[len(PART_PREFIX):-len(".parquet")]

    def done_statuses(self) -> dict[str, str]:
        """sha256 -> status of every committed bundle row."""
        table = self.read("bundles", columns=["sha256", "status"])
        return dict(zip(table.column("sha256").to_pylist(), table.column("status").to_pylist(),
                        strict=True))

    def read(self, table: str, columns: list[str] | None = None) -> pa.Table:
        """A whole table (all parts); an empty table with the right schema when there is none."""
        import pyarrow.dataset as ds

        schema = self._schemas[table]
        folder = self.root / table
        if not folder.is_dir():
            return schema.empty_table().select(columns or schema.names)
        dataset = ds.dataset(folder, schema=schema, format="parquet")
        return dataset.to_table(columns=columns)

    # -- writing ------------------------------------------------------------------------------

    def write_outcome(self, outcome: Outcome) -> None:
        """The parts of one bundle; ``bundles`` last, so it marks the bundle as done."""
        key = part_key(outcome)
        sha256 = str(outcome.get("sha256") or "")
        self._write("findings", key, [{"sha256": sha256, **f} for f in outcome["findings"]])
        self._write("snapshot_runs", key,
                    [{"sha256": sha256, **r} for r in outcome["snapshot_runs"]])
        self._write("bundles", key, [bundle_row(outcome)])

    def write_fleet(self, rows: list[dict[str, Any]]) -> None:
        self._write("fleet_findings", "fleet", rows)

    def _write(self, table: str, key: str, rows: list[dict[str, Any]]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = self._schemas[table]
        data = pa.Table.from_pylist([_typed(row, schema) for row in rows], schema=schema)
        folder = self.root / table
        final = folder / f"{PART_PREFIX}{key}.parquet"
        temporary = folder / f"{TEMP_PREFIX}{key}.{os.getpid()}.parquet"
        pq.write_table(data, temporary, compression="zstd")
        os.replace(temporary, final)


def bundle_row(outcome: Outcome) -> dict[str, Any]:
    row = {name: outcome.get(name) for name in schemas()["bundles"].names}
    row["analyzer_version"] = __version__
    row["error"] = row["error"] or ""
    return row


def _typed(row: dict[str, Any], schema: pa.Schema) -> dict[str, Any]:
    """Only the schema's columns; ISO text -> datetimes for timestamp columns."""
    import pyarrow as pa

    typed = {}
    for name in schema.names:
        value = row.get(name)
        if isinstance(value, str) and pa.types.is_timestamp(schema.field(name).type):
            value = datetime.fromisoformat(value)
        typed[name] = value
    return typed
