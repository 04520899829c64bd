"""input -> members -> parsed records/rows -> facts -> findings -> report, in one pass.

``scan_bundle`` walks the input once: structured members are parsed into rows, log members
go through the prefiltered scanner and the rule matcher. ``analyze`` adds rule evaluation and
assembles the :class:`~analyzer.report.model.Report`.
"""

from __future__ import annotations

import hashlib
import io
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from analyzer import __version__
from analyzer.bundle.model import Member, SourceKind
from analyzer.engine.benign import BenignList, load_benign
from analyzer.engine.evaluate import RuleOutcome, evaluate_rules
from analyzer.engine.loader import RulePack, default_rules_dir
from analyzer.engine.matching import LineRef, MatchStore, RecordMatcher
from analyzer.engine.regex import compile_prefilter
from analyzer.errors import AnalyzerError, BundleError, InputRejected, Problem
from analyzer.facts import BundleFacts, Coverage, FileRow
from analyzer.parse import conf, dhcp, events, goal_state, status, windows_status
from analyzer.parse import windows_agent_log as winlog  # windows: Windows guest agent
from analyzer.parse.logscan import LogScanner
from analyzer.parse.logsources import grammar_for
from analyzer.parse.records import Record
from analyzer.parse.rows import AgentRow, ExtensionRow
from analyzer.parse.waagent_log import Header
from analyzer.report.model import (
    BundleSummary,
    ExtensionSummary,
    FileSummary,
    ProblemSummary,
    Report,
    TimelineEvent,
    TimelinePoint,
)
from analyzer.settings import DEFAULT_LIMITS, Limits
from analyzer.windows_facts import derive_windows_facts  # windows

TOOL_NAME = "waagent-analyzer"

# Built-in fact extraction from log records (versions, extension states, timeline events):
# their patterns join the rules' prefilter so they cost nothing extra.
FACT_PATTERNS = (
    r"Azure Linux Agent Version",
    r"Goal State Agent version",
    # The 2.2.0-2.7 start-up line, not the [HEARTBEAT] that repeats the same words every 30 min.
    r"(?:ExtHandler|INFO) Agent WALinuxAgent-[\d.]+ is running as the goal state agent",
    r"running as process",
    r"Python: \d",
    r"OS: ",
    r"Target handler state",
)
TIMELINE_PATTERNS = (
    r"Azure Linux Agent Version",
    r"Goal State Agent version",
    r"failed with exception",
    r"did not terminate cleanly",
    r"ProcessExtensionsGoalState started",
    r"ProcessGoalState completed",
    r"Fetched a new incarnation",
    r"Enable extension",
    r"Install extension",
    r"starting daemon initially",
    r"Enable,\w+,\d+,",
    r"WindowsAzureGuestAgent starting",  # windows
    r"failed for plugin \(name: ",  # windows
)


@dataclass
class AnalyzeOptions:
    rule_dirs: list[Path] = field(default_factory=list)
    builtin_rules: bool = True
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    lang: str = "en"
    limits: Limits = DEFAULT_LIMITS
    timeline: bool = False
    isolate: bool = True
    """Read the input in a forked child with memory/CPU/time limits (see analyzer.sandbox)."""


@dataclass
class ScanResult:
    facts: BundleFacts
    store: MatchStore
    timeline: list[TimelineEvent] = field(default_factory=list)


@dataclass
class Analysis:
    report: Report
    facts: BundleFacts
    outcomes: list[RuleOutcome]
    pack: RulePack


def load_pack(options: AnalyzeOptions) -> tuple[RulePack, BenignList, list[str]]:
    from analyzer.engine.cache import load_rules_cached

    directories = ([default_rules_dir()] if options.builtin_rules else []) + options.rule_dirs
    pack = load_rules_cached(directories, options.params)
    benign, benign_errors = load_benign(default_rules_dir() / "benign.toml")
    return pack, benign, benign_errors


