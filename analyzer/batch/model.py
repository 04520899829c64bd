"""Plain data shared by the batch modules: jobs, per-bundle outcomes, the batch summary.

An *outcome* is a JSON-compatible ``dict`` (strings, numbers, ``None``, lists, ISO timestamps)
on purpose: the local runner receives it through a pipe, the Dask runner through a JSON line
on a subprocess's stdout, and both must produce byte-identical Parquet rows from it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from analyzer.settings import Limits

OK = "ok"
FAILED = "failed"
REJECTED = "rejected"
TIMEOUT = "timeout"
SKIPPED = "already_done"
"""Not a row status: the bundle was already in the results (``--resume``)."""
NOT_A_BUNDLE = "skipped"
"""A row status: an entry of a searched folder that is not a bundle (a random file, a folder
without logs), kept with the reason so every entry of the input is accounted for."""
DUPLICATE = "duplicate"
"""Not a row status: another input of this batch has the same content."""

ROW_STATUSES = (OK, FAILED, REJECTED, TIMEOUT, NOT_A_BUNDLE)

Outcome = dict[str, Any]


@dataclass(frozen=True)
class BundleInput:
    """One bundle to analyse: an archive / single log file, or a folder that is a bundle."""

    path: str
    """Absolute path, as the workers will open it."""
    is_dir: bool = False
    skip_reason: str = ""
    """Set for an entry that is not a bundle: it becomes a ``skipped`` row, never a job."""


@dataclass(frozen=True)
class IsolationLimits:
    """What one worker process may use; the bundle's own byte budgets live in ``Limits``."""

    wall_seconds: float
    cpu_seconds: int
    memory_bytes: int


@dataclass
class BatchSummary:
    """What ``run_batch`` did. Counts are for this run; ``rows`` for the whole results dir."""

    results_dir: str
    inputs: int = 0
    analysed: int = 0
    ok: int = 0
    failed: int = 0
    rejected: int = 0
    timeout: int = 0
    skipped: int = 0
    """Bundles already in the results (``--resume``)."""
    not_bundles: int = 0
    """Entries recorded as ``skipped`` rows (not a bundle), with their reason."""
    duplicates: int = 0
    fleet_findings: int = 0
    elapsed_seconds: float = 0.0
    rows: int = 0
    """Bundle rows in the results dir after the run (this run and earlier ones)."""
    worst_severity: str | None = None
    """Worst severity over every finding and fleet finding in the results dir."""
    all_failed: bool = False
    """The results dir has bundle rows and not one of them is ``ok``."""
    failures: list[tuple[str, str, str]] = field(default_factory=list)
    """(path, status, error) of this run's failed / rejected / timed-out bundles."""
    dropped: list[str] = field(default_factory=list)
    """Unreadable result files removed on ``--resume`` (their bundles ran again)."""
    rule_errors: list[str] = field(default_factory=list)
    """Broken rule files (the batch ran with the others, like ``analyze`` does)."""

    @property
    def rate(self) -> float:
        """Bundles analysed per second in this run."""
        return self.analysed / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0

    def count(self, status: str) -> None:
        if status in (OK, FAILED, REJECTED, TIMEOUT):
            setattr(self, status, getattr(self, status) + 1)
            self.analysed += 1
        elif status == NOT_A_BUNDLE:
            self.not_bundles += 1
        elif status == SKIPPED:
            self.skipped += 1
        elif status == DUPLICATE:
            self.duplicates += 1


def isolation_from(limits: Limits) -> IsolationLimits:
    """The per-process limits a batch derives from the project's ``Limits``."""
    return IsolationLimits(wall_seconds=limits.wall_seconds,
                           cpu_seconds=limits.worker_cpu_seconds,
                           memory_bytes=limits.worker_memory_bytes)


def skip_outcome(path: str, sha256: str, status: str) -> Outcome:
    """A non-row outcome (already done, or a second copy of a bundle in this batch)."""
    return {"path": path, "sha256": sha256, "status": status, "error": "",
            "findings": [], "snapshot_runs": []}


def path_key(path: str) -> str:
    """The results key of an input that has no content hash (it could not be read)."""
    return "path-" + hashlib.sha256(path.encode("utf-8", "surrogateescape")).hexdigest()


def not_a_bundle_outcome(path: str, reason: str) -> Outcome:
    """The ``skipped`` row of an entry that is not a bundle."""
    return {"path": path, "sha256": "", "status": NOT_A_BUNDLE, "error": reason,
            "findings": [], "snapshot_runs": []}
