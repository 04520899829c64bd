"""``run_batch``: expand the inputs, run every bundle isolated, store outcomes as they arrive,
then evaluate the fleet rules over the whole results folder."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path

from analyzer.batch.fleet import evaluate_fleet
from analyzer.batch.inputs import expand_inputs
from analyzer.batch.model import (
    DUPLICATE,
    FAILED,
    NOT_A_BUNDLE,
    OK,
    REJECTED,
    ROW_STATUSES,
    TIMEOUT,
    BatchSummary,
    BundleInput,
    Outcome,
    isolation_from,
    not_a_bundle_outcome,
)
from analyzer.batch.progress import BatchProgress
from analyzer.batch.store import ResultStore, part_key
from analyzer.errors import UsageError
from analyzer.pipeline import AnalyzeOptions
from analyzer.report.model import SEVERITY_RANK
from analyzer.settings import Limits

RETRIED_STATUSES = (FAILED, TIMEOUT)
"""What ``retry_failed`` runs again; a rejected input stays rejected."""
GROUP_ROWS = 32
GROUP_SECONDS = 2.0
"""Finished bundles are written when this many are waiting, or the oldest waited this long."""


def run_batch(inputs: Iterable[str | Path], out_dir: str | Path, workers: int | None = None,
              scheduler: str | None = None, resume: bool = False, limits: Limits | None = None,
              options: AnalyzeOptions | None = None, progress: bool | None = True, *,
              retry_failed: bool = False, method: str = "forkserver",
              group_rows: int = GROUP_ROWS) -> BatchSummary:
    """Analyse many bundles into Parquet tables under ``out_dir`` (see ``store.py``).

    ``workers``: local worker processes (default: the CPU count); ignored with ``scheduler``
    (``tcp://host:port`` of a Dask cluster, whose workers decide the parallelism).
    ``limits``: byte budgets and the per-bundle isolation (``wall_seconds``,
    ``worker_cpu_seconds``, ``worker_memory_bytes``); default ``options.limits``.
    ``resume``: keep what ``out_dir`` holds and skip bundles already there (by SHA-256);
    ``retry_failed`` also re-runs the ones that failed or timed out.
    ``progress``: ``True`` shows the bar, ``None`` only when stderr is a terminal.
    ``method``: ``forkserver`` (default) or ``subprocess``, see ``local.py``.
    ``group_rows``: finished bundles written per Parquet file (at the latest every
    ``GROUP_SECONDS``); what a killed batch can lose.
    """
    options = options or AnalyzeOptions()
    limits = limits or options.limits
    # The worker process is the sandbox (same limits), so the pipeline's own forked children
    # would only add forks. Backup runs come from the snapshot_runs table, timeline or not.
    options = replace(options, limits=limits, isolate=False)
    if not scheduler and method == "forkserver":
        _start_early(options)
    entries = expand_inputs(inputs)
    if not entries:
        raise UsageError("no bundles found in the inputs")
    bundles = [entry for entry in entries if not entry.skip_reason]
    not_bundles = [not_a_bundle_outcome(entry.path, entry.skip_reason)
                   for entry in entries if entry.skip_reason]
    rule_errors = _rule_errors(options)
    store = ResultStore(Path(out_dir))
    store.open_for_writing(resume)
    try:
        done = _already_done(store, resume, retry_failed)
        outcomes = _outcomes(bundles, done, options, limits, workers, scheduler, method)
        summary = BatchSummary(results_dir=str(store.root), inputs=len(entries),
                               rule_errors=rule_errors, dropped=list(store.dropped))
        outcomes = itertools.chain(not_bundles, outcomes)
        started = time.perf_counter()
        _consume(outcomes, GroupWriter(store, max_rows=max(1, group_rows)), summary,
                 BatchProgress(len(entries), progress))
        summary.elapsed_seconds = time.perf_counter() - started
        summary.fleet_findings = update_fleet(store, options.lang)
        _totals(summary, store)
        return summary
    finally:
        store.close()


def _start_early(options: AnalyzeOptions) -> None:
    """Start the forkserver now: it imports and warms up while this process expands the
    inputs and checks the rules, instead of after."""
    from analyzer.batch.forkserver import main_is_reloadable
    from analyzer.batch.local import start_forkserver

    if main_is_reloadable():
        start_forkserver(options)


def _rule_errors(options: AnalyzeOptions) -> list[str]:
    """Load the pack once here too: broken rule files are reported once, not per bundle."""
    from analyzer.pipeline import load_pack

    pack, _, benign_errors = load_pack(options)
    return [str(error) for error in pack.errors] + list(benign_errors)


def _already_done(store: ResultStore, resume: bool, retry_failed: bool) -> frozenset[str]:
    if not resume:
        return frozenset()
    store.forget(RETRIED_STATUSES if retry_failed else ())
    return frozenset(store.done_keys())


def _outcomes(bundles: list[BundleInput], done: frozenset[str], options: AnalyzeOptions,
              limits: Limits, workers: int | None, scheduler: str | None,
              method: str) -> Iterator[Outcome | None]:
    isolation = isolation_from(limits)
    if scheduler:
        from analyzer.batch.cluster import dask_outcomes

        return dask_outcomes(scheduler, bundles, done, options, isolation)
    from analyzer.batch.local import METHODS, Plan, local_outcomes

    if method not in METHODS:
        raise UsageError(f"method {method!r}: valid options: {', '.join(METHODS)}")
    plan = Plan(options=options, isolation=isolation, done=done, method=method)
    return local_outcomes(bundles, plan, workers or os.cpu_count() or 1)


def _consume(outcomes: Iterator[Outcome | None], group: GroupWriter, summary: BatchSummary,
             bar: BatchProgress) -> None:
    with bar:
        try:
            for outcome in outcomes:
                if outcome is not None:  # None: a tick while the workers are busy
                    status = group.add(outcome)
                    summary.count(status)
                    if status in (FAILED, REJECTED, TIMEOUT, NOT_A_BUNDLE):
                        summary.failures.append((outcome["path"], status, outcome.get("error", "")))
                    bar.advance(status)
                group.flush_if_due()
        finally:
            # Also on Ctrl-C: what finished is kept.
            group.flush()


class GroupWriter:
    """Collects finished bundles and writes them as one group (see ``store.py``)."""

    def __init__(self, store: ResultStore, max_rows: int = GROUP_ROWS,
                 max_seconds: float = GROUP_SECONDS) -> None:
        self.store = store
        self.max_rows = max_rows
        self.max_seconds = max_seconds
        self.pending: list[Outcome] = []
        self.since = time.monotonic()
        self.written: set[str] = set()

    def add(self, outcome: Outcome) -> str:
        """Queue a bundle's row; returns the status it is counted under."""
        status = str(outcome["status"])
        if status not in ROW_STATUSES:
            return status
        key = part_key(outcome)
        if key in self.written:  # the same content under two paths (seen by the Dask runner)
            return DUPLICATE
        self.written.add(key)
        if not self.pending:
            self.since = time.monotonic()
        self.pending.append(outcome)
        return status

    def flush_if_due(self) -> None:
        if len(self.pending) >= self.max_rows or (
                self.pending and time.monotonic() - self.since >= self.max_seconds):
            self.flush()

    def flush(self) -> None:
        self.store.write_group(self.pending)
        self.pending = []


def update_fleet(store: ResultStore, lang: str = "en") -> int:
    """Re-evaluate the fleet rules over everything in the results folder."""
    bundles = store.rows("bundles", ["sha256", "status", "deployment", "role_instance",
                                     "collected_at"])
    runs = store.rows("snapshot_runs")
    rows = evaluate_fleet(bundles, runs, lang)
    store.write_fleet(rows)
    return len(rows)


def _totals(summary: BatchSummary, store: ResultStore) -> None:
    statuses = [row["status"] for row in store.rows("bundles", ["status"])]
    summary.rows = len(statuses)
    summary.all_failed = bool(statuses) and OK not in statuses
    severities = [row["severity"] for table in ("findings", "fleet_findings")
                  for row in store.rows(table, ["severity"])]
    known = [s for s in severities if s in SEVERITY_RANK]
    summary.worst_severity = max(known, key=SEVERITY_RANK.__getitem__) if known else None
