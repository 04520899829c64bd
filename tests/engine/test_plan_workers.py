"""Chunks planned by forked workers (analyzer/forkpool.py, BulkMatcher.plan_later) give
exactly what planning them in process gives, and a lost worker costs nothing but time.

The planners start only for large members in normal runs; here every chunk is small
(16 KiB) and any chunk may go to them, so the fixture bundles and the benchmark mixes run
through the workers chunk after chunk.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from analyzer.engine import bulk
from analyzer.forkpool import ForkPool, Lent, WorkerLost
from analyzer.parse import logscan
from tests.engine.test_bulk import FIXTURES, _mix_bundle, _outcome, bench

pytestmark = pytest.mark.usefixtures("compiled_scan_for_any_size")


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logscan, "CHUNK_BYTES", 16 * 1024)
    monkeypatch.setattr(bulk, "POOL_MIN_REGION", 0)
    monkeypatch.setenv("WAAGENT_ANALYZER_BULK", "1")


def _planned_both_ways(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bulk.set_plan_workers(0)
    try:
        alone = _outcome(path, monkeypatch, bulk=True)
        bulk.set_plan_workers(2)
        pooled = _outcome(path, monkeypatch, bulk=True)
    finally:
        bulk.set_plan_workers(None)
    for label, a, b in zip(("report", "facts", "events", "runs"), alone, pooled, strict=True):
        assert a == b, f"{path.name}: planned by workers, the {label} differ"


@pytest.fixture
def forks_counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The pools started, by size (so a test can tell the workers really ran)."""
    started: list[int] = []
    original = ForkPool.__post_init__

    def counting(self: ForkPool) -> None:
        started.append(self.count)
        original(self)

    monkeypatch.setattr(ForkPool, "__post_init__", counting)
    yield started


@pytest.mark.parametrize("bundle", FIXTURES, ids=[p.name for p in FIXTURES])
def test_fixture_bundles_same_when_planned_by_workers(
        bundle: Path, monkeypatch: pytest.MonkeyPatch, small_chunks: None) -> None:
    _planned_both_ways(bundle, monkeypatch)


@pytest.mark.parametrize("mix", bench.MIXES)
def test_benchmark_mixes_same_when_planned_by_workers(
        mix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_chunks: None,
        forks_counted: list[int]) -> None:
    _planned_both_ways(_mix_bundle(tmp_path, mix), monkeypatch)
    assert forks_counted == [2] * len(forks_counted) and forks_counted, \
        "the mix is large enough for the workers to plan most of its chunks"


def test_lost_worker_is_redone_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          small_chunks: None) -> None:
    """A worker killed mid-run (the memory limit, a crash): its chunk and the rest are
    planned here, and the report does not change."""
    bundle = _mix_bundle(tmp_path, "marker-heavy")
    bulk.set_plan_workers(0)
    try:
        alone = _outcome(bundle, monkeypatch, bulk=True)
    finally:
        bulk.set_plan_workers(None)
    original = ForkPool.submit
    submitted: list[int] = []

    def submit_then_kill(self: ForkPool, task: Any, data: bytes = b"") -> int:
        ticket = original(self, task, data)
        submitted.append(ticket)
        if ticket == 3:
            worker = self._workers[ticket % self.count]
            os.kill(worker.pid, signal.SIGKILL)
        return ticket

    monkeypatch.setattr(ForkPool, "submit", submit_then_kill)
    bulk.set_plan_workers(2)
    try:
        pooled = _outcome(bundle, monkeypatch, bulk=True)
    finally:
        bulk.set_plan_workers(None)
    assert len(submitted) > 3, "the workers were used"
    assert pooled == alone


# -- the pool itself ------------------------------------------------------------------------


def _square_and_length(task: int, data: bytes) -> tuple[int, int]:
    if task < 0:
        raise ValueError("negative")
    return task * task, len(data)


def test_results_come_back_in_any_order_asked() -> None:
    pool = ForkPool(_square_and_length, 2)
    try:
        tickets = [pool.submit(n, b"x" * (n * 100_000)) for n in range(7)]
        # more tasks than workers: earlier results are read while later tasks are handed in
        assert [pool.result(t) for t in reversed(tickets)] == [
            (n * n, n * 100_000) for n in reversed(range(7))]
    finally:
        pool.close()


def _held_until(task: str, data: bytes) -> int:
    """Waits while the file named by ``task`` is missing (a worker kept busy), then answers
    which worker it is."""
    while task and not os.path.exists(task):
        time.sleep(0.005)
    return os.getpid()


