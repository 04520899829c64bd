"""The bulk path (analyzer/engine/bulk.py) gives exactly what the record path gives.

Each case analyses the same input twice, with ``WAAGENT_ANALYZER_BULK=0`` (every candidate
line becomes a record) and with the bulk path, and compares what a user sees: the JSON
report (findings, counts, evidence lines, first/last seen), the agent and extension facts,
the events of the timeline and the backup runs.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import random
import sys
import tarfile
from array import array
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.engine import distinct
from analyzer.engine.heads import parse_stamps
from analyzer.engine.loader import default_rules_dir, load_rules
from analyzer.engine.matching import Hit, RawHit, SequenceStore
from analyzer.engine.model import Rule
from analyzer.parse.dedupe import FirstSighting
from analyzer.pipeline import AnalyzeOptions, analyze_files, analyze_path
from analyzer.report.json_renderer import JsonRenderer

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
import run as bench  # noqa: E402

FIXTURES = sorted((REPO / "fixtures" / "bundles").iterdir())



# The compiled scan and its tags, on small inputs too.
pytestmark = pytest.mark.usefixtures("compiled_scan_for_any_size")


def _outcome(path: Path, monkeypatch: pytest.MonkeyPatch, bulk: bool) -> tuple[str, ...]:
    monkeypatch.setenv("WAAGENT_ANALYZER_BULK", "1" if bulk else "0")
    analysis = analyze_path(path, AnalyzeOptions(isolate=False, timeline=True))
    tables = analysis.tables
    report = JsonRenderer().render(analysis.report)
    facts = repr([dataclasses.astuple(row) for row in tables.agent + tables.extensions])
    events = repr(tables.events)
    runs = repr(tables.snapshot_runs)
    return report, facts, events, runs


def _same(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    records = _outcome(path, monkeypatch, bulk=False)
    bulk = _outcome(path, monkeypatch, bulk=True)
    for label, a, b in zip(("report", "facts", "events", "runs"), records, bulk, strict=True):
        assert a == b, f"{path.name}: bulk and record paths differ in {label}"


@pytest.mark.parametrize("bundle", FIXTURES, ids=[p.name for p in FIXTURES])
def test_fixture_bundles_same_on_both_paths(bundle: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _same(bundle, monkeypatch)


def _mix_bundle(tmp_path: Path, mix: str) -> Path:
    """About 1 MB of the benchmark's mix in a rotated pair, the goal-state files and the
    backup extension log (the heavy one for ``extension-log-heavy``)."""
    writer = bench.LogWriter(seed=7, mix=mix)
    end = datetime(2024, 1, 31, 12, 0, tzinfo=UTC)
    older = "".join(writer.records_between(end - timedelta(days=2), end - timedelta(days=1),
                                           0.04, needles=3))
    newer = "".join(writer.records_between(end - timedelta(days=1), end, 0.04, needles=3))
    files = {"var/log/waagent.log": newer.encode(),
             # the rotated copy repeats the last hour of the current file: counted once
             "var/log/waagent.log.1.gz": gzip.compress((older + newer[:20000]).encode(),
                                                       mtime=0)}
    extension = "".join(bench._heavy_extension_log(
        400_000 if mix == "extension-log-heavy" else 20_000, end))
    files[f"var/log/azure/{bench.VMSNAP}/extension.log"] = extension.encode()
    target = tmp_path / f"{mix}.tgz"
    with tarfile.open(target, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return target


@pytest.mark.parametrize("mix", bench.MIXES)
def test_benchmark_mixes_same_on_both_paths(mix: str, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = _mix_bundle(tmp_path, mix)
    _same(bundle, monkeypatch)
    monkeypatch.setenv("WAAGENT_ANALYZER_BULK", "1")
    report = analyze_path(bundle, AnalyzeOptions(isolate=False)).report
    assert report.findings, "the mix is meant to make rules fire"


@pytest.mark.parametrize("mix", bench.MIXES)
def test_python_keying_answers_like_the_compiled_one(mix: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """An install without a C compiler keys rows in Python: the same report, facts, events."""
    bundle = _mix_bundle(tmp_path, mix)
    assert distinct.native_available()
    compiled = _outcome(bundle, monkeypatch, bulk=True)
    monkeypatch.setattr(distinct, "_distinct", None)
    assert not distinct.native_available()
    assert _outcome(bundle, monkeypatch, bulk=True) == compiled


def _rule_test_outcome(files: dict[str, str | bytes], monkeypatch: pytest.MonkeyPatch,
                       bulk: bool) -> tuple[str, ...]:
    monkeypatch.setenv("WAAGENT_ANALYZER_BULK", "1" if bulk else "0")
    analysis = analyze_files(files, AnalyzeOptions(timeline=True), pack=_PACK)
    tables = analysis.tables
    return (JsonRenderer().render(analysis.report),
            repr([dataclasses.astuple(row) for row in tables.agent + tables.extensions]),
            repr(tables.events))


_PACK = load_rules(sorted(default_rules_dir().rglob("*.toml")))


@pytest.mark.parametrize("rule", _PACK.rules, ids=[r.id for r in _PACK.rules])
def test_rule_test_inputs_same_on_both_paths(rule: Rule, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every rule's real and written test lines, under the whole pack (``exclude``,
    ``emitted_by`` and extension filters are decided per message on the bulk path)."""
    for test in rule.tests:
        records = _rule_test_outcome(test.files, monkeypatch, bulk=False)
        bulk = _rule_test_outcome(test.files, monkeypatch, bulk=True)
        assert records == bulk, f"{rule.id} / {test.name}: bulk and record paths differ"


