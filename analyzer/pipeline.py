"""input -> members -> parsed records/rows -> tables -> findings -> report, orchestrated.

This module only decides what runs where: the options, the :class:`Analysis` a run returns,
and the ``analyze_*`` entry points. The pass over the members is :mod:`analyzer.scan`, the
isolated child :mod:`analyzer.isolation`, rule evaluation :mod:`analyzer.engine.evaluate`
and the report model :mod:`analyzer.report.build`.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analyzer.bundle.model import Member, SourceKind
from analyzer.engine.benign import BenignList, load_benign
from analyzer.engine.loader import RulePack, default_rules_dir
from analyzer.errors import InputRejected, Problem, UsageError
from analyzer.isolation import MembersFactory, compute_isolated, read_isolated
from analyzer.parse.snapshot_runs import pair_snapshot_runs
from analyzer.pipes import silence_stdout
from analyzer.scan import ScanResult, ScanState, new_tables, scan_members
from analyzer.settings import DEFAULT_LIMITS, Limits
from analyzer.tables import BundleTables

if TYPE_CHECKING:
    from analyzer.engine.evaluate import RuleOutcome
    from analyzer.report.model import Report

__all__ = ["Analysis", "AnalyzeOptions", "MembersFactory", "analyze_files", "analyze_members",
           "analyze_path", "export_records", "load_pack", "members_from_files"]


@dataclass
class AnalyzeOptions:
    rule_dirs: list[Path] = field(default_factory=list)
    builtin_rules: bool = True
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    lang: str = "en"
    limits: Limits = DEFAULT_LIMITS
    timeline: bool = False
    isolate: bool = True
    """Read the input and evaluate the rules in forked children with memory/CPU/time limits
    (see analyzer.isolation)."""
    while_reading: Callable[[], None] | None = None
    """The caller's own preparation (the CLI loads its renderer), run in this process while
    the isolated child reads: a core that is otherwise idle until the child forks its
    planners."""


@dataclass
class Analysis:
    report: Report
    tables: BundleTables
    outcomes: list[RuleOutcome]
    pack: RulePack

    @property
    def facts(self) -> BundleTables:
        """The bundle's tables (the name callers used before ``tables``)."""
        return self.tables


def load_pack(options: AnalyzeOptions) -> tuple[RulePack, BenignList, list[str]]:
    from analyzer.engine.cache import load_rules_cached

    directories = ([default_rules_dir()] if options.builtin_rules else []) + options.rule_dirs
    pack = load_rules_cached(directories, options.params)
    bad_params = [str(e) for e in pack.errors if e.from_params]
    if bad_params:  # a bad --param is a usage error, before any work
        raise UsageError("; ".join(bad_params))
    benign, benign_errors = load_benign(default_rules_dir() / "benign.toml")
    return pack, benign, benign_errors


def analyze_path(source: Path, options: AnalyzeOptions) -> Analysis:
    from analyzer.bundle.stamps import input_header_time
    from analyzer.bundle.walker import check_input, walk

    check_input(source, options.limits)  # before hashing: the size alone may refuse it
    return analyze_members(
        source.name,
        lambda problems: walk(source, options.limits, problems),
        options,
        sha256=lambda: _identity(source, options.limits),
        archive_time=input_header_time(source),
    )


def _identity(source: Path, limits: Limits) -> str:
    """The input's SHA-256 (file or tree), never more bytes than the walker may read; an
    unreadable or oversized input gets none here and its problem from the walker."""
    from analyzer.bundle.identity import bundle_sha256

    try:
        return bundle_sha256(source, max_bytes=limits.max_input_bytes)
    except (OSError, ValueError):
        return ""


def analyze_members(
    name: str, factory: MembersFactory, options: AnalyzeOptions,
    sha256: str | Callable[[], str] = "", archive_time: datetime | None = None,
) -> Analysis:
    """Analyse whatever ``factory`` yields (a bundle, a live root), isolated when asked.

    ``sha256`` is the input's identity, or what computes it: in an isolated run this process
    computes it while the child reads (hashing a 19 MB bundle took 19 ms of an otherwise
    idle core, before the child was forked)."""
    pack, benign, benign_errors = load_pack(options)
    tables = new_tables(name, options.limits, sha256 if isinstance(sha256, str) else "")
    tables.archive_time = archive_time

    def beside_reading() -> None:
        _import_evaluation()
        if not isinstance(sha256, str):
            tables.sha256 = sha256()
        if options.while_reading is not None:
            options.while_reading()

    if options.isolate:
        result = read_isolated(name, factory, pack, tables, options.limits, options.timeline,
                               while_reading=beside_reading)
    else:
        beside_reading()
        problems: list[Problem] = []
        result = scan_members(factory(problems), _state(pack, tables, options))
        tables.problems.extend(problems)
    _check_something_was_read(name, tables)
    return _finish(result, pack, benign, benign_errors, options)


def _import_evaluation() -> None:
    """Imports what only evaluation and the report need (~14 ms): an isolated run does it
    while the child reads, so the child is forked that much sooner."""
    import analyzer.checkable
    import analyzer.engine.evaluate
    import analyzer.report.build
    import analyzer.windows_facts  # noqa: F401


def _state(pack: RulePack, tables: BundleTables, options: AnalyzeOptions) -> ScanState:
    return ScanState(pack, tables, options.limits, options.timeline)


_UNRECOGNISED = {SourceKind.OTHER, SourceKind.SECRET, SourceKind.ARCHIVE,
                 SourceKind.GOAL_STATE_PLACEHOLDER}