MembersFactory = Callable[[list[Problem]], Iterable[Member]]
"""Given the list walker problems go to, yields the members to analyse."""


def analyze_path(source: Path, options: AnalyzeOptions) -> Analysis:
    from analyzer.bundle.walker import walk

    return analyze_members(
        source.name,
        lambda problems: walk(source, options.limits, problems),
        options,
        sha256=file_sha256(source),
    )


def analyze_members(
    name: str, factory: MembersFactory, options: AnalyzeOptions, sha256: str = ""
) -> Analysis:
    """Analyse whatever ``factory`` yields (a bundle, a live root), isolated when asked."""
    pack, benign, benign_errors = load_pack(options)
    facts = BundleFacts(source=name, sha256=sha256)
    if options.isolate:
        result = scan_isolated(name, factory, pack, facts, options)
    else:
        problems: list[Problem] = []
        result = scan_members(factory(problems), pack, facts, options)
        facts.problems.extend(problems)
    _check_something_was_read(name, facts)
    return _finish(result, pack, benign, benign_errors, options)


_UNRECOGNISED = {SourceKind.OTHER, SourceKind.SECRET, SourceKind.ARCHIVE,
                 SourceKind.GOAL_STATE_PLACEHOLDER}


def _check_something_was_read(name: str, facts: BundleFacts) -> None:
    """Nothing read at all is a rejected input (exit 3); nothing *recognised* is said."""
    if not facts.files:
        if facts.problems:
            raise InputRejected(f"{name}: nothing could be read: {facts.problems[0].message}")
        facts.problems.append(Problem(name, "no recognised files: the input holds no files"))
        return
    if all(row.kind in _UNRECOGNISED for row in facts.files):
        facts.problems.append(Problem(name, "no recognised files: no waagent log, goal-state "
                                            "XML, status, configuration or extension log"))


def scan_isolated(
    name: str, factory: MembersFactory, pack: RulePack, facts: BundleFacts, options: AnalyzeOptions
) -> ScanResult:
    """Walk and scan in a forked child with limits; keep whatever it streamed back."""
    from analyzer.sandbox import SandboxLimits, run_in_sandbox

    store = MatchStore()
    timeline: list[TimelineEvent] = []
    received = {"members": 0}
    rejected: list[tuple[int, str]] = []

    def on_message(message: tuple[Any, ...]) -> None:
        if message[0] == "member":
            _, delta, delta_store, delta_timeline = message
            facts.merge(delta)
            store.merge(delta_store)
            timeline.extend(delta_timeline)
            received["members"] += 1
        elif message[0] == "rejected":
            rejected.append((message[1], message[2]))

    limits = options.limits
    end = run_in_sandbox(
        lambda emit: _child_scan(name, factory, pack, options, emit),
        SandboxLimits(limits.worker_memory_bytes, limits.worker_cpu_seconds, limits.wall_seconds),
        on_message,
    )
    if rejected:
        code, message = rejected[0]
        raise (InputRejected if code == InputRejected.exit_code else AnalyzerError)(message)
    if end.status != "ok":
        if not facts.files:
            raise InputRejected(f"{name}: rejected: {end.detail}")
        facts.problems.append(
            Problem(name, f"stopped: {end.detail}; the report covers what was read before")
        )
    return ScanResult(facts, store, timeline)


def _child_scan(
    name: str,
    factory: MembersFactory,
    pack: RulePack,
    options: AnalyzeOptions,
    emit: Callable[[Any], None],
) -> None:
    """Runs in the sandbox: one message per member, so a crash loses only the member at hand."""
    problems: list[Problem] = []
    sent_problems = 0
    state = _Scan(pack, BundleFacts(source=name), options)
    try:
        for member in _guarded(factory(problems), state):
            _scan_member(member, state)
            state.facts.problems.extend(problems[sent_problems:])
            sent_problems = len(problems)
            emit(("member", state.facts, state.matcher.store, state.timeline))
            state.reset_deltas(name)
    except AnalyzerError as error:
        if not isinstance(error, BundleError):
            emit(("rejected", error.exit_code, str(error)))
            return
        state.facts.problems.append(Problem(name, str(error)))
    state.facts.problems.extend(problems[sent_problems:])
    emit(("member", state.facts, state.matcher.store, state.timeline))