def test_a_worker_that_finishes_first_is_handed_the_next_task(tmp_path: Path) -> None:
    """With one worker held on a long task, the next tasks go to the other one as it frees
    up: they are not queued behind the long one (handed out in turn, the third task would
    wait for the held worker)."""
    release = tmp_path / "release"
    pool = ForkPool(_held_until, 2)
    signal.alarm(20)  # a task queued behind the held worker fails the test, not the run
    try:
        held = pool.submit(str(release))
        free_pid = pool.result(pool.submit(""))
        assert [pool.result(pool.submit("")) for _ in range(3)] == [free_pid] * 3
        release.touch()
        assert pool.result(held) != free_pid
    finally:
        signal.alarm(0)
        release.touch()
        pool.close()


def _digest(task: int, data: bytes) -> tuple[int, str]:
    return task, hashlib.sha256(data).hexdigest()


def test_data_in_the_shared_slot_or_the_pipe_arrives_whole() -> None:
    """Data that fits a worker's slot goes there, larger data through the pipe; a slot is
    rewritten for the next task only once the last result was read, so every task sees
    its own bytes (distinct contents per task, more tasks than workers)."""
    pool = ForkPool(_digest, 2, slot_bytes=300_000)
    sizes = [0, 1, 299_999, 300_000, 300_001, 900_000, 150_000, 300_000]
    datas = [bytes([n + 1]) * size for n, size in enumerate(sizes)]
    try:
        tickets = [pool.submit(n, data) for n, data in enumerate(datas)]
        got = [pool.result(ticket) for ticket in tickets]
    finally:
        pool.close()
    assert got == [(n, hashlib.sha256(data).hexdigest()) for n, data in enumerate(datas)]


def _padded_tail(task: int, data: bytes | Lent) -> tuple[int, str, bytes, bool]:
    text = data.buffer[:data.size + 16] if isinstance(data, Lent) else data
    return task, hashlib.sha256(text[:-16]).hexdigest(), text[-16:], isinstance(data, Lent)


@pytest.mark.parametrize("lend", [False, True])
def test_work_finds_the_padding_after_its_data_however_it_came(lend: bool) -> None:
    """With ``pad_bytes``, a task's data arrives followed by that many zero bytes, through
    the slot (where an earlier, longer task left its own bytes) or the pipe alike. With
    ``lend_slot``, data that came through the slot is the slot itself (no copy), its first
    ``size`` bytes the task's, read as bytes by a slice; larger data still comes as bytes."""
    pool = ForkPool(_padded_tail, 2, slot_bytes=300_000, pad_bytes=16, lend_slot=lend)
    sizes = [250_000, 250_000, 10, 10, 0, 299_984, 299_985, 900_000]
    datas = [bytes([n + 1]) * size for n, size in enumerate(sizes)]
    try:
        got = [pool.result(pool.submit(n, data)) for n, data in enumerate(datas)]
    finally:
        pool.close()
    assert got == [(n, hashlib.sha256(data).hexdigest(), bytes(16),
                    lend and len(data) + 16 <= 300_000)
                   for n, data in enumerate(datas)]


def test_a_task_that_raises_or_a_dead_worker_is_a_lost_worker() -> None:
    pool = ForkPool(_square_and_length, 1)
    try:
        with pytest.raises(WorkerLost, match="ValueError: negative"):
            pool.result(pool.submit(-1))
        assert pool.result(pool.submit(3)) == (9, 0), "the worker serves on after an error"
        os.kill(pool._workers[0].pid, signal.SIGKILL)
        with pytest.raises(WorkerLost):
            pool.result(pool.submit(4))
    finally:
        pool.close()


def test_a_task_handed_to_a_closed_pool_is_a_lost_worker() -> None:
    pool = ForkPool(_square_and_length, 2)
    assert pool.result(pool.submit(3)) == (9, 0)
    pool.close()
    with pytest.raises(WorkerLost, match="closed"):
        pool.result(pool.submit(4))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_pools_close_in_any_order_and_leave_no_process() -> None:
    """A second pool's workers must not hold the first pool's pipes, or closing the first
    would wait for ever (each worker ends on end of file)."""
    first = ForkPool(_square_and_length, 2)
    second = ForkPool(_square_and_length, 2)
    pids = [w.pid for w in first._workers + second._workers]
    signal.alarm(20)  # a hang fails the test instead of the whole run
    try:
        first.close()
        assert second.result(second.submit(5)) == (25, 0)
        second.close()
    finally:
        signal.alarm(0)
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not any(_alive(pid) for pid in pids), "every worker was reaped"


def test_an_unclosed_pool_ends_its_workers_when_dropped() -> None:
    pool = ForkPool(_square_and_length, 1)
    pid = pool._workers[0].pid
    del pool
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not _alive(pid)


