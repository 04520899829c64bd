"""The sandbox and the isolated reader/evaluator: typed messages, what survives a dying child,
and bounded state (the row bomb, the parent's memory, capped problems)."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from analyzer.errors import InputRejected, Problem
from analyzer.isolation import Computed, Rejected, compute_isolated, read_isolated
from analyzer.pipeline import AnalyzeOptions, analyze_path, load_pack
from analyzer.sandbox import ChildError, SandboxLimits, run_in_sandbox
from analyzer.scan import new_tables
from analyzer.settings import Limits, MiB

REPO = Path(__file__).resolve().parents[1]
LIMITS = SandboxLimits(memory_bytes=512 * MiB, cpu_seconds=30, wall_seconds=20)


def _tgz(path: Path, members: dict[str, bytes]) -> Path:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=9) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    path.write_bytes(buffer.getvalue())
    return path


# -- the sandbox layer ----------------------------------------------------------------------------


def test_messages_arrive_in_order_and_the_child_ends_ok() -> None:
    received: list[object] = []

    def work(emit: Callable[[object], None]) -> None:
        for i in range(3):
            emit(Computed(i))

    end = run_in_sandbox(work, LIMITS, received.append)
    assert end.status == "ok"
    assert received == [Computed(0), Computed(1), Computed(2)]


def test_a_finished_child_is_not_waited_for_but_reaped_before_the_next(tmp_path: Path) -> None:
    """A child that says it has finished lets the parent go on while it ends (closing its
    planners, giving its memory back); it is reaped before the next child reads, and by
    ``reap_finished_children`` when the command ends, so its resource use still counts."""
    from analyzer import sandbox
    from analyzer.sandbox import finish, reap_finished_children

    pid_file = tmp_path / "child.pid"

    def work(emit: Callable[[object], None]) -> None:
        pid_file.write_text(str(os.getpid()))
        emit(Computed("answer"))
        finish(emit)
        with pytest.raises(BrokenPipeError):  # nothing more may be sent
            emit(Computed("late"))
        time.sleep(2)  # its slow ending

    received: list[object] = []
    end = run_in_sandbox(work, LIMITS, received.append)
    assert end.status == "ok"
    assert received == [Computed("answer")]
    pid = int(pid_file.read_text())
    assert sandbox._finished == [pid]
    # The parent came back while the child was still ending, without waiting for it.
    assert os.waitpid(pid, os.WNOHANG) == (0, 0), "still ending, not yet reaped"
    os.kill(pid, 0)  # alive
    reap_finished_children()
    assert sandbox._finished == []
    with pytest.raises(ChildProcessError):  # reaped: no child of ours is left
        os.waitpid(pid, os.WNOHANG)


def test_the_next_child_reaps_the_one_that_finished_before(tmp_path: Path) -> None:
    from analyzer import sandbox

    def work(emit: Callable[[object], None]) -> None:
        emit(Computed(os.getpid()))  # finished when work returns; its ending is quick

    first: list[object] = []
    run_in_sandbox(work, LIMITS, first.append)
    earlier = first[0].value  # type: ignore[attr-defined]
    second: list[object] = []
    run_in_sandbox(work, LIMITS, second.append)
    assert earlier not in sandbox._finished
    with pytest.raises(ChildProcessError):
        os.waitpid(earlier, os.WNOHANG)
    sandbox.reap_finished_children()


def test_the_command_leaves_no_child_behind(tmp_path: Path) -> None:
    """``analyze`` ends with its reader, planners and evaluation child reaped: a process
    that waits for it sees their peak memory in its own children's (``wait4``)."""
    bundle = _tgz(tmp_path / "b.tgz", {"var/log/waagent.log": (
        b"2024-01-31T10:00:00.000000Z INFO ExtHandler ExtHandler ProcessExtensionsGoalState "
        b"completed [incarnation_1 12 ms]\n")})
    # The probe adopts what its child leaves behind (a subreaper): an unreaped reader or
    # evaluation child would become its own child when ``analyze`` ends.
    probe = (
        "import ctypes, os, sys, runpy, time\n"
        "ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    sys.argv = ['analyzer', 'analyze', sys.argv[1], '--format', 'json']\n"
        "    runpy.run_module('analyzer', run_name='__main__')\n"
        "os.waitpid(pid, 0)\n"
        "time.sleep(0.2)\n"
        "try:\n"
        "    os.waitpid(-1, os.WNOHANG)\n"
        "    print('a child is left')\n"
        "except ChildProcessError:\n"
        "    print('none left')\n")
    done = subprocess.run([sys.executable, "-c", probe, str(bundle)], capture_output=True,
                          text=True, timeout=120, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.stdout.strip().splitlines()[-1] == "none left", done.stderr


def test_an_exception_in_the_child_is_a_typed_error_not_a_message() -> None:
    received: list[object] = []

    def work(emit: object) -> None:
        raise RuntimeError("boom")

    end = run_in_sandbox(work, LIMITS, received.append)
    assert (end.status, end.detail) == ("error", "RuntimeError: boom")
    assert not any(isinstance(m, ChildError) for m in received)


def test_the_parents_own_work_runs_while_the_child_works(tmp_path: Path) -> None:
    """Each side waits for the other: the child for a file only the side task writes, the
    side task for a file only the running child writes. A side task run before the fork
    (no child yet) or after the child ended (it would never end) fails here."""
    started, flag = tmp_path / "child-started", tmp_path / "parent-was-here"
    received: list[object] = []

    def work(emit: Callable[[object], None]) -> None:
        started.touch()
        while not flag.exists():
            time.sleep(0.005)
        emit(Computed("saw the parent"))

    def side_task() -> None:
        deadline = time.monotonic() + 10
        while not started.exists():
            if time.monotonic() > deadline:
                raise AssertionError("the side task ran while no child was running")
            time.sleep(0.005)
        flag.touch()

    end = run_in_sandbox(work, SandboxLimits(512 * MiB, 30, 10), received.append,
                         while_child_runs=side_task)
    assert end.status == "ok"
    assert received == [Computed("saw the parent")]


def test_a_failing_side_task_kills_and_reaps_the_child(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"

    def work(emit: Callable[[object], None]) -> None:
        pid_file.write_text(str(os.getpid()))
        time.sleep(60)

    def side_task() -> None:
        while not pid_file.exists() or not pid_file.read_text():
            time.sleep(0.005)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_in_sandbox(work, LIMITS, lambda message: None, while_child_runs=side_task)
    with pytest.raises(ChildProcessError):  # killed and reaped: no child of ours is left
        os.waitpid(int(pid_file.read_text()), os.WNOHANG)


def test_a_child_past_its_wall_clock_is_killed_and_what_it_sent_is_kept() -> None:
    received: list[object] = []

    def work(emit: object) -> None:
        emit(Computed("before"))  # type: ignore[operator]
        time.sleep(30)

    start = time.monotonic()
    end = run_in_sandbox(work, SandboxLimits(512 * MiB, 30, 1.0), received.append)
    assert time.monotonic() - start < 10
    assert end.status == "timeout" and received == [Computed("before")]


def test_a_message_past_the_size_bound_ends_the_child_not_the_parent(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A frame larger than the parent accepts: the messages before it are kept, the child
    (which would wait for ever to write the rest) is killed, and the end says why."""
    from analyzer import wire

    monkeypatch.setattr(wire, "MAX_MESSAGE_BYTES", 1 << 20)
    received: list[object] = []

    def work(emit: Callable[[object], None]) -> None:
        emit(Computed("small"))
        emit(Computed(b"x" * (8 << 20)))  # past the bound, and past what a pipe holds
        emit(Computed("never read"))

    signal.alarm(20)  # a hang fails the test instead of the whole run
    try:
        end = run_in_sandbox(work, LIMITS, received.append)
    finally:
        signal.alarm(0)
    assert received == [Computed("small")]
    assert end.status == "error" and "unreadable message" in end.detail


def test_a_child_over_its_memory_limit_ends_as_memory() -> None:
    def work(emit: object) -> None:
        hog = [bytearray(64 * MiB) for _ in range(64)]
        del hog

    end = run_in_sandbox(work, SandboxLimits(256 * MiB, 30, 20), lambda m: None)
    assert end.status == "memory"


# -- the isolated reader and evaluator -------------------------------------------------------------


def test_members_read_before_the_child_dies_are_kept(tmp_path: Path) -> None:
    pack, _, _ = load_pack(AnalyzeOptions())
    good = b"2024-01-31T10:00:00.000000Z INFO ExtHandler ExtHandler hello\n"

    def members(problems: list[Problem]) -> object:
        from analyzer.pipeline import members_from_files

        yield from members_from_files({"var/log/waagent.log": good}, "case")
        os._exit(9)  # the walker dies on the next member

    tables = new_tables("case", Limits())
    result = read_isolated("case", members, pack, tables, Limits(), timeline=False)  # type: ignore[arg-type]
    assert [row.logical_path for row in result.tables.files] == ["var/log/waagent.log"]
    assert any(p.message.startswith("stopped: reader process exited with code 9")
               for p in result.tables.problems)


def test_a_child_that_dies_before_any_member_rejects_the_input() -> None:
    pack, _, _ = load_pack(AnalyzeOptions())

    def members(problems: list[Problem]) -> object:
        os._exit(9)
        yield  # pragma: no cover

    with pytest.raises(InputRejected, match="rejected: reader process exited with code 9"):
        read_isolated("case", members, pack, new_tables("case", Limits()), Limits(), False)  # type: ignore[arg-type]


def test_compute_isolated_returns_the_childs_value_and_rejects_on_death() -> None:
    assert compute_isolated("case", lambda: {"n": 41 + 1}, Limits(), "sum") == {"n": 42}
    with pytest.raises(InputRejected, match="case: rule evaluation stopped"):
        compute_isolated("case", lambda: os._exit(3), Limits(), "rule evaluation")


def test_rejections_travel_as_typed_messages() -> None:
    assert Rejected(3, "x") == Rejected(3, "x")
    with pytest.raises(InputRejected, match="nothing here"):
        compute_isolated("case", _raise_rejected, Limits(), "x")


def _raise_rejected() -> None:
    raise InputRejected("nothing here")


# -- bounded state -----------------------------------------------------------------------------------


def _row_bomb(path: Path) -> Path:
    """~200 KB upload: four ~15 MiB ExtensionsConfig documents of identical <Plugin/>
    elements (below the ratio floor), about 1.2 million rows."""
    plugin = b'<Plugin name="A.B" version="1.0" state="enabled"/>\n'
    count = (15 * MiB - 200) // len(plugin)
    document = (b'<?xml version="1.0" encoding="utf-8"?>\n<Extensions goalStateIncarnation="1">'
                b"<Plugins>\n" + plugin * count + b"</Plugins></Extensions>\n")
    return _tgz(path, {f"var/lib/waagent/ExtensionsConfig.{i}.xml": document
                       for i in range(1, 5)})


def test_the_row_bomb_finishes_within_the_limits_with_a_report(tmp_path: Path) -> None:
    """Run as a user would (a fresh ``analyze``): the reader's address-space limit counts the
    whole process, so a test process bloated by earlier tests would measure itself."""
    bomb = _row_bomb(tmp_path / "rowbomb.tgz")
    assert bomb.stat().st_size < 400 * 1024
    env = {**os.environ, "PYTHONPATH": str(REPO), "WAAGENT_ANALYZER_NO_CACHE": "1"}
    start = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "analyzer", "analyze", str(bomb),
                             "--format", "json"], env=env, capture_output=True, text=True,
                            timeout=300, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - start < Limits().wall_seconds
    bundle = json.loads(result.stdout)["bundle"]
    assert [f["member"] for f in bundle["files"]] == [
        f"rowbomb.tgz!var/lib/waagent/ExtensionsConfig.{i}.xml" for i in range(1, 5)]
    messages = [p["message"] for p in bundle["problems"]]
    rows = Limits().max_table_rows
    assert not any(m.startswith("stopped") for m in messages), messages
    assert any(m.startswith(f"the extensions table is capped at {rows} rows: ")
               and "more rows were not kept" in m for m in messages), messages


_PARENT_PROBE = """
import json, sys
from pathlib import Path
from analyzer.pipeline import AnalyzeOptions, analyze_path
from analyzer.settings import Limits
analysis = analyze_path(Path(sys.argv[1]), AnalyzeOptions(limits=Limits(worker_memory_bytes=1 << 30)))
# VmHWM, not ru_maxrss: the latter keeps the peak of the process we were forked from.
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status")
               if line.startswith("VmHWM:"))
print(json.dumps({"parent_mb": peak_kb / 1024,
                  "findings": sorted(f.rule for f in analysis.report.findings)}))
"""


def test_the_parent_stays_small_on_a_failure_heavy_log(tmp_path: Path) -> None:
    """40,000 goal-state failures never followed by a recovery: every one is a sequence start.
    The starts used to travel to the parent as full records (about 200 MB here); now only
    their times and a bounded sample do."""
    lines = [
        f"2024-01-{1 + i // 86400:02d}T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}"
        ".000000Z ERROR ExtHandler ExtHandler Error fetching the goal state: [ProtocolError] "
        "[Wireserver Exception] [HttpError] [HTTP Failed] GET http://168.63.129.16/machine/ "
        f"-- IOError timed out -- 6 attempts made, request {i}"
        for i in range(40_000)
    ]
    bundle = _tgz(tmp_path / "failures.tgz",
                  {"var/log/waagent.log": ("\n".join(lines) + "\n").encode()})
    env = {**os.environ, "PYTHONPATH": str(REPO), "WAAGENT_ANALYZER_NO_CACHE": "1"}
    result = subprocess.run([sys.executable, "-c", _PARENT_PROBE, str(bundle)], env=env,
                            capture_output=True, text=True, timeout=300, cwd=REPO, check=True)
    outcome = json.loads(result.stdout)
    assert "WAA-GS-001" in outcome["findings"]
    assert outcome["parent_mb"] < 150, outcome


def test_problems_are_capped_per_kind_with_a_count(tmp_path: Path) -> None:
    bad = b"<Extensions><Plugins><Plugin"  # truncated XML: one parse problem per member
    members = {f"var/lib/waagent/ExtensionsConfig.{i}.xml": bad for i in range(30)}
    limits = Limits(max_problems_per_kind=5)
    analysis = analyze_path(_tgz(tmp_path / "bad.tgz", members), AnalyzeOptions(limits=limits))
    messages = [p.message for p in analysis.report.bundle.problems]
    per_kind: dict[str, int] = {}
    for message in messages:
        kind = message.split(":", 1)[0][:60]
        per_kind[kind] = per_kind.get(kind, 0) + 1
    assert max(per_kind.values()) <= limits.max_problems_per_kind
    assert any("25 more problems like" in m and "not listed" in m for m in messages), messages


def _failure_lines(first: int, count: int, message: str) -> bytes:
    return "".join(
        f"2024-01-{1 + i // 86400:02d}T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}"
        f".000000Z ERROR ExtHandler ExtHandler {message} {i}\n"
        for i in range(first, first + count)).encode()


_GS_FAILURE = ("Error fetching the goal state: [ProtocolError] [Wireserver Exception] "
               "[HttpError] [HTTP Failed] GET http://168.63.129.16/machine/ -- IOError timed out "
               "-- 6 attempts made, request")
_ENDPOINT_LOST = "Protocol endpoint not found, request"


def _rotated_bundle(tmp_path: Path) -> Path:
    """Three members, each with its own failures: the deltas cross the sandbox one by one."""
    return _tgz(tmp_path / "rotated.tgz", {
        "var/log/waagent.log.2": _failure_lines(0, 300, _GS_FAILURE)
        + _failure_lines(300, 40, _ENDPOINT_LOST),
        "var/log/waagent.log.1": _failure_lines(1000, 300, _GS_FAILURE)
        + _failure_lines(1300, 40, _ENDPOINT_LOST),
        "var/log/waagent.log": _failure_lines(2000, 300, _GS_FAILURE)
        + _failure_lines(2300, 40, _ENDPOINT_LOST),
    })


def _checks(bundle: Path, limits: Limits, isolate: bool) -> dict[str, tuple[object, ...]]:
    analysis = analyze_path(bundle, AnalyzeOptions(isolate=isolate, limits=limits))
    return {f"{outcome.rule.id}/{name}": (result.value, result.count, result.detail,
                                         result.first, result.last,
                                         [e.text for e in result.evidence])
            for outcome in analysis.outcomes for name, result in outcome.checks.items()}


def test_deltas_past_the_start_cap_carry_only_what_the_parent_keeps(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past ``max_sequence_starts``, a member's delta carries no starts the parent would drop
    (on a failing VM they were most of each delta, and the parent's peak memory): the report
    is the one the untrimmed deltas gave, counts of dropped starts and evidence included."""
    from analyzer.engine.matching import MatchStore

    bundle = _rotated_bundle(tmp_path)
    limits = Limits(max_sequence_starts=450)
    trimmed = _checks(bundle, limits, isolate=True)
    assert "(only the first 450 starts were kept; 450 more not checked)" in (
        trimmed["WAA-GS-001/unrecovered"][2])
    monkeypatch.setattr(MatchStore, "keep_room_of", lambda self, kept: None)
    assert trimmed == _checks(bundle, limits, isolate=True)


def test_a_guard_under_a_minute_keeps_every_record_across_the_deltas(tmp_path: Path) -> None:
    """With a guard shorter than a minute (none is shipped: WAA-DHCP-001's guard cut to 30
    seconds here), every member's delta names the checks that keep each record's time, and
    the parent's guard stores hold every record past the exact cap, unfolded."""
    from analyzer.bundle.walker import walk
    from analyzer.engine.checks.log import GUARD
    from analyzer.engine.matching import RecordMatcher, per_hit_checks

    rules = tmp_path / "rules" / "dhcp"
    rules.mkdir(parents=True)
    shipped = (Path(__file__).resolve().parents[1] / "rules" / "dhcp" / "WAA-DHCP-001.toml")
    text = shipped.read_text(encoding="utf-8")
    assert text.count('within = "10m" }') == 2
    (rules / "WAA-DHCP-001.toml").write_text(text.replace('within = "10m" }', 'within = "30s" }'),
                                              encoding="utf-8")
    pack, _, _ = load_pack(AnalyzeOptions(builtin_rules=False, rule_dirs=[rules.parent]))
    limits = Limits(max_exact_hits=10)
    found = "Using hardcoded Wireserver endpoint 168.63.129.16"
    bundle = _tgz(tmp_path / "guarded.tgz", {
        name: _failure_lines(start, 40, _ENDPOINT_LOST) + _failure_lines(start + 100, 40, found)
        for name, start in (("var/log/waagent.log.1", 0), ("var/log/waagent.log", 1000))})
    result = read_isolated("case", lambda problems: walk(bundle, limits, problems), pack,
                           new_tables("case", limits), limits, timeline=False)
    exact = per_hit_checks(RecordMatcher(pack.rules).queries)
    assert exact == {("WAA-DHCP-001", "endpoint_wrapper" + GUARD),
                     ("WAA-DHCP-001", "wrapper_unrecovered" + GUARD)}
    assert result.store.exact_keys == exact
    for key in exact:  # a guard's records are kept as times (a sequence store's ends)
        guard = result.store.sequences[key]
        assert guard.folded_ends is None and len(guard.end_times) == 80


def test_every_delta_says_which_checks_keep_every_hit(tmp_path: Path) -> None:
    """Each member's delta starts a fresh store; the parent still learns which checks keep
    every hit (guards shorter than a minute: the shipped pack has none; the merge itself is
    tested in ``tests/engine/test_folded_hits.py``). A guard of a minute or more is answered
    from minute rows, and a ``near`` join stops at the cap: their checks fold like any
    other."""
    from analyzer.engine.matching import RecordMatcher, per_hit_checks

    pack, _, _ = load_pack(AnalyzeOptions())
    limits = Limits(max_exact_hits=10)
    bundle = _rotated_bundle(tmp_path)
    from analyzer.bundle.walker import walk

    result = read_isolated("case", lambda problems: walk(bundle, limits, problems), pack,
                           new_tables("case", limits), limits, timeline=False)
    exact = per_hit_checks(RecordMatcher(pack.rules).queries)
    assert result.store.exact_keys == exact == frozenset()
    guarded = result.store.accumulators[("WAA-DHCP-001", "endpoint_wrapper")]
    assert guarded.folded is not None and guarded.count == 120
    plain = result.store.accumulators[("WAA-GS-001", "gs_failure")]
    assert plain.folded is not None and plain.count == 900