def _guarded(members: Iterable[Member], state: _Scan) -> Iterator[Member]:
    iterator = iter(members)
    while True:
        try:
            member = next(iterator)
        except StopIteration:
            return
        except BundleError as error:
            state.facts.problems.append(Problem(state.facts.source, str(error)))
            return
        yield member


def analyze_files(
    files: Mapping[str, str | bytes],
    options: AnalyzeOptions,
    pack: RulePack | None = None,
    benign: BenignList | None = None,
    source: str = "inline",
) -> Analysis:
    """Analyse an in-memory bundle (rule test cases, self-check snippets)."""
    if pack is None:
        pack, benign, _ = load_pack(options)
    facts = BundleFacts(source=source)
    result = scan_members(members_from_files(files, source), pack, facts, options)
    return _finish(result, pack, benign, [], options)


def _unique_problems(problems: list[Problem]) -> list[Problem]:
    """The walker and the parsers can both report one failure; say it once."""
    return list(dict.fromkeys(problems))


def _finish(
    result: ScanResult,
    pack: RulePack,
    benign: BenignList | None,
    benign_errors: list[str],
    options: AnalyzeOptions,
) -> Analysis:
    result.facts.problems = _unique_problems(result.facts.problems)
    derive_windows_facts(result.facts)  # windows: whole-bundle facts (WAA-WIN-002)
    outcomes = evaluate_rules(pack.rules, result.facts, result.store, options.lang, benign)
    report = build_report(result, outcomes, pack, options)
    report.rule_errors.extend(benign_errors)
    return Analysis(report, result.facts, outcomes, pack)


def members_from_files(
    files: Mapping[str, str | bytes], source: str = "inline"
) -> Iterator[Member]:
    from analyzer.bundle.classify import classify
    from analyzer.bundle.names import normalise_path

    for path, content in files.items():
        data = content.encode("utf-8") if isinstance(content, str) else content
        logical = path.lstrip("/")
        if "\\" in path or path[1:2] == ":":  # windows: C:\\WindowsAzure\\Logs\\...
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


def file_sha256(path: Path) -> str:
    if not path.is_file():
        return ""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -- scanning ----------------------------------------------------------------------------------