def test_batch_bundles_use_no_planners(monkeypatch: pytest.MonkeyPatch) -> None:
    """The batch's workers share the cores out already: a bundle run by one plans its
    chunks itself."""
    from analyzer.batch import worker

    monkeypatch.setenv("WAAGENT_ANALYZER_PLAN_WORKERS", "3")
    assert bulk.plan_workers() == 3
    seen: list[int] = []

    def analyze_path(*args: Any) -> None:
        seen.append(bulk.plan_workers())
        raise ValueError("enough")

    monkeypatch.setattr(worker, "analyze_path", analyze_path)
    try:
        worker.analyze_bundle("x.tgz", "", None, None)  # type: ignore[arg-type]
    finally:
        bulk.set_plan_workers(None)
    assert seen == [0]


def test_default_planners_follow_the_usable_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WAAGENT_ANALYZER_PLAN_WORKERS", raising=False)
    monkeypatch.setattr(bulk, "usable_cores", lambda: 1)
    assert bulk.plan_workers() == 0, "one core: planning in process is faster"
    monkeypatch.setattr(bulk, "usable_cores", lambda: 2)
    assert bulk.plan_workers() == 2
    monkeypatch.setattr(bulk, "usable_cores", lambda: 64)
    assert bulk.plan_workers() == 4
    monkeypatch.setenv("WAAGENT_ANALYZER_PLAN_WORKERS", "0")
    assert bulk.plan_workers() == 0


def test_a_log_known_by_its_content_after_the_workers_started(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_chunks: None) -> None:
    """A copy of the backup extension's log out of its folder is its log by content, so
    its lines count for ``emitted_by`` rules even where their prefix names no extension.
    The workers were forked while the first log was read; they learn it with each chunk."""
    import io
    import tarfile
    from datetime import UTC, datetime, timedelta

    from analyzer.pipeline import AnalyzeOptions, analyze_path

    end = datetime(2024, 1, 31, 12, 0, tzinfo=UTC)
    first = "".join(bench._heavy_extension_log(120_000, end)).encode()
    later = end + timedelta(hours=2)
    copy = ("".join(bench._heavy_extension_log(30_000, end + timedelta(hours=1))) + "".join(
        f"{later + timedelta(seconds=n):%Y-%m-%d %H:%M:%S}.000000 [SnapshotThread]"
        f"Failed to FIFREEZE: /data{n % 7}\n" for n in range(1, 3000))).encode()
    bundle = tmp_path / "copied-log.tgz"
    with tarfile.open(bundle, "w:gz") as archive:
        for name, data in ((f"var/log/azure/{bench.VMSNAP}/extension.log", first),
                           ("ticket-123/extension.log", copy)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    _planned_both_ways(bundle, monkeypatch)
    bulk.set_plan_workers(2)
    try:
        report = analyze_path(bundle, AnalyzeOptions(isolate=False)).report
    finally:
        bulk.set_plan_workers(None)
    members = {e.member for f in report.findings if f.rule == "WAA-SNAP-010" for e in f.evidence}
    assert any(m.endswith("ticket-123/extension.log") for m in members), members


def test_self_check_plans_on_one_core(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      forks_counted: list[int]) -> None:
    """On the customer's running VM the analysis forks no planners, where the same files
    analysed as a folder do use them."""
    from analyzer.cli import main
    from analyzer.engine import cache
    from analyzer.pipeline import AnalyzeOptions, analyze_path

    # self-check restricts cache writes for the rest of the process: undone after the test
    monkeypatch.setitem(cache._restricted, "on", cache._restricted["on"])

    root = tmp_path / "vm"
    (root / "var/log").mkdir(parents=True)
    (root / "etc").mkdir()
    (root / "etc/waagent.conf").write_text("Extensions.Enabled=y\n")
    line = ("2024-01-31T10:00:{:02d}.{:06d}Z INFO ExtHandler ExtHandler [HEARTBEAT] Agent "
            "WALinuxAgent-2.9.1.1 is running as the goal state agent [HeartbeatCounter: {}]\n")
    log = "".join(line.format(n % 60, n % 1_000_000, n) for n in range(70_000))
    (root / "var/log/waagent.log").write_text(log)
    assert len(log) > 2 * 4 * 1024 * 1024 * 0.6
    monkeypatch.setattr(logscan, "CHUNK_BYTES", 2 * 1024 * 1024)
    monkeypatch.setenv("WAAGENT_ANALYZER_NO_CACHE", "1")
    try:
        bulk.set_plan_workers(2)
        analyze_path(root, AnalyzeOptions(isolate=False))
        assert forks_counted, "a log this large is planned by workers in analyze"
        forks_counted.clear()
        bulk.set_plan_workers(None)
        with pytest.raises(SystemExit) as ended:
            main(["self-check", "--root", str(root), "-f", "json", "-o",
                  str(tmp_path / "report.json")])
        assert ended.value.code in (0, 1)
        assert json.loads((tmp_path / "report.json").read_text())["findings"] is not None
        assert forks_counted == [] and bulk.plan_workers() == 0
    finally:
        bulk.set_plan_workers(None)