def test_extension_named_by_a_handler_path_in_the_message(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    """A line without a ``[Name-Version]`` prefix is about the extension whose handler path
    it names: ``emitted_by`` takes the first line only, on both paths."""
    lines = [f"starting daemon initially from /var/lib/waagent/{bench.VMSNAP}-1.0.9225.0/main",
             "starting daemon initially (no path)",
             "starting daemon initially from /var/lib/waagent/Other.Ext-1.0/main"]
    lines += ["Agent WALinuxAgent-2.10.0.8 is running"] * 10
    log = "".join(f"2024-01-31T{index + 1:02d}:00:00.000000Z INFO ExtHandler ExtHandler {line}\n"
                  for index, line in enumerate(lines))
    for bulk in (False, True):
        monkeypatch.setenv("WAAGENT_ANALYZER_BULK", "1" if bulk else "0")
        report = analyze_files({"var/log/waagent.log": log}, AnalyzeOptions(), pack=_PACK).report
        evidence = {f.rule: [e.line for e in f.evidence] for f in report.findings}
        assert evidence.get("WAA-SNAP-003") == [1], f"bulk={bulk}: {evidence}"


def test_a_handler_path_in_a_multi_line_record_names_its_extension(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A command's ``[stdout]`` block is about the extension its handler path names. The bulk
    path keeps what an extension-filtered route takes per (header, extension): a record with
    the same header and no path must not answer for one that names the backup extension."""
    status = "[stdout]\nEnable,error,402,CRP timeout limit has reached, will not take snapshot"
    commands = ["main/handle.sh enable",
                f"/var/lib/waagent/{bench.VMSNAP}-1.0.9225.0/main/handle.sh enable"]
    log = "".join(f"2024-01-31T0{index + 1}:00:00.000000Z INFO ExtHandler ExtHandler "
                  f"Command: {command}\n{status}\n" for index, command in enumerate(commands))
    for bulk in (False, True):
        monkeypatch.setenv("WAAGENT_ANALYZER_BULK", "1" if bulk else "0")
        report = analyze_files({"var/log/waagent.log": log}, AnalyzeOptions(), pack=_PACK).report
        evidence = {f.rule: [e.line for e in f.evidence] for f in report.findings}
        assert evidence.get("WAA-SNAP-001") == [4], f"bulk={bulk}: {evidence}"


def test_stamps_equal_datetime_timestamps() -> None:
    rnd = random.Random(3)
    stamps = [datetime(rnd.randint(1990, 2199), rnd.randint(1, 12), rnd.randint(1, 28),
                       rnd.randint(0, 23), rnd.randint(0, 59), rnd.randint(0, 59),
                       rnd.randint(0, 999_999), tzinfo=UTC) for _ in range(2000)]
    stamps.append(datetime(2024, 2, 29, 23, 59, 59, 999_999, tzinfo=UTC))
    text = b"".join(f"{s:%Y-%m-%dT%H:%M:%S.%f}".encode() for s in stamps)
    micros, valid = parse_stamps(text)
    assert valid.all()
    assert (micros / 1e6).tolist() == [s.timestamp() for s in stamps]


@pytest.mark.parametrize("stamp", [b"2023-02-29 10:00:00.000000", b"1989-12-31T23:59:59.000000",
                                   b"2024-13-01T00:00:00.000000", b"2024-04-31T00:00:00.000000",
                                   b"2024-01-01T24:00:00.000000", b"2200-01-01T00:00:00.000000"])
def test_stamps_the_header_parser_rejects_are_not_valid(stamp: bytes) -> None:
    assert not parse_stamps(stamp)[1].any()


def _raw(index: int) -> RawHit:
    line = f"2024-01-31T10:00:{index % 60:02d}.000000Z INFO ExtHandler ExtHandler start {index}"
    return RawHit(line.encode(), "m", "waagent_log", index + 1, True)


@pytest.mark.parametrize("samples", [2, 3, 20])
@pytest.mark.parametrize("seed", range(40))
def test_bulk_starts_keep_the_same_samples_and_cap(samples: int, seed: int) -> None:
    """Batches of starts in bulk, mixed with single starts (the record path's), keep what
    one start at a time keeps: arrays, cap, and the same first/last/spread samples."""
    rnd = random.Random(seed)
    one_by_one = SequenceStore(max_starts=3000, samples=samples)
    mixed = SequenceStore(max_starts=3000, samples=samples)
    index = 0
    for _ in range(rnd.randint(1, 30)):
        size = rnd.choice([1, 2, 3, 9, 17, 100, 700])
        hits = [_raw(index + i) for i in range(size)]
        for i, hit in enumerate(hits):
            one_by_one._add_start(float(index + i), one_by_one._group_index(""), index + i + 1,
                                  hit)
        if rnd.random() < 0.3:
            for i, hit in enumerate(hits):
                mixed._add_start(float(index + i), mixed._group_index(""), index + i + 1, hit)
        else:
            mixed.add_starts_bulk(array("d", [float(index + i) for i in range(size)]),
                                  array("q", [index + i + 1 for i in range(size)]),
                                  lambda i, hits=hits: hits[i])  # type: ignore[misc]
        index += size
    assert mixed.start_times == one_by_one.start_times
    assert mixed.start_lines == one_by_one.start_lines
    assert mixed.starts_dropped == one_by_one.starts_dropped
    assert mixed.stride == one_by_one.stride
    for name in ("first", "last", "spread"):
        assert sorted(getattr(mixed, name)) == sorted(getattr(one_by_one, name)), name
    assert all(isinstance(hit, Hit) for hit in mixed.sampled().values())


def test_first_sightings_in_bulk_answer_like_one_by_one() -> None:
    """The bulk path asks about a chunk's records at once; the answers (and what later
    members see) are those of asking one record at a time."""
    import numpy as np

    rnd = random.Random(5)
    records = [[(rnd.randint(0, 30) * 1_000_000, b"m%d" % rnd.randint(0, 3)) for _ in range(60)]
               for _ in range(3)]
    one, many = FirstSighting(), FirstSighting()
    for index, member in enumerate(records):
        name = f"waagent.log.{index}"
        expected = [one.is_first_raw("waagent_log", t, m, name) for t, m in member]
        got = many.first_of_many("waagent_log", np.asarray([t for t, _ in member]),
                                 np.asarray([hash(m) for _, m in member]), name)
        assert got.tolist() == expected
        assert index == 0 or not all(got), "later members repeat earlier records"


def _sighted_like_a_set(sightings: FirstSighting, sizes: list[int], seed: int, seconds: int,
                        messages: int) -> list[int]:
    """Members of these sizes (random records) asked in bulk, one after another: every
    answer must be that of a plain set of what earlier members held. Returns how many new
    keys each member brought."""
    rnd = random.Random(seed)
    held: set[tuple[int, bytes]] = set()
    new_keys: list[int] = []
    for index, size in enumerate(sizes):
        member = [(rnd.randint(0, seconds) * 1_000_000, b"m%d" % rnd.randint(0, messages))
                  for _ in range(size)]
        got = sightings.first_of_many("waagent_log", np.asarray([t for t, _ in member],
                                                                  dtype=np.int64),
                                      np.asarray([hash(m) for _, m in member], dtype=np.int64),
                                      f"waagent.log.{index}")
        assert got.tolist() == [record not in held for record in member], index
        held.update(member)
        new_keys.append(int(got.sum()))
    return new_keys


def test_first_sightings_over_many_members_of_any_size() -> None:
    """Earlier members' keys are merged as members come (sizes up and down): the answers
    stay those of a plain set of everything earlier members held."""
    sightings = FirstSighting()
    _sighted_like_a_set(sightings, [50, 400, 3, 3, 900, 20, 1, 0, 200, 200, 200, 5000, 7],
                        seed=11, seconds=300, messages=5)
    assert len(sightings._earlier) <= 5, "merged as they came, not one array per member"


def test_large_earlier_members_stay_apart_and_still_find_their_repeats(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Past MERGED_KEYS, earlier members' keys are not merged again (merging two large
    arrays was the reader's memory peak): every repeat is still found, and the arrays to
    search stay few."""
    from analyzer.parse import dedupe

    monkeypatch.setattr(dedupe, "MERGED_KEYS", 256)
    sightings = FirstSighting()
    new_keys = _sighted_like_a_set(
        sightings, [300, 40, 40, 200, 200, 1000, 5, 150, 150, 150, 600, 2],
        seed=17, seconds=2_000, messages=3)
    sightings._close_member("")
    sizes = [len(keys) for keys in sightings._earlier]
    assert sum(sizes) == sightings.kept == sum(new_keys)
    # an array past the limit is one member's own keys, never a merge
    assert all(size <= 256 or size in new_keys for size in sizes), (sizes, new_keys)
    # arrays of half the limit or more: two per limit's worth of keys; below it, halving
    assert len(sizes) <= 2 * sum(sizes) // 256 + 8, sizes
    assert len(sizes) < len(new_keys), "small members are still merged"


def test_members_apart_in_time_are_not_searched(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rotated logs follow each other in time: a member whose records are all outside the
    times of the earlier keys is answered without a search, and a member that overlaps
    earlier ones in time (a second copy of a rotated log) still finds every repeat."""
    sightings = FirstSighting()
    searched: list[int] = []
    real_argsort = np.argsort

    def counting(values: Any, *args: Any, **kwargs: Any) -> Any:
        searched.append(len(values))
        return real_argsort(values, *args, **kwargs)

    monkeypatch.setattr(np, "argsort", counting)
    held: set[tuple[int, bytes]] = set()

    def ask(member: list[tuple[int, bytes]], name: str) -> list[bool]:
        got = sightings.first_of_many(
            "waagent_log", np.asarray([t for t, _ in member], dtype=np.int64),
            np.asarray([hash(m) for _, m in member], dtype=np.int64), name).tolist()
        assert got == [record not in held for record in member], name
        held.update(member)
        return got

    day = 86_400 * 1_000_000
    rotated = [[(number * day + second * 1_000_000, b"m%d" % (second % 7))
                for second in range(500)] for number in range(4)]
    for number, member in enumerate(rotated):
        ask(member, f"waagent.log.{3 - number}")
    assert searched == [], "members later than every earlier key are not searched"
    copy = [*rotated[1][100:300], (4 * day, b"m0"), (day + 100 * 1_000_000, b"other")]
    assert ask(copy, "copy/waagent.log.2") == [False] * 200 + [True, True]
    assert searched, "a member that overlaps earlier ones in time is searched"
    assert not sightings.is_first_raw("waagent_log", day + 5_000_000, b"m5", "again")
    assert sightings.is_first_raw("waagent_log", 9 * day, b"m5", "again")
    # Many members apart in time: past a few dozen they are merged again (a record-path
    # record checks every array's span), and the oldest still answers for its repeats.
    for number in range(10, 70):
        ask([(number * day + second, b"m1") for second in range(5)], f"old/{number}")
    assert len(sightings._earlier) <= 40
    assert ask(rotated[0][:50], "copy/waagent.log.3") == [False] * 50


def test_a_small_member_is_answered_without_sorting_large_earlier_ones(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A backup extension's log of a few lines, read after large rotated agent logs it
    overlaps in time: its few records are looked up by a pass over each earlier array, not
    by sorting them; the answers stay those of a set, record by record and in bulk, and an
    array asked again and again is sorted after all."""
    sightings = FirstSighting()
    held: set[tuple[int, bytes]] = set()
    day = 86_400 * 1_000_000
    rotated = [[(number * day + second * 50_000, b"m%d" % (second % 13))
                for second in range(20_000)] for number in range(3)]
    for number, member in enumerate(rotated):
        sightings.first_of_many(
            "waagent_log", np.asarray([t for t, _ in member], dtype=np.int64),
            np.asarray([hash(m) for _, m in member], dtype=np.int64), f"waagent.log.{number}")
        held.update(member)
    sorts: list[int] = []
    real_sort = np.ndarray.sort

    class Counting(np.ndarray):
        def sort(self, *args: Any, **kwargs: Any) -> None:
            sorts.append(len(self))
            real_sort(self, *args, **kwargs)

    sightings._earlier = [keys.view(Counting) for keys in sightings._earlier]
    rnd = random.Random(3)
    for asked in range(6):
        small = [rotated[rnd.randrange(3)][rnd.randrange(20_000)] for _ in range(40)]
        small += [(rnd.randrange(3) * day + 7, b"not held"), (day + 50_000, b"m1"),
                  small[0], small[0], (day + 50_000, b"m1")]  # the same key more than once
        got = sightings.first_of_many(
            "extension_log", np.asarray([t for t, _ in small], dtype=np.int64),
            np.asarray([hash(m) for _, m in small], dtype=np.int64), f"extension.log.{asked}")
        assert got.tolist() == [record not in held for record in small]
        held.update(small)
        one = rotated[2][asked]
        assert not sightings.is_first_raw("extension_log", one[0], one[1], "other.log")
        if asked < 1:
            assert sorts == [], "a few keys: a pass over each earlier array"
    assert sorts, "asked again and again: sorted after all"


def test_a_record_read_whole_and_in_bulk_has_one_key() -> None:
    """A rotated copy read on the other path is still recognised: the key of a datetime
    and a str equals the key of POSIX microseconds and bytes."""
    stamp = datetime(2024, 1, 31, 10, 0, 0, 123456, tzinfo=UTC)
    first = FirstSighting()
    assert first.is_first("waagent_log", stamp, "Agent is running", "waagent.log.1")
    micros = int(parse_stamps(b"2024-01-31T10:00:00.123456")[0][0])
    assert not first.is_first_raw("waagent_log", micros, b"Agent is running", "waagent.log")
    assert first.is_first_raw("waagent_log", micros + 1, b"Agent is running", "waagent.log")


def test_events_beyond_the_timeline_cap_are_counted_alike(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    """With the timeline full, the bulk path counts further events without making them:
    the kept events and the dropped count are those of the record path."""
    from analyzer.settings import Limits

    bundle = _mix_bundle(tmp_path, "extension-log-heavy")
    outcomes = []
    for bulk in (False, True):
        monkeypatch.setenv("WAAGENT_ANALYZER_BULK", "1" if bulk else "0")
        options = AnalyzeOptions(isolate=False, timeline=True,
                                 limits=Limits(max_timeline_events=25))
        tables = analyze_path(bundle, options).tables
        outcomes.append((repr(tables.events), tables.dropped["events"]))
    assert outcomes[0] == outcomes[1]
    assert outcomes[1][1] > 100, "the mix holds far more events than the cap"


def _agent_log_bundle(tmp_path: Path, lines: list[bytes]) -> Path:
    target = tmp_path / "agent-log.tgz"
    data = b"".join(lines)
    with tarfile.open(target, "w:gz") as archive:
        info = tarfile.TarInfo("var/log/waagent.log")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return target


def _g4_line(second: int, message: str, level: str = "INFO") -> bytes:
    stamp = datetime(2024, 1, 31, 10, 0, tzinfo=UTC) + timedelta(seconds=second)
    return (f"{stamp:%Y-%m-%dT%H:%M:%S.%f}Z {level} ExtHandler ExtHandler {message}\n"
            .encode())


_FAILURES = (
    "[HTTP Failed] GET http://168.63.129.16/machine/?comp=goalstate -- IOError timed out",
    "Fetch failed: [HttpError] [HTTP Failed] GET http://168.63.129.16/machine/ -- IOError "
    "[Errno 113] No route to host -- 6 attempts made",
    "Goal State Agent version 2.9.1.1",
    "Event: name=Microsoft.Azure.RecoveryServices.VMSnapshotLinux, op=Enable, message="
    "[ExtensionError] Timeout(300);CPUThrottledTime(187.2secs): /var/lib/waagent/"
    "Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0.9220.0/main/handle.sh enable",
)


@pytest.mark.parametrize("scan_from", [0, 10**9], ids=["chunk-scanned", "records-searched"])
def test_records_the_line_decoder_alters_take_the_record_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scan_from: int) -> None:
    """Records holding CR, NUL or a BOM after a newline go to the record path (which drops
    or alters those bytes), the others stay in bulk, in the same chunks: the report, facts
    and events are those of the record path whether a chunk holds such bytes or not, and
    whether the chunk was scanned for them first or each record was searched."""
    from analyzer.engine import bulk
    from analyzer.parse import logscan

    monkeypatch.setattr(bulk, "_SCAN_MARKERS_FROM", scan_from)
    monkeypatch.setattr(logscan, "CHUNK_BYTES", 16 * 1024)
    lines: list[bytes] = []
    for second in range(3000):
        line = _g4_line(second, _FAILURES[second % len(_FAILURES)],
                        "WARNING" if second % 3 else "INFO")
        if 1000 <= second < 2000:  # chunks holding the odd bytes; the others hold none
            if second % 7 == 0:
                line = line[:-1] + b"\r\n"
            elif second % 11 == 0:
                line = line.replace(b"GET", b"G\x00ET")
            elif second % 13 == 0:
                line = b"\xef\xbb\xbf" + line
        lines.append(line)
    _same(_agent_log_bundle(tmp_path, lines), monkeypatch)


def test_a_message_repeated_over_many_chunks_is_decided_at_most_twice(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The decisions on a member's distinct records are kept from chunk to chunk once a
    record comes back: a VM failing the same way for weeks costs one decision per message,
    not one per message and chunk; the answers are those of the record path."""
    from analyzer.engine import bulk
    from analyzer.parse import logscan

    monkeypatch.setattr(logscan, "CHUNK_BYTES", 16 * 1024)
    messages = [f"{failure} (attempt {n})" for failure in _FAILURES[:3] for n in range(7)]
    lines = [_g4_line(second, messages[second % len(messages)], "WARNING")
             for second in range(6000)]
    bundle = _agent_log_bundle(tmp_path, lines)
    assert len(b"".join(lines)) > 40 * 16 * 1024
    decided: list[bytes] = []
    original = bulk.ChunkPlanner._decide

    def counting(self: bulk.ChunkPlanner, rest: bytes, *args: object) -> object:
        decided.append(rest)
        return original(self, rest, *args)

    monkeypatch.setattr(bulk.ChunkPlanner, "_decide", counting)
    bulk.set_plan_workers(0)
    try:
        _same(bundle, monkeypatch)
    finally:
        bulk.set_plan_workers(None)
    assert len(set(decided)) == len(messages)
    assert len(decided) <= 2 * len(messages)


def _rotated_failures(tmp_path: Path) -> tuple[Path, list[str]]:
    """A rotated pair of logs of a VM failing the same way: the same messages in both."""
    messages = [f"{failure} (attempt {n})" for failure in _FAILURES[:3] for n in range(50)]
    members = {}
    for name, offset in (("var/log/waagent.log.1", 0), ("var/log/waagent.log", 10_000)):
        members[name] = b"".join(
            _g4_line(offset + second, messages[second % len(messages)], "WARNING")
            for second in range(8000))
    bundle = tmp_path / "rotated.tgz"
    with tarfile.open(bundle, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return bundle, messages


def _counting_decisions(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bytes]]:
    from analyzer.engine import bulk

    decided: list[tuple[str, bytes]] = []
    original = bulk.ChunkPlanner._decide

    def counting(self: bulk.ChunkPlanner, rest: bytes, *args: object) -> object:
        decided.append((self.member, rest))
        return original(self, rest, *args)

    monkeypatch.setattr(bulk.ChunkPlanner, "_decide", counting)
    return decided


def test_rotated_logs_share_their_decisions(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Rotated logs of a VM failing the same way: the first member shows that its records
    come back (each is decided when first seen, and again when it comes back); the next
    member decides none again, its records were decided in the first. The answers are those
    of the record path."""
    from analyzer.engine import bulk
    from analyzer.parse import logscan

    monkeypatch.setattr(logscan, "CHUNK_BYTES", 16 * 1024)
    bundle, messages = _rotated_failures(tmp_path)
    decided = _counting_decisions(monkeypatch)
    bulk.set_plan_workers(0)
    try:
        _same(bundle, monkeypatch)
        decided.clear()
        _outcome(bundle, monkeypatch, bulk=True)
    finally:
        bulk.set_plan_workers(None)
    first = [rest for member, rest in decided if member.endswith("waagent.log.1")]
    second = [rest for member, rest in decided if member.endswith("waagent.log")]
    assert len(set(first)) == len(messages)
    assert len(first) == 2 * len(messages)  # seen once, then kept on coming back
    assert second == []


_MEMBER_RULE = """id = "T-MEMBER-1"
title = "t"
category = "network"
severity = "medium"
description = "d"
message = "m {count}"
condition = "rotated"
[remediation]
en = "x"
pt-BR = "y"
[checks.rotated]
pattern = 'IOError timed out'
where = { member = '~waagent\\.log\\.1$' }
"""


def test_a_rule_that_reads_the_member_decides_each_member_apart(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``where`` on the member's path: the same message is taken in one rotated log and
    not in the other, so the members keep their decisions apart, and count as the record
    path counts (one member's hits, not both)."""
    from analyzer.engine import bulk
    from analyzer.parse import logscan

    monkeypatch.setattr(logscan, "CHUNK_BYTES", 16 * 1024)
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "T-MEMBER-1.toml").write_text(_MEMBER_RULE, encoding="utf-8")
    bundle, _ = _rotated_failures(tmp_path)
    decided = _counting_decisions(monkeypatch)
    counts = []
    bulk.set_plan_workers(0)
    try:
        for in_bulk in (False, True):
            monkeypatch.setenv("WAAGENT_ANALYZER_BULK", "1" if in_bulk else "0")
            analysis = analyze_path(bundle, AnalyzeOptions(
                isolate=False, rule_dirs=[rules], builtin_rules=False))
            (finding,) = analysis.report.findings
            counts.append((finding.count, [(e.member, e.line) for e in finding.evidence]))
    finally:
        bulk.set_plan_workers(None)
    assert counts[0] == counts[1]
    assert counts[0][0] == len([n for n in range(8000) if n % 150 < 50])
    assert {member for member, _ in counts[0][1]} == {"rotated.tgz!var/log/waagent.log.1"}
    assert any(member.endswith("waagent.log") for member, _ in decided)


def test_keeping_from_first_sight_starts_and_stops_with_how_often_records_come_back() -> None:
    from analyzer.engine import bulk

    known = bulk._KnownRecords().of(("waagent_log", "a", True, ""))
    keys = [(b"INFO ExtHandler ExtHandler record %d" % n, 1) for n in range(bulk._EAGER_TRIAL)]
    for key in keys:
        known.keep(key, "decided")  # first sightings: noted, not kept
    known.tally(len(keys), 0)
    assert known.lookup([keys[0]])[0] is bulk._UNKNOWN
    for key in keys[: len(keys) // 5]:
        known.keep(key, "decided")  # seen again: kept, and they count as coming back
    known.tally(len(keys) // 5, 0)
    assert known.lookup([keys[0]])[0] == "decided"
    fresh = (b"INFO ExtHandler ExtHandler never seen", 1)
    known.keep(fresh, "decided")
    assert known.lookup([fresh])[0] == "decided", "kept from its first sighting"
    # A whole trial in which under a tenth come back: first sightings are only noted again.
    known.tally(bulk._TRIAL_RECORDS, bulk._TRIAL_RECORDS // 20)
    other = (b"INFO ExtHandler ExtHandler another", 1)
    known.keep(other, "decided")
    assert known.lookup([other])[0] is bulk._UNKNOWN
    assert known.worthwhile()


_HEADER_TOKENS = [b"INFO", b"ERROR", b"VERBOSE", b"WARNING", b"DEBUG", b" ", b"  ", b"",
                  b"[x]", b"[a b]", b"[", b"Daemon", b"ExtHandler", b"Firewall", b"\n",
                  b"x", b"msg\nmore", b"\r", b"\x00"]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(_HEADER_TOKENS), max_size=10))
def test_a_g4_line_splits_where_the_header_regex_cuts_it(tokens: list[bytes]) -> None:
    """The planner splits a G4 line's rest at its first three spaces and checks the header
    once per distinct header: the same groups as the header regex, the same refusals."""
    from analyzer.engine import bulk

    rest = b"".join(tokens)
    found = bulk._G4_REST.fullmatch(rest)
    parts = rest.split(b" ", 3)
    split = (tuple(parts) if len(parts) == 4 and bulk._g4_header(*parts[:3]) else None)
    assert split == (found.groups() if found else None)


def test_sequence_samples_are_parsed_only_when_shown(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A sequence keeps samples of its starts (first, last and spread) through the merges
    and the evaluation without parsing them; only those a result shows are parsed. The
    hit-heavy mix keeps more samples than it shows: each was parsed before."""
    from analyzer.engine import evaluate as evaluation
    from analyzer.engine import matching

    parsed: list[str] = []
    resolve = matching.RawHit.resolve
    evaluate = evaluation.evaluate_rules
    seen: dict[str, int] = {}

    def counting(self: matching.RawHit) -> Hit:
        parsed.append(self.member)
        return resolve(self)

    def evaluating(rules: Any, tables: Any, store: Any, *args: Any) -> Any:
        seen["kept"] = sum(isinstance(hit, RawHit) for sequence in store.sequences.values()
                           for hit in sequence.kept().values())
        parsed.clear()
        outcomes = evaluate(rules, tables, store, *args)
        seen["shown"] = sum(len(result.evidence) + (len(result.in_progress.evidence)
                                                     if result.in_progress else 0)
                            for outcome in outcomes for result in outcome.checks.values())
        return outcomes

    monkeypatch.setattr(matching.RawHit, "resolve", counting)
    monkeypatch.setattr(evaluation, "evaluate_rules", evaluating)
    analyze_path(_mix_bundle(tmp_path, "hit-heavy"), AnalyzeOptions(isolate=False))
    assert seen["kept"] > seen["shown"], "the mix keeps more samples than it shows"
    assert len(parsed) <= seen["shown"]


def _heartbeat(version: str, counter: int) -> str:
    return (f"[HEARTBEAT] Agent WALinuxAgent-{version} is running as the goal state agent "
            f"[DEBUG HeartbeatCounter: {counter};HeartbeatId: {counter:08x}-0000;"
            "DroppedPackets: 0;UpdateGSErrors: 0;AutoUpdate: 1]")


def test_agent_versions_that_come_back_add_a_fact_each_time(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    """Heartbeats of one version share their fact parts: a row repeating the parts of the
    row before it adds nothing, but a version that comes back after another one does (as
    on the record path), within a chunk and across record-path records."""
    versions = (["2.9.1.1"] * 5 + ["2.10.0.8"] * 5) * 3 + ["2.9.1.1"] * 5
    lines = []
    for second, version in enumerate(versions):
        lines.append(_g4_line(2 * second, _heartbeat(version, second)))
        if second in (12, 27):  # record-path records between some of the heartbeats
            lines.append(_g4_line(2 * second + 1, _FAILURES[3], "WARNING"))
    bundle = _agent_log_bundle(tmp_path, lines)
    _same(bundle, monkeypatch)
    monkeypatch.setenv("WAAGENT_ANALYZER_BULK", "1")
    agent = analyze_path(bundle, AnalyzeOptions(isolate=False)).tables.agent
    assert [row.value for row in agent if row.role == "goal_state_agent"] == [
        "2.9.1.1", "2.10.0.8"] * 3 + ["2.9.1.1"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-20, 20)), st.lists(st.integers(-20, 20)))
def test_merged_key_arrays_are_the_sorted_union(first: list[int], second: list[int]) -> None:
    import numpy as np

    from analyzer.parse.dedupe import _merged

    a = np.sort(np.asarray(first, dtype=np.int64))
    b = np.sort(np.asarray(second, dtype=np.int64))
    assert _merged(a, b).tolist() == sorted(first + second)


@pytest.mark.parametrize("room", [0, 1, 5, 37, 60, 500])
def test_a_delta_trimmed_to_the_room_left_merges_alike(room: int) -> None:
    """``keep_first_starts`` drops what ``merge`` into a store with that much room would."""
    import copy

    def filled(count: int, offset: int) -> SequenceStore:
        store = SequenceStore(max_starts=10_000, samples=4)
        times = array("d", [1_706_700_000.0 + offset + i for i in range(count)])
        lines = array("q", [offset + i + 1 for i in range(count)])
        store.add_starts_bulk(times, lines, lambda i: _raw(offset + i))
        store.add_ends_bulk(array("d", [1_706_700_000.5 + offset]))
        return store

    parent = filled(100, 0)
    parent.max_starts = 100 + room
    delta = filled(80, 1000)
    whole, trimmed = copy.deepcopy(parent), copy.deepcopy(parent)
    whole.merge(copy.deepcopy(delta))
    cut = copy.deepcopy(delta)
    cut.keep_first_starts(room)
    assert cut.starts == min(room, 80)
    trimmed.merge(cut)
    for name in ("start_times", "start_groups", "start_lines", "starts_dropped", "end_times",
                 "end_groups", "group_names", "stride"):
        assert getattr(trimmed, name) == getattr(whole, name), name
    assert {i: h.record.line for i, h in trimmed.sampled().items()} == {
        i: h.record.line for i, h in whole.sampled().items()}


@pytest.mark.parametrize("mix", ["standard", "hit-heavy"])
def test_line_numbers_follow_the_planners_counts_over_many_chunks(
        mix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reader numbers each chunk's lines from the previous chunk's newline count, which
    the planner (a worker, for a large log) returns with its plan: over a hundred 16 KiB
    chunks, every evidence line number is the record path's, which counts them itself."""
    from analyzer.parse import logscan

    monkeypatch.setattr(logscan, "CHUNK_BYTES", 16 * 1024)
    _same(_mix_bundle(tmp_path, mix), monkeypatch)


@pytest.mark.parametrize("in_bulk", [True, False])
def test_first_sightings_past_the_key_cap_count_again_never_fewer(in_bulk: bool) -> None:
    """Past ``max_dedupe_keys`` records are looked up but not remembered: their own earlier
    copies still find them; a later copy of them counts again (more hits, never fewer)."""
    import numpy as np

    sightings = FirstSighting(max_keys=10)
    older = [(second * 1_000_000, b"m%d" % second) for second in range(15)]

    def first(member: list[tuple[int, bytes]], name: str) -> list[bool]:
        if in_bulk:
            return sightings.first_of_many(
                "waagent_log", np.asarray([t for t, _ in member], dtype=np.int64),
                np.asarray([hash(m) for _, m in member], dtype=np.int64), name).tolist()
        return [sightings.is_first_raw("waagent_log", t, m, name) for t, m in member]

    assert first(older, "waagent.log.1") == [True] * 15
    assert (sightings.kept, sightings.unrecorded) == (10, 5)
    assert first(older, "waagent.log") == [False] * 10 + [True] * 5
    assert (sightings.kept, sightings.unrecorded) == (10, 10)


def test_the_report_says_when_de_duplication_stopped_remembering(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rotated copy whose overlap falls past the key cap: its repeats count again, never
    less than with every key kept, and the report's problems say so."""
    from analyzer.settings import Limits

    monkeypatch.setenv("WAAGENT_ANALYZER_BULK", "1")
    failure = ("[HTTP Failed] GET http://168.63.129.16/machine/?comp=goalstate -- IOError "
               "timed out")
    older = [f"2024-01-31T10:{m:02d}:{s:02d}.000000Z WARNING ExtHandler ExtHandler {failure}\n"
             for m in range(10) for s in range(0, 60, 10)]
    newer = older[-20:] + [line.replace("T10:", "T11:") for line in older]
    bundle = tmp_path / "rotated.tgz"
    with tarfile.open(bundle, "w:gz") as archive:
        for name, lines in (("var/log/waagent.log.1", older), ("var/log/waagent.log", newer)):
            data = "".join(lines).encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    counts = {}
    for cap in (10**6, 30):
        analysis = analyze_path(bundle, AnalyzeOptions(isolate=True,
                                                       limits=Limits(max_dedupe_keys=cap)))
        found = {f.rule: f.count for f in analysis.report.findings}
        notes = [p.message for p in analysis.tables.problems
                 if "de-duplication remembers" in p.message]
        counts[cap] = (found, notes)
    exact, capped = counts[10**6], counts[30]
    assert exact[1] == []
    assert capped[1] == ["record de-duplication remembers 30 dated records: 110 later records "
                         "were not remembered, so a rotated copy read after them counts them "
                         "again (limit max_dedupe_keys)"]
    assert exact[0].keys() == capped[0].keys()
    assert "WAA-NET-001" in exact[0]
    assert all(capped[0][rule] >= count for rule, count in exact[0].items())
    assert capped[0]["WAA-NET-001"] == exact[0]["WAA-NET-001"] + 20


@pytest.mark.parametrize("mix", bench.MIXES)
def test_chunks_taken_whole_as_dense_answer_alike(mix: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A dense chunk's lines past the probe are all candidates, unscanned (every tag): a
    superset, which must change nothing a user sees. Here every chunk of 64 lines or more
    counts as dense (share 0, probe of 16 lines), and the record path is the reference."""
    from analyzer.engine import regex

    taken_whole: list[int] = []
    every_line = regex._tag_every_line

    def counting(tags: Any, newlines: Any, size: int, first: int) -> None:
        taken_whole.append(len(newlines))
        every_line(tags, newlines, size, first)

    monkeypatch.setattr(regex, "DENSE_PROBE_LINES", 16)
    monkeypatch.setattr(regex, "DENSE_SHARE", 0.0)
    monkeypatch.setattr(regex, "_tag_every_line", counting)
    _same(_mix_bundle(tmp_path, mix), monkeypatch)
    assert taken_whole, "some chunk was taken whole"


def test_dense_chunks_keep_every_scanned_line_and_skip_empty_ones(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the probe, every non-empty line comes back with every tag; the probe's lines keep
    their scanned tags; the end after a last newline is no line."""
    from analyzer.engine import regex
    from analyzer.engine.matching import RecordMatcher

    monkeypatch.setattr(regex, "DENSE_PROBE_LINES", 4)
    prefilter = RecordMatcher(_PACK.rules).prefilter("waagent_log")
    assert prefilter is not None
    failing = _g4_line(1, "[HTTP Failed] GET http://x/ -- IOError timed out")
    data = failing * 4 + b"\n" + _g4_line(2, "nothing to see") + failing * 12
    newlines = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
    sparse_lines, sparse_tags = prefilter.tagged_lines(data, newlines)
    lines, tags = prefilter.tagged_lines(data, newlines, probe_density=True)
    assert set(sparse_lines) < set(lines)
    assert 4 not in lines.tolist(), "the empty line"
    assert len(newlines) not in lines.tolist(), "the end after the last newline"
    assert 5 in lines.tolist(), "the line without a literal, past the probe"
    by_line = dict(zip(lines.tolist(), tags.tolist(), strict=True))
    for line, tag in zip(sparse_lines.tolist(), sparse_tags.tolist(), strict=True):
        assert by_line[line] & tag == tag
    assert all(by_line[line] == regex.ALL_TAGS for line in lines.tolist() if line > 4)


def test_kept_decisions_rest_while_records_never_come_back() -> None:
    """Looking records up pays only where they repeat: after a trial in which under 1% came
    back, the next records are decided without it, then the trial starts again; a member
    whose records repeat keeps looking them up. The next member keeps the verdict, not the
    decisions."""
    from analyzer.engine import bulk

    known = bulk._KnownRecords().of(("waagent_log", "a", True, ""))
    known.tally(bulk._TRIAL_RECORDS, bulk._TRIAL_RECORDS // 100 - 1)
    assert not known.worthwhile()
    known.passed(bulk._REST_RECORDS - 1)
    assert not known.worthwhile()
    known.passed(1)
    assert known.worthwhile()
    known.tally(bulk._TRIAL_RECORDS, -(-bulk._TRIAL_RECORDS // 100))  # 1%: worth it
    assert known.worthwhile()
    key = (b"INFO ExtHandler ExtHandler same words", 1)
    known.keep(key, "decided")  # a first sighting is only noted
    known.keep(key, "decided")
    assert known.lookup([key])[0] == "decided"
    known.tally(bulk._TRIAL_RECORDS, 0)
    assert not known.worthwhile()
    other = known.of(("waagent_log", "b", True, ""))
    assert not other.worthwhile(), "rotated logs repeat alike: the next member rests too"
    assert other.lookup([key])[0] is bulk._UNKNOWN, "a decision belongs to its member"


def guard_heavy_lines() -> list[bytes]:
    """Protocol-detection failures, each after an endpoint line (a guard of WAA-DHCP-001)
    for an hour, then alone for another."""
    lines: list[bytes] = []
    for second in range(0, 7200, 2):
        if second < 3600:
            lines.append(_g4_line(second, f"Wire server endpoint:168.63.129.16 ({second})"))
        lines.append(_g4_line(second + 1, f"Protocol endpoint not found: attempt {second}",
                              "ERROR"))
    return lines


def near_heavy_lines(seconds: int, answers: bool = True) -> list[bytes]:
    """Backup-manifest failures every 3 s for ``seconds``, with the host plugin's answer
    (the ``near`` partner of WAA-EXT-013) beside one in 50, or beside none."""
    manifest = ("Could not fetch https://umsa.blob.core.windows.net/x/Microsoft.Azure."
                "RecoveryServices_VMSnapshotLinux_useast_manifest.xml [[404: Not Found]]")
    artifact = ("Could not fetch http://168.63.129.16:32526/extensionArtifact "
                "[[503: Service Unavailable {}]]")
    lines: list[bytes] = []
    for second in range(0, seconds, 3):
        lines.append(_g4_line(second, manifest, "WARNING"))
        if answers and second % 150 == 0:
            lines.append(_g4_line(second + 1, artifact.format(second), "WARNING"))
    return lines


def _per_line_calls(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """Counts the records offered to the matcher one by one (the light per-line path and
    the full record path) from now on."""
    from analyzer.engine.matching import RecordMatcher

    calls = 0
    offer_line, offer_record = RecordMatcher.offer_line, RecordMatcher.__call__

    def counted_line(self: RecordMatcher, ref: Any) -> None:
        nonlocal calls
        calls += 1
        offer_line(self, ref)

    def counted_record(self: RecordMatcher, record: Any) -> None:
        nonlocal calls
        calls += 1
        offer_record(self, record)

    monkeypatch.setattr(RecordMatcher, "offer_line", counted_line)
    monkeypatch.setattr(RecordMatcher, "__call__", counted_record)
    return lambda: calls


def test_guard_records_are_kept_in_bulk_and_answer_like_the_record_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``unless_preceded_by`` records are kept as times per group, like sequence ends: they
    stay on the bulk path (each one took the per-line path before, and pulled the pending
    bulk starts of its check one by one). A log of protocol-detection failures, each after
    an endpoint line for an hour, then with none: the same report on both paths, and the
    unexplained failures still found."""
    from analyzer.parse import logscan

    monkeypatch.setattr(logscan, "CHUNK_BYTES", 16 * 1024)
    lines = guard_heavy_lines()
    bundle = _agent_log_bundle(tmp_path, lines)
    _same(bundle, monkeypatch)

    per_line = _per_line_calls(monkeypatch)
    report, *_ = _outcome(bundle, monkeypatch, bulk=True)
    assert '"WAA-DHCP-001"' in report
    assert per_line() < len(lines) // 100, per_line()


def test_near_join_records_are_kept_in_bulk_and_answer_like_the_record_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both sides of a ``near`` join (the backup manifest failure and the host plugin's
    artifact answer) stay on the bulk path: a log of thousands of them gives the report the
    record path gives, the joined captures included, with no line on the per-line path."""
    from analyzer.parse import logscan

    monkeypatch.setattr(logscan, "CHUNK_BYTES", 16 * 1024)
    lines = near_heavy_lines(6000)
    bundle = _agent_log_bundle(tmp_path, lines)
    _same(bundle, monkeypatch)

    per_line = _per_line_calls(monkeypatch)
    monkeypatch.setenv("WAAGENT_ANALYZER_BULK", "1")
    analysis = analyze_path(bundle, AnalyzeOptions(isolate=False))
    outcome = next(o for o in analysis.outcomes if o.rule.id == "WAA-EXT-013")
    joined = outcome.checks["manifest_unreachable"]
    assert joined.value and 0 < joined.count < 2000, joined.detail  # those with an answer
    assert per_line() < len(lines) // 100, per_line()


def _decisions_by_form_and_one_by_one(bundle: Path, monkeypatch: pytest.MonkeyPatch
                                      ) -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]]:
    """The planner's decisions on ``bundle`` in one process, with digit forms and without;
    the report, facts and events must be the record path's and alike both ways."""
    from analyzer.engine import bulk

    decided = _counting_decisions(monkeypatch)
    bulk.set_plan_workers(0)
    try:
        _same(bundle, monkeypatch)
        decided.clear()
        with_forms = _outcome(bundle, monkeypatch, bulk=True)
        by_form = list(decided)
        decided.clear()
        monkeypatch.setattr(bulk, "digit_forms", lambda *args: None)
        assert _outcome(bundle, monkeypatch, bulk=True) == with_forms
        return by_form, list(decided)
    finally:
        bulk.set_plan_workers(None)


def test_a_dense_chunks_records_without_a_literal_are_decided_once_per_form(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failing VM's log: 19 records in 20 a failure (the chunk is dense and not scanned),
    the others CPU figures and telemetry tracebacks that hold no rule literal and differ
    only in their numbers. Those are decided once per digit form (on their header; a CR
    sends its form to the record path), and the answer is the one of deciding each record
    and of the record path."""
    from analyzer.parse import logscan

    # A chunk is probed for density from 2,048 lines on.
    monkeypatch.setattr(logscan, "CHUNK_BYTES", 512 * 1024)
    rng = random.Random(11)
    failures = [
        lambda n: "Exception uploading status blob: [HttpError] [HTTP Failed] PUT "
                  f"https://md-{n % 500}.blob.core.windows.net/$system/status -- IOError timed "
                  "out -- 6 attempts made",
        lambda n: "Fetch failed: [HttpError] [HTTP Failed] GET http://168.63.129.16/machine/ "
                  f"-- IOError [Errno {111 + n % 3}] No route to host -- {n % 9} attempts made",
        lambda n: "Fetching the goal state is still failing: [ProtocolError] [Wireserver "
                  "Exception] [HttpError] [HTTP Failed] GET http://168.63.129.16/machine/ -- "
                  "IOError timed out",
    ]
    quiet = [
        lambda n: f"[CGI] Collected CPU usage {n}.{n % 7} percent",
        lambda n: "Error in sending telemetry: Traceback (most recent call last):\n"
                  f'  File "bin/agent.py", line {n % 50}, in run\nValueError: {n}',
        lambda n: f"[CGI] Collected memory usage {n} MB\r",
    ]
    lines = [_g4_line(second, (rng.choice(quiet) if second % 20 == 0 else
                               rng.choice(failures))(second), "WARNING")
             for second in range(20_000)]
    bundle = _agent_log_bundle(tmp_path, lines)
    by_form, one_by_one = _decisions_by_form_and_one_by_one(bundle, monkeypatch)

    def untagged(decisions: list[tuple[str, bytes]]) -> int:
        return sum(any(word in rest for word in (b"Collected CPU", b"Traceback", b"memory"))
                   for _, rest in decisions)

    chunks = len(b"".join(lines)) // (512 * 1024) + 1
    assert untagged(one_by_one) > 500
    assert untagged(by_form) <= 8 * chunks < untagged(one_by_one) // 4


def test_records_of_one_digit_form_are_decided_once_and_answer_alike(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Markers that differ only in their durations and counters are decided once per digit
    form, and so are heartbeats, each keeping the agent version of its own message (the
    versions here differ in a digit only, so a form holds several); records that a
    digit-reading pattern may match (``Errno 113``, ``Enable,x,0,``), that hold events, or
    whose extension's version differs in the header are still decided one by one: the
    report, facts and events are those of the record path, and of the planner deciding
    every record."""
    from analyzer.parse import logscan

    monkeypatch.setattr(logscan, "CHUNK_BYTES", 64 * 1024)
    rng = random.Random(7)
    messages = [
        lambda n: f"ProcessExtensionsGoalState completed [incarnation_{n % 40} {n % 997} ms]",
        lambda n: "Fetch failed: [HttpError] [HTTP Failed] GET http://168.63.129.16/machine/ "
                  f"-- IOError [Errno {111 + n % 3}] No route to host -- {n % 9} attempts made",
        lambda n: "[Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0.9.2{n % 3}] "
                  f"Launch command succeeded: {n % 500} ms",
        # The agent writes one HeartbeatId for as long as it runs; the counter goes up.
        lambda n: _heartbeat(f"2.9.{n // 7000}.1", n).replace(f"{n:08x}-0000", "8D2A-77E1"),
        lambda n: f"Command: main/handle.sh enable\n[stdout]\nEnable,success,{n % 2},Done {n}",
        lambda n: f"Fetch goal state from WireServer completed in {n % 300} ms",
        # A route that reads the message (``exclude``): decided record by record.
        lambda n: f"Protocol endpoint not found after {n % 400} tries",
        # The line decoder drops the CR: the form's records take the record path.
        lambda n: f"ProcessExtensionsGoalState completed [incarnation_{n % 40} {n % 97} ms]\r",
    ]
    lines = [_g4_line(second, rng.choice(messages)(second)) for second in range(20_000)]
    bundle = _agent_log_bundle(tmp_path, lines)
    by_form, one_by_one = _decisions_by_form_and_one_by_one(bundle, monkeypatch)

    def markers(decisions: list[tuple[str, bytes]]) -> int:
        return sum(b"ProcessExtensionsGoalState completed" in rest and b"\r" not in rest
                   for _, rest in decisions)

    # One decision per form and chunk (1 or 2 digits of incarnation, 1 to 3 of duration),
    # where each distinct marker took one.
    chunks = len(b"".join(lines)) // (64 * 1024) + 1
    assert markers(by_form) <= 6 * chunks
    assert markers(one_by_one) > 4 * markers(by_form)

    def heartbeats(decisions: list[tuple[str, bytes]]) -> int:
        return sum(b"HEARTBEAT" in rest for _, rest in decisions)

    # A form per chunk and counter length (versions 2.9.0.1 to 2.9.2.1 share one).
    assert heartbeats(by_form) <= 5 * chunks
    assert heartbeats(one_by_one) > 4 * heartbeats(by_form)

    def each(decisions: list[tuple[str, bytes]]) -> int:
        return sum(any(word in rest for word in (b"Errno", b"Command:", b"Protocol endpoint"))
                   for _, rest in decisions)

    # Digit-reading failures, commands (events) and a route that reads the message: one
    # decision per distinct record either way.
    assert each(by_form) == each(one_by_one) > 2000