class _Scan:
    """State of one pass over the members."""

    def __init__(self, pack: RulePack, facts: BundleFacts, options: AnalyzeOptions) -> None:
        self.facts = facts
        self.options = options
        self.matcher = RecordMatcher(pack.rules)
        self.timeline: list[TimelineEvent] = []
        self._prefilters: dict[str, Any] = {}
        self._seen: dict[int, str] = {}
        self._last_fact: dict[tuple[str, ...], str] = {}
        self._timeline_regexes = _compile_all(TIMELINE_PATTERNS) if options.timeline else []

    def reset_deltas(self, source: str) -> None:
        """Start collecting a fresh delta (what the next member adds)."""
        self.facts = BundleFacts(source=source)
        self.matcher.store = MatchStore()
        self.timeline = []

    def prefilter(self, kind: str) -> Any:
        if kind not in self._prefilters:
            extra: tuple[str, ...] = FACT_PATTERNS if kind == SourceKind.WAAGENT_LOG else ()
            if kind in SourceKind.WINDOWS_LOG_KINDS:  # windows: version / plugin facts
                extra = winlog.FACT_PATTERNS
            if self.options.timeline:
                extra = extra + TIMELINE_PATTERNS
            self._prefilters[kind] = self.matcher.prefilter(kind, extra)
        return self._prefilters[kind]

    def full_prefilter(self, kind: str) -> Any:
        """What must go through the full record parse; the rest takes the cheap path."""
        key = f"full:{kind}"
        if key not in self._prefilters:
            patterns = self.matcher.full_patterns_for(kind)
            if self.options.timeline:
                patterns = patterns + TIMELINE_PATTERNS
            self._prefilters[key] = compile_prefilter(patterns) if patterns else None
        return self._prefilters[key]

    def on_line(self, ref: LineRef) -> None:
        """A one-line record only light checks and facts need: no fold, no full parse."""
        header = ref.header
        if header.timestamp is not None:
            key = hash((header.timestamp, header.message))
            first_member = self._seen.setdefault(key, ref.member)
            if first_member != ref.member:
                return
        if ref.source_kind == SourceKind.WAAGENT_LOG and _may_hold_facts(header.message):
            self._facts_from(ref.to_record())
        elif (ref.source_kind in SourceKind.WINDOWS_LOG_KINDS  # windows
              and winlog.may_hold_facts(header.message)):
            self._windows_facts_from(winlog.enrich_record(ref.to_record()))
        self.matcher.offer_line(ref)

    def on_record(self, record: Record) -> None:
        if record.timestamp is not None:
            key = hash((record.timestamp, record.message))
            first_member = self._seen.setdefault(key, record.member)
            if first_member != record.member:
                return  # the same record again in a rotated copy or a second collection
        if record.source_kind == SourceKind.WAAGENT_LOG:
            self._facts_from(record)
        elif record.source_kind in SourceKind.WINDOWS_LOG_KINDS:  # windows
            self._windows_facts_from(winlog.enrich_record(record))
        if self._timeline_regexes:
            self._timeline_from(record)
        self.matcher(record)

    def _changed(self, key: tuple[str, ...], value: str) -> bool:
        """Facts repeat on every goal state; keep a row only when the value changes."""
        if self._last_fact.get(key) == value:
            return False
        self._last_fact[key] = value
        return True

    def _facts_from(self, record: Record) -> None:
        fields = record.fields
        for field_name, role in (
            ("daemon_version", "daemon"),
            ("goal_state_agent_version", "goal_state_agent"),
            ("python_version", "python"),
            ("os", "os"),
        ):
            if field_name in fields and self._changed((role,), fields[field_name]):
                self.facts.agent.append(
                    AgentRow(role, fields[field_name], record.member, record.timestamp, record.line)
                )
        if record.extension and "Target handler state" in record.message:
            state = record.message.split("Target handler state:", 1)[-1].strip().split(" ")[0]
            if self._changed(
                ("extension", record.extension.lower()), f"{record.extension_version} {state}"
            ):
                self.facts.extensions.append(
                    ExtensionRow(
                        name=record.extension,
                        version=record.extension_version,
                        source_kind="log",
                        member=record.member,
                        state=state,
                        timestamp=record.timestamp,
                        line=record.line,
                    )
                )

    def _windows_facts_from(self, record: Record) -> None:
        """windows: the guest agent's version and plugin operations (docs/windows-formats.md)."""
        for row in winlog.record_facts(record):
            if isinstance(row, AgentRow):
                if self._changed((row.role,), row.value):
                    self.facts.agent.append(row)
            else:
                self.facts.extensions.append(row)

    def _timeline_from(self, record: Record) -> None:
        if record.timestamp is None:
            return
        for kind, regex in self._timeline_regexes:
            if regex.search(record.message):
                self.timeline.append(
                    TimelineEvent(
                        record.timestamp,
                        _TIMELINE_KINDS[kind],
                        record.message.split("\n", 1)[0][:200],
                    )
                )
                return


def _may_hold_facts(message: str) -> bool:
    """Cheap test before building a record: versions, Python, OS, extension states."""
    return ("Agent" in message or "Python: " in message or message.startswith("OS: ")
            or "Target handler state" in message)