def _check_something_was_read(name: str, tables: BundleTables) -> None:
    """Nothing read, or nothing recognised (an empty archive, a folder with only a readme,
    /etc/passwd), is a rejected input (exit 3): no rule could check anything."""
    if not tables.files:
        if tables.problems:
            raise InputRejected(f"{name}: nothing could be read: {tables.problems[0].message}")
        raise InputRejected(f"{name}: rejected: the input holds no files")
    if all(row.kind in _UNRECOGNISED for row in tables.files):
        raise InputRejected(f"{name}: rejected: no recognised source (no waagent log, "
                            "goal-state XML, status, configuration or extension log)")
    recognised = [row for row in tables.files if row.kind not in _UNRECOGNISED]
    if (all(row.kind in SourceKind.LOG_KINDS for row in recognised)
            and not tables.readable_logs):
        # Logs that hold nothing but white space (or could not be read) check nothing: an
        # "OK" here would be an all-clear for a bundle nobody could look into.
        shown = ", ".join(row.logical_path for row in recognised[:3])
        reason = f"; {tables.problems[0].message}" if tables.problems else ""
        raise InputRejected(f"{name}: rejected: nothing readable: no log in it holds a line "
                            f"({shown}{', ...' if len(recognised) > 3 else ''}){reason}")


def analyze_files(
    files: Mapping[str, str | bytes],
    options: AnalyzeOptions,
    pack: RulePack | None = None,
    benign: BenignList | None = None,
    source: str = "inline",
) -> Analysis:
    """Analyse an in-memory bundle (rule test cases, self-check snippets), in this process."""
    if pack is None:
        pack, benign, _ = load_pack(options)
    tables = new_tables(source, options.limits)
    result = scan_members(members_from_files(files, source), _state(pack, tables, options))
    return _finish(result, pack, benign, [], options, isolate=False)


def _finish(
    result: ScanResult,
    pack: RulePack,
    benign: BenignList | None,
    benign_errors: list[str],
    options: AnalyzeOptions,
    isolate: bool | None = None,
) -> Analysis:
    from analyzer.checkable import not_checked
    from analyzer.engine.evaluate import OUTCOME_FIELDS, RuleOutcome, evaluate_rules
    from analyzer.report.build import build_report
    from analyzer.windows_facts import derive_windows_facts

    tables = result.tables
    tables.snapshot_runs = []
    tables.add("snapshot_runs", pair_snapshot_runs(tables.events))
    derive_windows_facts(tables)  # whole-bundle facts of Windows bundles (WAA-WIN-002)
    # The walker and the parsers can both report one failure; say it once.
    tables.problems = list(dict.fromkeys(tables.problems))
    tables.cap_problems()
    tables.problems.extend(tables.cap_notes())

    def evaluate() -> tuple[list[RuleOutcome], Report]:
        outcomes = evaluate_rules(pack.rules, tables, result.store, options.lang, benign)
        return outcomes, build_report(tables, outcomes, pack, options.lang, options.timeline)

    def evaluate_without_rules() -> tuple[list[dict[str, Any]], Report]:
        # The parent holds the rules: each outcome comes back without its rule (the rules
        # were 637 KB of a 720 KB answer, ~10 ms to pickle, send and read back).
        outcomes, report = evaluate()
        return [{name: getattr(outcome, name) for name in OUTCOME_FIELDS}
                for outcome in outcomes], report

    if options.isolate if isolate is None else isolate:
        parts, report = compute_isolated(tables.source, evaluate_without_rules, options.limits,
                                         "rule evaluation")
        # evaluate_rules answers once per rule, in the pack's order.
        outcomes = [RuleOutcome(rule=rule, **fields)
                    for rule, fields in zip(pack.rules, parts, strict=True)]
    else:
        outcomes, report = evaluate()
    report.rule_errors.extend(benign_errors)
    report.not_checked = not_checked(pack.rules, tables)
    return Analysis(report, tables, outcomes, pack)


def members_from_files(
    files: Mapping[str, str | bytes], source: str = "inline"
) -> Iterator[Member]:
    from analyzer.bundle.classify import classify
    from analyzer.bundle.names import normalise_path

    for path, content in files.items():
        data = content.encode("utf-8") if isinstance(content, str) else content
        logical = path.lstrip("/")
        if "\\" in path or path[1:2] == ":":  # a Windows path: C:\\WindowsAzure\\Logs\\...
            logical = normalise_path(path)[0] or logical
        yield Member(
            provenance=f"{source}!{logical}",
            logical_path=logical,
            kind=classify(logical),
            size=len(data),
            opener=_bytes_opener(data),
        )


def _bytes_opener(data: bytes) -> Callable[[], io.BytesIO]:
    return lambda: io.BytesIO(data)


def export_records(source: Any, columns: list[str], fmt: str, output: Any,
                   options: AnalyzeOptions) -> tuple[int, list[Problem]]:
    """Write every log record of a bundle (``parse --table records``), read in the same
    limited child as ``analyze``: the child walks, parses and writes; the parent reports.
    ``source`` is a path, or a bundle held in memory (``parse -``, with ``data``/``name``)."""
    from analyzer.bundle.walker import walk, walk_bytes
    from analyzer.export import iter_bundle_records, write_table
    from analyzer.isolation import ExportDone, export_isolated

    def work() -> ExportDone:
        problems: list[Problem] = []
        try:
            members = (walk(source, options.limits, problems) if isinstance(source, Path)
                       else walk_bytes(source.data, source.name, options.limits, problems))
            rows = iter_bundle_records(members, options.limits)
            count = write_table(rows, columns, fmt, output)
        except BrokenPipeError:  # `parse ... | head`: the reader has what it wanted
            silence_stdout()
            return ExportDone(0, problems)
        finally:
            if hasattr(output, "flush"):
                try:
                    output.flush()
                except BrokenPipeError:
                    silence_stdout()
        return ExportDone(count, problems)

    done = export_isolated(source.name, work, options.limits)
    return done.count, done.problems
