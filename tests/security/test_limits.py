"""The reader's memory, CPU and wall-clock limits, proven by measuring them.

Each test runs the tool in a subprocess (``sec_harness.Workspace``) and measures the peak RSS of
the process and its forked reader (``os.wait4``) and the wall-clock time, then checks the
outcome the project promises: nothing read yet -> exit 3 with a clean message; something
analysed already -> exit 0/1 with ``stopped: ...`` in ``bundle.problems`` and the partial
results kept. The parent always survives.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

import pytest
from sec_harness import MiB, Workspace
from secbuild import (
    BENIGN_LOG,
    GNU_LONGNAME,
    Repeat,
    Zeros,
    failing_log,
    pax_header,
    tar_end,
    tar_file,
    tar_header,
    tar_of,
    write_gzip,
)

LOG_FIRST = tar_file("var/log/waagent.log", failing_log())
REDOS_PAX = pax_header(b"1" * 200_000)  # CVE-2024-6232: quadratic in tarfile 3.11.7


def long_name(ws: Workspace, name: str, payload: int, *, before: bytes = b"",
              block: bytes | None = None) -> Path:
    """A tar.gz whose GNU long-name header makes tarfile allocate ``payload`` bytes."""
    if block is None:
        fill: Zeros | Repeat = Zeros(payload + 1)
        pad = b"\0" * (-(payload + 1) % 512)
    else:
        times = -(-(payload + 1) // len(block))
        fill = Repeat(block, times)
        pad = b"\0" * (-(times * len(block)) % 512)
        payload = times * len(block) - 1
    return write_gzip(ws.inputs / name, [
        before, tar_header(b"././@LongLink", payload + 1, GNU_LONGNAME), fill, pad,
        tar_file("var/log/after.log", BENIGN_LOG), tar_end()])


def test_memory_limit_rejects_cleanly_and_fast(ws: Workspace) -> None:
    path = long_name(ws, "mem.tgz", 512 * MiB)
    run = ws.run_api(path, worker_memory_bytes=256 * MiB, ratio_limit=10**9)
    assert run.rc == 3, run
    assert "mem.tgz: rejected: memory limit 256 MiB exceeded while reading the archive" in (
        run.stderr)
    # Measured: the reader never got past its limit, and it took well under a second or two.
    run.assert_bounded(wall=10, memory=256 * MiB + 64 * MiB)


def test_memory_limit_keeps_what_was_read(ws: Workspace) -> None:
    path = long_name(ws, "mem.tgz", 512 * MiB, before=LOG_FIRST)
    run = ws.run_api(path, worker_memory_bytes=256 * MiB, ratio_limit=10**9)
    run.assert_bounded(wall=10, memory=256 * MiB + 64 * MiB)
    assert run.rc == 1, run
    assert {f["rule"] for f in run.report["findings"]} == {"WAA-NET-001"}
    assert "mem.tgz!var/log/waagent.log" in run.files
    run.problem_for("mem.tgz", "stopped: memory limit 256 MiB exceeded",
                    "the report covers what was read before")


def test_without_the_memory_limit_the_same_input_would_grow(ws: Workspace) -> None:
    """Control: a larger worker limit lets tarfile allocate the whole name - so the previous
    tests really measured the limit, not an early stop elsewhere."""
    path = long_name(ws, "mem.tgz", 192 * MiB, before=LOG_FIRST)
    run = ws.run_api(path, worker_memory_bytes=1024 * MiB, ratio_limit=10**9)
    assert run.rc == 1, run
    assert not run.has_problem("memory limit"), run.problems
    assert run.maxrss > 192 * MiB, run  # the name really was held in memory


@pytest.mark.parametrize("limit", ["cpu", "wall"])
def test_time_limits_reject_when_nothing_was_read(ws: Workspace, limit: str) -> None:
    path = ws.write("hang.tar", tar_of(REDOS_PAX, tar_file("z.log", b"z\n")))
    if limit == "cpu":
        run = ws.run_api(path, worker_cpu_seconds=1, wall_seconds=60)
        message = "hang.tar: rejected: CPU limit 1 s reached"
    else:
        run = ws.run_api(path, wall_seconds=1.5, worker_cpu_seconds=60)
        message = "hang.tar: rejected: time limit 1.5 s reached"
    assert run.rc == 3 and message in run.stderr, run
    run.assert_bounded(wall=8, memory=100 * MiB)
    assert run.wall >= 1.0  # it really ran until the limit


@pytest.mark.parametrize("limit", ["cpu", "wall"])
def test_time_limits_keep_partial_results(ws: Workspace, limit: str) -> None:
    path = ws.write("hang.tar", tar_of(LOG_FIRST, REDOS_PAX, tar_file("z.log", b"z\n")))
    if limit == "cpu":
        run = ws.run_api(path, worker_cpu_seconds=1, wall_seconds=60)
        message = "stopped: CPU limit 1 s reached"
    else:
        run = ws.run_api(path, wall_seconds=1.5, worker_cpu_seconds=60)
        message = "stopped: time limit 1.5 s reached"
    run.assert_bounded(wall=8, memory=100 * MiB)
    assert run.rc == 1, run
    assert {f["rule"] for f in run.report["findings"]} == {"WAA-NET-001"}
    run.problem_for("hang.tar", message, "the report covers what was read before")


def test_default_limits_bound_a_decompression_bomb(ws: Workspace) -> None:
    """The CLI with default limits on a 1 MB -> 1 GiB tar.gz: memory stays small because
    nothing is ever held whole, and the expansion ratio budget ends it in about a second."""
    path = write_gzip(ws.inputs / "bomb.tgz", [LOG_FIRST, tar_header("data.bin", 1 << 30),
                                               Zeros(1 << 30), tar_end()])
    assert path.stat().st_size < 2 * MiB
    run = ws.analyze(path)
    run.assert_bounded(wall=15, memory=150 * MiB)
    assert run.rc == 1
    run.problem_for("bomb.tgz", "stopped: possible decompression bomb")


def test_killed_reader_leaves_no_spool_directory(ws: Workspace) -> None:
    """A nested archive bigger than the in-memory spool goes to the private temp dir; the
    reader is then killed by the wall clock inside it. The temp area must still be empty
    (regression test: the spool directory was left behind before ec267a7)."""
    inner = tar_of(LOG_FIRST, tar_file("var/log/pad.bin", os.urandom(5 * MiB)), REDOS_PAX,
                   tar_file("z.log", b"z\n"))
    path = ws.write("case.tar", tar_of(tar_file("var/lib/waagent/logcollector/logs.tar", inner)))
    run = ws.run_api(path, wall_seconds=1.5)  # Workspace checks TMPDIR is empty afterwards
    assert run.has_problem("time limit"), run


@pytest.mark.parametrize("rlimit", ["RLIMIT_CPU", "RLIMIT_AS"])
def test_analysis_works_under_a_lower_inherited_limit(ws: Workspace, rlimit: str) -> None:
    """Batch hosts and systemd units impose limits (ulimit -t / -v, LimitCPU=, LimitAS=)
    below the reader's defaults; the reader must clamp to them, not fail every bundle
    (regression test: every analysis was rejected with ValueError before ec267a7)."""
    value = {"RLIMIT_CPU": 120, "RLIMIT_AS": 1536 * MiB}[rlimit]
    path = ws.write("ok.tar", tar_of(LOG_FIRST))
    run = ws.run_cli("analyze", path, "--format", "json", rlimits={rlimit: (value, value)})
    assert run.rc == 1, run
    run.assert_bounded(wall=30)


def _ratio_block() -> bytes:
    """64 KiB that deflate shrinks ~100:1, under the 200:1 bomb ratio, so the default
    budgets let tarfile read a long name made of it."""
    return b"\0" * (64 * 1024 - 512) + os.urandom(512)


def test_export_path_survives_a_metadata_bomb_under_a_process_limit(ws: Workspace) -> None:
    """``parse --table records`` on a 500 MiB long-name header, with the tool run under a
    768 MiB address-space limit: only a forked, limited reader turns that into a clean
    problem; in-process it is an internal error (MemoryError, exit 4; regression test: the
    export walked in-process before ec267a7)."""
    path = long_name(ws, "meta.tgz", 500 * MiB, before=LOG_FIRST, block=_ratio_block())
    assert path.stat().st_size < 8 * MiB
    limit = (768 * MiB, 768 * MiB)
    run = ws.run_cli("parse", path, "--table", "records", "--format", "csv",
                     rlimits={"RLIMIT_AS": limit}, timeout=120)
    assert run.rc in (0, 3), run
    assert "internal error" not in run.stderr, run


def test_measurement_is_not_inherited_from_the_test_process(ws: Workspace) -> None:
    """Sanity check of the harness: ru_maxrss survives fork+exec, so a child started from a
    big test process would report the test's peak. The wrapper makes the reading honest."""
    ballast = bytearray(300 * MiB)
    ballast[::4096] = b"x" * len(ballast[::4096])
    run = ws.run_cli("version")
    assert run.rc == 0
    assert run.maxrss < 150 * MiB, run
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 > 300 * MiB
    del ballast