_TIMELINE_KINDS = {
    r"Azure Linux Agent Version": "agent-start",
    r"Goal State Agent version": "agent-start",
    r"failed with exception": "agent-crash",
    r"did not terminate cleanly": "agent-crash",
    r"ProcessExtensionsGoalState started": "goal-state",
    r"ProcessGoalState completed": "goal-state",
    r"Fetched a new incarnation": "goal-state",
    r"Enable extension": "extension-op",
    r"Install extension": "extension-op",
    r"starting daemon initially": "snapshot-run",
    r"Enable,\w+,\d+,": "snapshot-run",
    r"WindowsAzureGuestAgent starting": "agent-start",  # windows
    r"failed for plugin \(name: ": "extension-op",  # windows
}


def _compile_all(patterns: Iterable[str]) -> list[tuple[str, Any]]:
    from analyzer.engine.regex import compile_pattern

    return [(p, compile_pattern(p)) for p in patterns]


def scan_members(
    members: Iterable[Member], pack: RulePack, facts: BundleFacts, options: AnalyzeOptions
) -> ScanResult:
    state = _Scan(pack, facts, options)
    for member in _guarded(members, state):
        _scan_member(member, state)
    return ScanResult(facts, state.matcher.store, state.timeline)


def _looks_like_agent_log(
    member: Member, parse_header: Callable[[str], Any] | None = None
) -> bool:
    """A single file given on its own (``case.log``, ``journal.txt``) counts as a waagent log
    when its first lines are agent records, whatever its name (Windows guest agent records
    with ``parse_header=winlog.parse_windows_header``)."""
    from analyzer.parse.waagent_log import decode_line
    from analyzer.parse.waagent_log import parse_header as linux_header

    parse_header = parse_header or linux_header

    with member.open() as stream:
        head = stream.read(16384)
    lines = head.split(b"\n")[:20]
    return any(parse_header(decode_line(line)[0]) is not None for line in lines if line)


def _scan_member(member: Member, state: _Scan) -> None:
    if (member.kind == SourceKind.OTHER and member.depth == 0
            and "!" not in member.provenance and "/" not in member.provenance):
        try:
            if _looks_like_agent_log(member):
                member.kind = SourceKind.WAAGENT_LOG
            elif _looks_like_agent_log(member, winlog.parse_windows_header):  # windows
                member.kind = SourceKind.WINDOWS_AGENT_LOG
        except (BundleError, OSError, EOFError, zlib.error, ValueError):
            pass
    facts = state.facts
    row = FileRow(
        member.provenance,
        member.logical_path,
        member.kind,
        member.size,
        member.collector_truncated,
        "; ".join(member.problems),
    )
    facts.files.append(row)
    _windows_plugin_folder(member, state)  # windows
    handler = _HANDLERS.get(member.kind)
    if handler is None:
        return
    try:
        handler(member, state)
    except BundleError as error:
        _problem(facts, row, member, str(error))
    except (OSError, EOFError, zlib.error, ValueError, UnicodeError) as error:
        _problem(facts, row, member, f"cannot read: {type(error).__name__}: {error}")


def _windows_plugin_folder(member: Member, state: _Scan) -> None:
    """windows: a file under Packages\\Plugins\\<Name>\\<Version>\\ (or the matching log
    folder) says that version of the handler is on the VM, once per folder."""
    row = winlog.directory_row(member.provenance, member.logical_path)
    if row is not None and state._changed(("windows-dir", row.name.lower(), row.version), "1"):
        state.facts.extensions.append(row)


def _problem(facts: BundleFacts, row: FileRow, member: Member, message: str) -> None:
    prefix = f"{member.provenance}: "
    message = message[len(prefix) :] if message.startswith(prefix) else message
    facts.problems.append(Problem(member.provenance, message))
    row.problems = "; ".join(p for p in (row.problems, message) if p)


