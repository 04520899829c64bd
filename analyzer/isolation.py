"""The isolated reader: what runs in the sandboxed child, and the typed messages it sends.

Reading (walk, parse, scan) runs in one child (:func:`read_isolated`) that sends one
:class:`MemberDelta` per member, so a child that dies costs only the member at hand. Rule
evaluation and the report model run in a second child forked from the parent once the deltas
are merged (:func:`evaluate_isolated`): everything whose cost depends on the bundle's content
runs under the limits; the parent only merges capped tables and renders the bounded result.

:mod:`analyzer.sandbox` is the layer below: fork, limits, framing, how a child ended.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from analyzer.bundle.model import Member
from analyzer.engine.loader import RulePack
from analyzer.engine.matching import MatchStore
from analyzer.errors import AnalyzerError, BundleError, InputRejected, Problem
from analyzer.heap import keep_freed_memory
from analyzer.sandbox import SandboxEnd, SandboxLimits, finish, run_in_sandbox
from analyzer.scan import ScanResult, ScanState, guarded, new_tables, scan_member
from analyzer.settings import Limits
from analyzer.tables import BundleTables

MembersFactory = Callable[[list[Problem]], Iterable[Member]]
"""Given the list walker problems go to, yields the members to analyse."""


@dataclass
class MemberDelta:
    """What one member added: its table rows, problems, coverage and rule matches."""

    tables: BundleTables
    store: MatchStore


@dataclass(frozen=True)
class Rejected:
    """The input as a whole is refused (exit code of the error, its message)."""

    exit_code: int
    message: str


@dataclass
class Computed:
    """The value a child computed (rule outcomes and report; an export's count)."""

    value: Any


@dataclass
class ExportDone:
    count: int
    problems: list[Problem]


def sandbox_limits(limits: Limits) -> SandboxLimits:
    return SandboxLimits(limits.worker_memory_bytes, limits.worker_cpu_seconds,
                         limits.wall_seconds)


def _raise_rejected(rejected: Rejected) -> None:
    if rejected.exit_code == InputRejected.exit_code:
        raise InputRejected(rejected.message)
    raise AnalyzerError(rejected.message)


def read_isolated(name: str, factory: MembersFactory, pack: RulePack, tables: BundleTables,
                  limits: Limits, timeline: bool,
                  while_reading: Callable[[], None] | None = None) -> ScanResult:
    """Walk and scan in a forked child with limits; keep whatever it streamed back.
    ``while_reading`` runs here once the child is started (work of this process's own that
    reads nothing of the input's content)."""
    store = MatchStore.for_limits(limits)
    rejected: list[Rejected] = []

    def on_message(message: object) -> None:
        if isinstance(message, MemberDelta):
            tables.merge(message.tables)
            store.merge(message.store)
        elif isinstance(message, Rejected):
            rejected.append(message)

    end = run_in_sandbox(
        lambda emit: _child_read(name, factory, pack, limits, timeline, emit),
        sandbox_limits(limits),
        on_message,
        while_child_runs=while_reading,
    )
    if rejected:
        _raise_rejected(rejected[0])
    if end.status != "ok":
        if not tables.files:
            raise InputRejected(f"{name}: rejected: {end.detail}")
        tables.problems.append(
            Problem(name, f"stopped: {end.detail}; the report covers what was read before")
        )
    return ScanResult(tables, store)


def _child_read(name: str, factory: MembersFactory, pack: RulePack, limits: Limits,
                timeline: bool, emit: Callable[[object], None]) -> None:
    """Runs in the sandbox: one message per member, so a crash loses only the member at hand."""
    keep_freed_memory()  # each 4 MB chunk is joined into fresh memory otherwise
    problems: list[Problem] = []
    sent_problems = 0
    state = ScanState(pack, new_tables(name, limits), limits, timeline)
    starts_sent: dict[tuple[str, str], int] = {}
    """Sequence starts the parent keeps per check: past its cap, a delta sends none."""
    try:
        try:
            for member in guarded(factory(problems), state):
                scan_member(member, state)
                state.tables.problems.extend(problems[sent_problems:])
                sent_problems = len(problems)
                state.matcher.store.keep_room_of(starts_sent)
                emit(MemberDelta(state.tables, state.matcher.store))
                state.reset_deltas(name)
        except AnalyzerError as error:
            if not isinstance(error, BundleError):
                emit(Rejected(error.exit_code, str(error)))
                return
            state.tables.problems.append(Problem(name, str(error)))
        state.tables.problems.extend(problems[sent_problems:])
        state.matcher.store.keep_room_of(starts_sent)
        emit(MemberDelta(state.tables, state.matcher.store))
        finish(emit)  # the parent goes on while the planners are closed below
    finally:
        state.close()


T = TypeVar("T")


def compute_isolated(name: str, work: Callable[[], T], limits: Limits, what: str) -> T:
    """Run ``work`` in a forked child under the limits and return its value; the child sees
    the parent's state as it is (fork), so only the result travels. A child that dies is an
    input that cannot be checked (exit 3)."""
    results: list[Computed] = []
    rejected: list[Rejected] = []

    def child(emit: Callable[[object], None]) -> None:
        keep_freed_memory()  # short-lived: what it frees goes back when it exits
        try:
            emit(Computed(work()))
        except AnalyzerError as error:
            emit(Rejected(error.exit_code, str(error)))

    def on_message(message: object) -> None:
        if isinstance(message, Computed):
            results.append(message)
        elif isinstance(message, Rejected):
            rejected.append(message)

    end: SandboxEnd = run_in_sandbox(child, sandbox_limits(limits), on_message)
    if rejected:
        _raise_rejected(rejected[0])
    if not results:
        raise InputRejected(f"{name}: {what} stopped: {end.detail or end.status}")
    value: T = results[0].value
    return value


def export_isolated(source_name: str, work: Callable[[], ExportDone],
                    limits: Limits) -> ExportDone:
    """Run an export (walk, parse, write) in the limited child; an export cut short keeps
    what it wrote and says it is incomplete."""
    done: list[ExportDone] = []
    rejected: list[Rejected] = []

    def child(emit: Callable[[object], None]) -> None:
        try:
            emit(work())
        except InputRejected as error:
            emit(Rejected(error.exit_code, str(error)))

    def on_message(message: object) -> None:
        if isinstance(message, ExportDone):
            done.append(message)
        elif isinstance(message, Rejected):
            rejected.append(message)

    end = run_in_sandbox(child, sandbox_limits(limits), on_message)
    if rejected:
        _raise_rejected(rejected[0])
    result = done[0] if done else ExportDone(0, [])
    if end.status != "ok":
        result.problems.append(
            Problem(source_name, f"stopped: {end.detail}; the export is incomplete"))
    return result
