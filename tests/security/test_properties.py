"""Property-based tests (Hypothesis) over the archive walker and the log parser/scanner.

Walker (``walk_bytes``), on raw bytes and on structured hostile archives built from lists of
(name, member type, size) with hostile names:

* nothing but ``AnalyzerError`` subclasses ever escapes;
* bytes delivered stay within ``max_member_bytes``/``max_xml_bytes`` per member and
  ``max_total_bytes`` overall; every provenance/problem string is printable (escaped).

Log parser (``iter_records``) and scanner (``LogScanner`` with the built-in rules' prefilter
and matcher):

* no exception on any bytes (the scanner may refuse a member with an ``AnalyzerError``);
* the records do not depend on chunk boundaries, nor on CRLF vs LF line ends;
* records the scanner delivers are the very records the full parse produces.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from secbuild import (
    BLK,
    CHR,
    DEFLATED,
    DIR,
    FIFO,
    HARD,
    STORED,
    SYM,
    ZipEntry,
    gnu_long_name,
    gzip_bytes,
    pad,
    pax_header,
    pax_record,
    sparse_member,
    tar_end,
    tar_header,
    zip_archive,
)

from analyzer.bundle.model import SourceKind
from analyzer.bundle.walker import walk_bytes
from analyzer.engine.matching import RecordMatcher
from analyzer.errors import AnalyzerError, Problem
from analyzer.parse.log_facts import FACT_PATTERNS
from analyzer.parse.logscan import LogScanner
from analyzer.parse.logsources import grammar_for
from analyzer.parse.waagent_log import iter_records
from analyzer.pipeline import AnalyzeOptions, load_pack
from analyzer.settings import Limits

KiB = 1024
LIMITS = Limits(
    max_input_bytes=1 << 20, max_total_bytes=48 * KiB, max_member_bytes=16 * KiB,
    max_xml_bytes=4 * KiB, max_nested_bytes=32 * KiB, max_entries=64, max_members_read=24,
    max_name_bytes=300, max_name_components=12, ratio_floor_bytes=32 * KiB,
)
SETTINGS = settings(max_examples=150, deadline=2000,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def walk_everything(data: bytes, name: str) -> tuple[int, list[Problem]]:
    """Walk and read every member; returns total bytes delivered. Only AnalyzerError may
    escape from the walker (anything else fails the test with its traceback)."""
    problems: list[Problem] = []
    total = 0
    try:
        for member in walk_bytes(data, name, LIMITS, problems):
            assert member.provenance.isprintable(), repr(member.provenance)
            assert member.logical_path.isprintable(), repr(member.logical_path)
            if member.opener is None:
                continue
            got = 0
            try:
                with member.open() as stream:
                    while chunk := stream.read(4 * KiB):
                        got += len(chunk)
            except AnalyzerError:
                pass
            assert got <= max(LIMITS.max_member_bytes, LIMITS.max_xml_bytes), got
            total += got
    except AnalyzerError as error:
        assert str(error).replace("\n", " ").isprintable(), repr(str(error))
    assert total <= LIMITS.max_total_bytes, total
    for problem in problems:
        assert problem.member.isprintable(), repr(problem.member)
        assert problem.message.isprintable(), repr(problem.message)
    return total, problems


@SETTINGS
@given(st.binary(max_size=8 * KiB), st.sampled_from(["case.tgz", "logs.zip", "waagent.log.gz"]))
def test_walker_on_arbitrary_bytes(data: bytes, name: str) -> None:
    walk_everything(data, name)


@SETTINGS
@given(st.binary(max_size=4 * KiB))
def test_walker_on_arbitrary_gzip_and_tar_payloads(data: bytes) -> None:
    walk_everything(gzip_bytes(data), "waagent.log.1.gz")
    walk_everything(tar_header("var/log/waagent.log", len(data)) + pad(data) + tar_end(),
                    "case.tar")


# -- structured hostile archives ---------------------------------------------------------------

HOSTILE_PIECES = ["..", ".", "", "var", "log", "waagent.log", "azure", "GoalState.3.xml",
                  "logs.zip", "\x1b]0;x\x07", "\x1b[2J", "\r", "\n", "\u202e", "\x9b", "!",
                  "C:", "\\..\\", "\udce9", "caf\u00e9", "\x00", " ", "truncated_var_log_x",
                  "a" * 120, "%s%n", "${jndi:x}"]
NAMES = st.lists(st.sampled_from(HOSTILE_PIECES), min_size=1, max_size=8).map("/".join) | (
    st.text(st.characters(codec=None), min_size=1, max_size=40))
KINDS = st.sampled_from(["reg", "reg", "reg", "dir", "sym", "hard", "chr", "blk", "fifo",
                         "sparse", "longname", "pax", "lying"])


def _safe_bytes(name: str) -> bytes:
    try:
        return name.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return name.encode("utf-8", "surrogatepass")


def _content(size: int, index: int) -> bytes:
    line = f"2024-01-31T10:{index % 60:02d}:00.000000Z INFO ExtHandler ExtHandler m{index}\n"
    return (line.encode() * (size // len(line) + 1))[:size]


def build_tar(entries: Iterable[tuple[str, str, int]]) -> bytes:
    out = bytearray()
    for index, (name, kind, size) in enumerate(entries):
        raw = _safe_bytes(name)
        short = raw[:100]
        data = _content(size, index)
        if kind == "longname" or (kind == "reg" and len(raw) > 100):
            out += gnu_long_name(raw) + tar_header(b"x", len(data)) + pad(data)
        elif kind == "pax":
            out += pax_header(pax_record("path", raw)) + tar_header(b"x", len(data), gnu=False)
            out += pad(data)
        elif kind == "reg":
            out += tar_header(short, len(data)) + pad(data)
        elif kind == "lying":  # header says less than what follows
            out += tar_header(short, max(size // 3, 1)) + pad(data)
        elif kind == "sparse":
            out += sparse_member(short, size * 1000)
        else:
            flag = {"dir": DIR, "sym": SYM, "hard": HARD, "chr": CHR, "blk": BLK,
                    "fifo": FIFO}[kind]
            out += tar_header(short, 0, flag, linkname=b"../../etc/shadow"[: 100])
    return bytes(out + tar_end())


def build_zip(entries: Iterable[tuple[str, str, int]]) -> bytes:
    items = []
    for index, (name, kind, size) in enumerate(entries):
        data = _content(size, index)
        attr = {"sym": 0o120777, "dir": 0o040755, "fifo": 0o010644, "chr": 0o020644,
                "blk": 0o060644}.get(kind, 0o100644) << 16
        method = DEFLATED if index % 2 else STORED
        items.append(ZipEntry(_safe_bytes(name), data, method, external_attr=attr,
                              crc=0 if kind == "lying" else None))
    return zip_archive(items)


ENTRIES = st.lists(st.tuples(NAMES, KINDS, st.integers(0, 6000)), min_size=1, max_size=10)


@SETTINGS
@given(ENTRIES, st.sampled_from(["tar", "tgz", "zip", "nested"]))
def test_walker_on_structured_hostile_archives(entries: list[tuple[str, str, int]],
                                               container: str) -> None:
    if container == "zip":
        data, name = build_zip(entries), "case.zip"
    elif container == "nested":
        inner = build_zip(entries)
        data = gzip_bytes(tar_header("var/lib/waagent/logcollector/logs.zip", len(inner))
                          + pad(inner) + build_tar(entries))
        name = "case.tgz"
    else:
        tar = build_tar(entries)
        data, name = (gzip_bytes(tar), "case.tgz") if container == "tgz" else (tar, "case.tar")
    walk_everything(data, name)


def test_structured_builder_really_builds_what_tarfile_reads() -> None:
    """Guard against a builder that only produces garbage (the walker would then only ever
    see corrupt archives)."""
    data = build_tar([("var/log/waagent.log", "reg", 100), ("d", "dir", 0),
                      ("var/log/" + "x" * 150, "longname", 10), ("s", "sym", 0)])
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        names = [m.name for m in archive.getmembers()]
    assert names == ["var/log/waagent.log", "d", "var/log/" + "x" * 150, "s"]


# -- log parser and scanner ---------------------------------------------------------------------

TIMESTAMPS = st.sampled_from([
    "2024-01-31T10:00:00.000000Z", "2024-01-31T10:00:00Z", "2021/03/30 19:35:35.971742",
    "2016/03/01 10:00:05", "2024-01-14 22:16:48.796446", "9999-12-31T23:59:59.999999Z",
    "2025-02-30T10:00:00.000000Z", "0001-01-01T00:00:00.000000Z", "Jan 31 10:00:00 vm1 x:",
])
WORDS = st.sampled_from([
    "INFO", "WARNING", "ERROR", "VERBOSE", "ExtHandler", "Daemon", "MonitorHandler",
    "[Microsoft.Azure.Extensions.CustomScript-2.1.13]", "Event: name=X, op=Enable, message=",
    "eJxLy0nMBQAGhQJB", "[HTTP Failed] GET http://168.63.129.16/machine/ -- IOError",
    "timed out", "OS: ", "Python: 3.9", "Traceback", "[stdout]", "(000009)", "\x1b[2J",
    "\u202e", "\x00", "\t", "caf\u00e9", "duration=5", "Goal state", "410: Gone",
])
LEVELS = st.sampled_from(["INFO", "WARNING", "ERROR", "VERBOSE", "ERROR:", "[X-1.0]", "", "Info "])
LINES = st.lists(
    st.one_of(
        st.tuples(TIMESTAMPS, LEVELS, st.lists(WORDS, max_size=6)).map(
            lambda t: f"{t[0]} {t[1]} " + " ".join(t[2])),
        st.lists(WORDS, max_size=5).map(" ".join),
        st.text(max_size=30),
    ),
    max_size=25,
).map(lambda lines: "\n".join(lines).encode("utf-8", "surrogatepass"))
LOG_BYTES = LINES | st.binary(max_size=2 * KiB) | st.builds(
    lambda a, b: a + b, LINES, st.binary(max_size=64))


def records(data_chunks: Iterable[bytes], kind: str = SourceKind.WAAGENT_LOG,
            max_line: int = 4 * KiB) -> list[tuple[Any, ...]]:
    grammar = grammar_for(kind)
    return [
        (r.line, r.end_line, r.timestamp, r.level, r.thread, r.prefix, r.message, r.flags)
        for r in iter_records(data_chunks, "m", kind, max_line_bytes=max_line,
                              max_continuation_lines=30, header_parser=grammar.header_parser,
                              prefix_has_real_version=grammar.prefix_has_real_version)
    ]


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)] or [b""]


LOG_KINDS = st.sampled_from(sorted(SourceKind.LOG_KINDS))


@SETTINGS
@given(LOG_BYTES, st.integers(1, 97), LOG_KINDS)
def test_records_do_not_depend_on_chunk_boundaries(data: bytes, size: int, kind: str) -> None:
    assert records(chunked(data, size), kind) == records([data], kind)


@SETTINGS
@given(LOG_BYTES.map(lambda b: b.replace(b"\r", b"")), LOG_KINDS)
def test_records_are_the_same_with_crlf_line_ends(data: bytes, kind: str) -> None:
    assert records([data.replace(b"\n", b"\r\n")], kind) == records([data], kind)


@SETTINGS
@given(st.binary(max_size=4 * KiB), st.integers(1, 300))
def test_line_cap_holds_for_any_bytes(data: bytes, cap: int) -> None:
    for record in iter_records(chunked(data, 17), "m", SourceKind.WAAGENT_LOG,
                               max_line_bytes=cap, max_continuation_lines=5):
        for line in record.message.split("\n"):
            assert len(line) <= cap


_PACK = load_pack(AnalyzeOptions())[0]
_PREFILTERS = {
    kind: RecordMatcher(_PACK.rules).prefilter(
        kind, FACT_PATTERNS if kind == SourceKind.WAAGENT_LOG else ())
    for kind in SourceKind.LOG_KINDS
}


_MATCHER = RecordMatcher(_PACK.rules)  # its accumulators grow; nothing here reads them


def scan(data: bytes, kind: str, chunk: int) -> list[tuple[int, str]]:
    matcher = _MATCHER
    seen: list[tuple[int, str]] = []

    def on_record(record: Any) -> None:
        seen.append((record.line, record.message))
        matcher(record)

    scanner = LogScanner("m", kind, grammar_for(kind), _PREFILTERS[kind], on_record,
                         max_line_bytes=4 * KiB, max_record_bytes=256 * KiB,
                         max_continuation_lines=30)
    try:
        scanner.scan(io.BytesIO(data), chunk_bytes=chunk)
    except AnalyzerError as error:  # a member the scanner refuses (binary data)
        assert not seen and str(error).startswith("skipped:"), error
    return seen


SCAN_SETTINGS = settings(SETTINGS, max_examples=80)


@SCAN_SETTINGS
@given(LOG_BYTES, LOG_KINDS, st.integers(64, 4096))
def test_scanner_never_raises_and_delivers_real_records(data: bytes, kind: str,
                                                        chunk: int) -> None:
    delivered = scan(data, kind, chunk)
    full = {(r[0], r[6]) for r in records([data], kind)}
    for item in delivered:
        assert item in full, item


@SCAN_SETTINGS
@given(LOG_BYTES, LOG_KINDS, st.integers(64, 4096))
def test_scanner_does_not_depend_on_chunk_boundaries(data: bytes, kind: str,
                                                     chunk: int) -> None:
    assert sorted(set(scan(data, kind, chunk))) == sorted(set(scan(data, kind, 1 << 22)))


def test_scanner_and_export_agree_on_a_timestamp_line_without_level() -> None:
    """Found by the property above: the scanner started a record at any timestamp
    (RECORD_START), the full parse only at a line its header parser accepts (fixed in
    ec267a7; kept as a regression test)."""
    data = (b"2024-01-31T10:00:00.000000Z \n2024-01-31T10:00:00.000000Z [HTTP Failed] GET "
            b"http://168.63.129.16/machine/ -- IOError")
    full = {(r[0], r[6]) for r in records([data])}
    assert set(scan(data, SourceKind.WAAGENT_LOG, 64)) <= full


@pytest.mark.parametrize("path", ["logparser-re2-surrogates"])
def test_fuzzer_reproducers_stay_fixed(path: str) -> None:
    """Inputs a fuzzer once crashed on (tests/security/corpus): the log harness's checks."""
    from pathlib import Path

    data = (Path(__file__).parent / "corpus" / path).read_bytes()
    for kind in sorted(SourceKind.LOG_KINDS):
        for chunk in (64, 4096):
            scan(data[8:], kind, chunk)
            assert records(chunked(data[8:], 7), kind) == records([data[8:]], kind)


def test_a_last_line_cut_short_by_the_chunk_is_not_taken_for_a_header() -> None:
    """Found by the chunk-boundary property: "...Z INFO O", the first bytes of a line that
    reads "...Z INFO OS: ", parses as a header while the whole line does not, so a small
    chunk cut the record there and a large one did not."""
    data = (b"INFO WARNING WARNING Event: name=X, op=Enable, message=\n"
            b"2024-01-31T10:00:00Z INFO OS: ")
    whole = sorted(set(scan(data, SourceKind.SYSTEM_LOG, 1 << 22)))
    for chunk in range(64, len(data) + 1):
        assert sorted(set(scan(data, SourceKind.SYSTEM_LOG, chunk))) == whole, chunk