def _scan_log(member: Member, state: _Scan) -> None:
    limits = state.options.limits
    scanner = LogScanner(
        member.provenance,
        member.kind,
        grammar_for(member.kind),
        state.prefilter(member.kind),
        state.on_record,
        max_line_bytes=limits.max_line_bytes,
        max_record_bytes=limits.max_record_bytes,
        max_continuation_lines=limits.max_continuation_lines,
        collector_truncated=member.collector_truncated,
        timeline=state.options.timeline,
    )
    scanner.full_prefilter = state.full_prefilter(member.kind)
    grammar = grammar_for(member.kind)

    def on_line(header: Header, line: int, cut: bool) -> None:
        state.on_line(LineRef(header, member.provenance, member.kind, line, cut,
                              grammar.prefix_has_real_version))

    scanner.on_line = on_line
    with member.open() as stream:
        text: IO[bytes] = stream
        if member.kind in SourceKind.WINDOWS_LOG_KINDS:  # windows: UTF-16 copies
            text = winlog.text_stream(stream)
        stats = scanner.scan(text)
    coverage = state.facts.coverage.setdefault(member.kind, Coverage())
    coverage.extend(stats.first_timestamp, stats.last_timestamp, stats.lines, stats.bytes)
    state.facts.hourly.update(stats.hourly)


def _read(member: Member, state: _Scan) -> bytes:
    cap = state.options.limits.max_xml_bytes
    with member.open() as stream:
        data = stream.read(cap + 1)
    if len(data) > cap:
        raise BundleError(f"skipped: larger than {cap} bytes")
    return data


def _structured(parse: Callable[[bytes, str], Any]) -> Callable[[Member, _Scan], None]:
    def handle(member: Member, state: _Scan) -> None:
        result = parse(_read(member, state), member.provenance)
        _store(state.facts, result)

    return handle


def _store(facts: BundleFacts, result: Any) -> None:
    items = result if isinstance(result, list) else [result]
    for item in items:
        if isinstance(item, ExtensionRow):
            facts.extensions.append(item)
        elif isinstance(item, AgentRow):
            if item.role == "collected_at":
                facts.collector_time = _parse_iso(item.value) or facts.collector_time
            else:
                facts.agent.append(item)
        elif hasattr(item, "document"):
            facts.goal_states.append(item)
        elif hasattr(item, "key") and hasattr(item, "source_kind"):
            facts.config.append(item)
        else:
            for name in ("goal_states", "extensions", "agents", "rows"):
                _store(facts, list(getattr(item, name, [])))


def _parse_iso(value: str) -> datetime | None:
    from analyzer.parse.timeutil import parse_iso_z

    return parse_iso_z(value) if value else None


def _scan_events(member: Member, state: _Scan) -> None:
    for record in events.parse_extension_events(_read(member, state), member.provenance):
        state.on_record(record)


def _placeholder(member: Member, state: _Scan) -> None:
    return None


def _live_facts(member: Member, state: _Scan) -> None:
    from analyzer.live.facts import LiveFacts
    from analyzer.live.rows import live_rows

    try:
        facts = LiveFacts.from_json(_read(member, state))
    except (ValueError, TypeError, KeyError) as error:
        raise BundleError(f"invalid self-check facts: {error}") from None
    state.facts.config.extend(live_rows(facts, member.provenance))


_HANDLERS: dict[str, Callable[[Member, _Scan], None]] = {
    **{kind: _scan_log for kind in SourceKind.LOG_KINDS},
    SourceKind.GOAL_STATE: _structured(goal_state.parse_goal_state),
    SourceKind.EXTENSIONS_CONFIG: _structured(goal_state.parse_extensions_config),
    SourceKind.VM_SETTINGS: _structured(goal_state.parse_vm_settings),
    SourceKind.HOSTING_ENV: _structured(goal_state.parse_hosting_env),
    SourceKind.SHARED_CONFIG: _structured(goal_state.parse_shared_config),
    SourceKind.WAAGENT_STATUS: _structured(status.parse_waagent_status),
    SourceKind.EXTENSION_STATUS: _structured(status.parse_extension_status),
    SourceKind.HANDLER_STATE: _structured(status.parse_handler_state),
    SourceKind.HANDLER_STATUS: _structured(status.parse_handler_status),
    SourceKind.HANDLER_MANIFEST: _structured(status.parse_handler_manifest),
    SourceKind.EXTENSION_SETTINGS: _structured(status.parse_extension_settings),
    SourceKind.AGENT_ERROR_JSON: _structured(status.parse_agent_error),
    SourceKind.AGENT_SENTINEL: _structured(status.parse_crash_sentinel),
    SourceKind.WAAGENT_CONF: _structured(conf.parse_waagent_conf),
    SourceKind.VMBACKUP_CONF: _structured(conf.parse_vmbackup_conf),
    SourceKind.DHCP_LEASE: _structured(dhcp.parse_dhcp_lease),
    SourceKind.COLLECTOR_RESULTS: _structured(events.parse_collector_results),
    SourceKind.EXTENSION_EVENTS: _scan_events,
    SourceKind.GOAL_STATE_PLACEHOLDER: _placeholder,
    SourceKind.LIVE_FACTS: _live_facts,
    # windows: Windows guest agent (helper "windows"; port to parse/registry.py)
    SourceKind.WINDOWS_AGGREGATE_STATUS: _structured(windows_status.parse_aggregate_status),
}


# -- report --------------------------------------------------------------------------------------


def build_report(
    result: ScanResult, outcomes: list[RuleOutcome], pack: RulePack, options: AnalyzeOptions
) -> Report:
    facts = result.facts
    bundle = BundleSummary(
        source=facts.source,
        sha256=facts.sha256,
        collected_at=facts.collected_at,
        time_start=facts.time_start,
        time_end=facts.time_end,
        daemon_versions=_versions(facts, "daemon"),
        # windows: the Windows guest agent is the goal-state agent of a Windows VM
        goal_state_agent_versions=_versions(facts, "goal_state_agent")
        + _versions(facts, "windows_guest_agent"),
        extensions=_extension_summaries(facts),
        files=[FileSummary(f.member, f.kind, f.size) for f in facts.files],
        problems=[ProblemSummary(p.member, p.message) for p in facts.problems],
    )
    report = Report(
        TOOL_NAME,
        __version__,
        bundle,
        [o.finding for o in outcomes if o.finding is not None],
        lang=options.lang,
    )
    report.rule_errors.extend(str(e) for e in pack.errors)
    report.rule_errors.extend(f"{o.rule.id}: {o.error}" for o in outcomes if o.error)
    report.timeline_counts = [
        TimelinePoint(stamp, level, count)
        for (hour, level), count in sorted(facts.hourly.items())
        if (stamp := _hour(hour)) is not None
    ]
    report.timeline_events = pair_snapshot_runs(sorted(result.timeline, key=lambda e: e.timestamp))
    history = [
        (a.timestamp, a.role, a.value)
        for a in facts.agent
        if a.role in ("daemon", "goal_state_agent", "windows_guest_agent")
    ]
    report.agent_history = sorted(history, key=lambda item: (item[0] is None, item[0] or _EPOCH))
    return report


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_RUN_END = re.compile(r"Enable,(?P<status>\w+),(?P<code>\d+),")
SUCCESS_CODES = {"0", "1", "3"}


def pair_snapshot_runs(events: list[TimelineEvent]) -> list[TimelineEvent]:
    """Join each backup run's start with its final ``Enable,<status>,<code>,`` line: one
    event with its duration and outcome (the code, not the status, tells success)."""
    paired: list[TimelineEvent] = []
    open_run: TimelineEvent | None = None
    for event in events:
        if event.kind != "snapshot-run":
            paired.append(event)
            continue
        end = _RUN_END.search(event.label)
        if end is None:
            if open_run is not None:
                paired.append(_unfinished(open_run))
            open_run = event
            continue
        if end.group("code") == "4":
            continue  # the interim "transitioning" status, not the end of the run
        outcome = (
            "success"
            if end.group("code") in SUCCESS_CODES
            else f"failed (code {end.group('code')})"
        )
        start = open_run or event
        duration = (event.timestamp - start.timestamp).total_seconds()
        paired.append(
            TimelineEvent(
                start.timestamp, "snapshot-run", f"backup run: {outcome}", duration, outcome
            )
        )
        open_run = None
    if open_run is not None:
        paired.append(_unfinished(open_run))
    return paired


def _unfinished(start: TimelineEvent) -> TimelineEvent:
    return TimelineEvent(
        start.timestamp, "snapshot-run", "backup run: no end in the log", None, "unfinished"
    )


def _hour(text: str) -> datetime | None:
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H").replace(tzinfo=UTC)
    except ValueError:
        return None


def _versions(facts: BundleFacts, role: str) -> list[str]:
    from analyzer.engine.versions import version_key

    values = {row.value for row in facts.agent if row.role == role and row.value}
    return sorted(values, key=version_key)


_SOURCE_PRIORITY = (
    "handler_status",
    "log",
    "extension_status",
    "waagent_status",
    "vm_settings",
    "extensions_config",
    "handler_state",
    "directory",
)


def _extension_summaries(facts: BundleFacts) -> list[ExtensionSummary]:
    """The current version of each handler: the newest fact, preferring what ran over what
    was requested."""
    best: dict[str, tuple[tuple[float, int], ExtensionRow]] = {}
    for row in facts.extensions:
        if not row.version:
            continue
        stamp = row.timestamp.timestamp() if row.timestamp else float("-inf")
        priority = len(_SOURCE_PRIORITY) - (
            _SOURCE_PRIORITY.index(row.source_kind) if row.source_kind in _SOURCE_PRIORITY else 99
        )
        rank = (stamp, priority)
        key = row.name.lower()
        if key not in best or rank >= best[key][0]:
            best[key] = (rank, row)
    states = {}
    for row in facts.extensions:
        if row.state:
            states[row.name.lower()] = row.state
    return [
        ExtensionSummary(row.name, row.version, row.state or states.get(key, ""), row.member)
        for key, (_, row) in sorted(best.items())
    ]


def export_records(source: Path, columns: list[str], fmt: str, output: Any,
                   options: AnalyzeOptions) -> tuple[int, list[Problem]]:
    """Write every log record of a bundle (``parse --table records``), read in the same
    limited child as ``analyze``: the child walks, parses and writes; the parent reports."""
    from analyzer.bundle.walker import walk
    from analyzer.export import iter_bundle_records, write_table
    from analyzer.sandbox import SandboxLimits, run_in_sandbox

    outcome: dict[str, Any] = {"count": 0, "problems": [], "rejected": None}

    def work(emit: Callable[[Any], None]) -> None:
        problems: list[Problem] = []
        try:
            rows = iter_bundle_records(walk(source, options.limits, problems), options.limits)
            count = write_table(rows, columns, fmt, output)
        except InputRejected as error:
            emit(("rejected", str(error)))
            return
        finally:
            if hasattr(output, "flush"):
                output.flush()
        emit(("done", count, problems))

    def on_message(message: tuple[Any, ...]) -> None:
        if message[0] == "rejected":
            outcome["rejected"] = message[1]
        else:
            outcome["count"], outcome["problems"] = message[1], message[2]

    limits = options.limits
    end = run_in_sandbox(work, SandboxLimits(limits.worker_memory_bytes,
                                             limits.worker_cpu_seconds, limits.wall_seconds),
                         on_message)
    if outcome["rejected"]:
        raise InputRejected(outcome["rejected"])
    problems = list(outcome["problems"])
    if end.status != "ok":
        problems.append(Problem(source.name, f"stopped: {end.detail}; the export is incomplete"))
    return outcome["count"], problems
