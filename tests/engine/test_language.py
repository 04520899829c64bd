"""The rule language: durations, case, named patterns, exclude, ``!~``, ``between``,
``unless_preceded_by``, ``emitted_by`` and handler-path attribution, ``[severity_by]``,
sequences in progress at collection, evidence that shows the match."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from analyzer.engine.checks import required_sources
from analyzer.engine.durations import DurationError, parse_duration
from analyzer.engine.loader import load_rules
from analyzer.pipeline import AnalyzeOptions, analyze_files

RULES = Path(__file__).parents[2] / "rules"

HEAD = """id = "T-1"
title = "t"
category = "network"
severity = "medium"
description = "d"
message = "m {count}"
condition = "{condition}"
[remediation]
en = "x"
pt-BR = "y"
"""


def pack_of(tmp_path: Path, body: str, condition: str = "a"):
    path = tmp_path / "T-1.toml"
    path.write_text(HEAD.replace("{condition}", condition) + body)
    return load_rules([path])


def findings(tmp_path: Path, body: str, files: dict[str, str], condition: str = "a"):
    pack = pack_of(tmp_path, body, condition)
    assert not pack.errors, pack.errors
    analysis = analyze_files(files, AnalyzeOptions(), pack=pack, source="t")
    return analysis.report.findings, analysis


def g4(minute: int, text: str, level: str = "INFO", hour: int = 10) -> str:
    return f"2024-02-01T{hour:02d}:{minute:02d}:00.000000Z {level} ExtHandler ExtHandler {text}\n"


def test_durations_parse_and_bare_numbers_are_refused(tmp_path: Path) -> None:
    assert parse_duration("72h") == 72 * 3600
    assert parse_duration("1h30m") == 5400
    assert parse_duration("7d") == 7 * 86400
    with pytest.raises(DurationError):
        parse_duration("72")
    pack = pack_of(tmp_path, '[checks.a]\npattern = "boom"\nwithin = 72\n')
    assert any("duration string" in str(e) for e in pack.errors)


def test_window_as_duration(tmp_path: Path) -> None:
    body = '[checks.a]\npattern = "boom"\nwithin = "30m"\n'
    old = g4(0, "boom", hour=8) + g4(0, "alive")
    assert findings(tmp_path, body, {"var/log/waagent.log": old})[0] == []
    recent = g4(0, "alive", hour=8) + g4(50, "boom", hour=9) + g4(0, "alive")
    assert len(findings(tmp_path, body, {"var/log/waagent.log": recent})[0]) == 1


def test_patterns_ignore_case_unless_cased(tmp_path: Path) -> None:
    log = {"var/log/waagent.log": g4(0, "BOOM happened")}
    assert findings(tmp_path, '[checks.a]\npattern = "boom happened"\n', log)[0]
    assert not findings(tmp_path, '[checks.a]\npattern = "boom happened"\ncased = true\n',
                        log)[0]


def test_named_patterns_exclude_and_not_regex(tmp_path: Path) -> None:
    body = """[patterns]
failure = 'request failed'
[checks.a]
pattern = '(?P<what>{failure}[^\\n]*)'
exclude = 'HttpError'
where = { level = "!~^INFO$" }
"""
    log = (g4(0, "request failed [HttpError] 503", "ERROR") + g4(1, "request failed timeout")
           + g4(2, "request failed: no route", "ERROR"))
    found, _ = findings(tmp_path, body, {"var/log/waagent.log": log})
    assert [e.line for e in found[0].evidence] == [3]


def test_between_on_a_table(tmp_path: Path) -> None:
    body = """[checks.a]
kind = "table"
table = "agent"
where = { role = "goal_state_agent" }
compare = { field = "value", op = "between", value = ["2.2.0", "2.2.53"], type = "version" }
"""
    old = {"var/log/waagent.log": g4(0, "Agent WALinuxAgent-2.2.49 is running as the goal "
                                        "state agent")}
    new = {"var/log/waagent.log": g4(0, "Agent WALinuxAgent-2.9.1.1 is running as the goal "
                                        "state agent")}
    assert findings(tmp_path, body, old)[0]
    assert not findings(tmp_path, body, new)[0]


def test_unless_preceded_by_within_the_window(tmp_path: Path) -> None:
    body = """[checks.a]
pattern = 'Reset endpoint'
unless_preceded_by = { pattern = 'endpoint found', within = "5m" }
"""
    explained = g4(0, "endpoint found") + g4(3, "Reset endpoint")
    assert findings(tmp_path, body, {"var/log/waagent.log": explained})[0] == []
    too_late = g4(0, "endpoint found") + g4(30, "Reset endpoint")
    assert findings(tmp_path, body, {"var/log/waagent.log": too_late})[0]


def test_handler_path_attribution_and_emitted_by_any_log(tmp_path: Path) -> None:
    body = """[checks.a]
pattern = 'Permission denied'
emitted_by = "Microsoft.Azure.Extensions.CustomScript"
"""
    agent = ("2024-02-01T10:00:00.000000Z ERROR ExtHandler ExtHandler Command failed\n"
             "/var/lib/waagent/Microsoft.Azure.Extensions.CustomScript-2.1.10/bin/custom-script-"
             "shim: line 1: Permission denied\n")
    other = ("2024-02-01T10:00:00.000000Z ERROR ExtHandler ExtHandler Command failed\n"
             "/var/lib/waagent/Microsoft.OSTCExtensions.VMAccessForLinux-1.5.1/x: Permission "
             "denied\n")
    assert findings(tmp_path, body, {"var/log/waagent.log": agent})[0]
    assert not findings(tmp_path, body, {"var/log/waagent.log": other})[0]
    own_log = {"var/log/azure/Microsoft.Azure.Extensions.CustomScript/handler.log":
               "time=2024-02-01T10:00:00Z version=v2.1.10 operation=enable seq=0 "
               "event=\"Permission denied\"\n"}
    pack = pack_of(tmp_path, body)
    assert "extension_log" in required_sources(pack.rules[0])["a"]
    assert findings(tmp_path, body, own_log)[0]


def test_severity_grows_with_count(tmp_path: Path) -> None:
    body = '[severity_by]\ncount = { high = 3 }\n[checks.a]\npattern = "boom"\n'
    one, _ = findings(tmp_path, body, {"var/log/waagent.log": g4(0, "boom 1")})
    three, _ = findings(tmp_path, body, {"var/log/waagent.log": "".join(
        g4(m, f"boom {m}") for m in range(3))})
    assert one[0].severity == "medium" and three[0].severity == "high"


SEQUENCE = """[checks.a]
kind = "sequence"
pattern = 'run started'
then = 'run finished'
within = "2h"
"""


def test_sequence_in_progress_versus_budget_elapsed(tmp_path: Path) -> None:
    running = g4(0, "run started", hour=9) + g4(30, "heartbeat", hour=9)
    found, _ = findings(tmp_path, SEQUENCE, {"var/log/waagent.log": running})
    assert [(f.severity, f.status) for f in found] == [("info", "in_progress")]
    assert found[0].message.startswith("Still in progress")
    overdue = g4(0, "run started", hour=7) + g4(30, "heartbeat", hour=9)
    found, _ = findings(tmp_path, SEQUENCE, {"var/log/waagent.log": overdue})
    assert [(f.severity, f.status) for f in found] == [("medium", "")]


def test_logs_that_end_with_a_run_show_it_stopped(tmp_path: Path) -> None:
    """With no collection time but the newest line, logs whose last lines are the run's own
    (an excerpt that ends after a phase marker) show a run that stopped, not one in
    progress; a later record (the heartbeat half an hour on) is what shows time passing."""
    ended = g4(0, "run started", hour=9) + g4(2, "next step", hour=9)
    found, _ = findings(tmp_path, SEQUENCE, {"var/log/waagent.log": ended})
    assert [(f.severity, f.status) for f in found] == [("medium", "")]


def test_sequence_without_within_means_never_recovered(tmp_path: Path) -> None:
    body = "[checks.a]\nkind = \"sequence\"\npattern = 'failed'\nthen = 'recovered'\n"
    later = g4(0, "failed", hour=1) + g4(0, "recovered", hour=20)
    assert findings(tmp_path, body, {"var/log/waagent.log": later})[0] == []
    assert findings(tmp_path, body, {"var/log/waagent.log": g4(0, "failed")})[0]


def test_evidence_shows_the_match_deep_in_a_long_record(tmp_path: Path) -> None:
    body = "[checks.a]\npattern = 'ImportError: No module named imp'\n"
    stderr = "".join(f"  noise line {i} {'x' * 60}\n" for i in range(40))
    record = (g4(0, "Command failed, stderr:", "ERROR") + stderr
              + "ImportError: No module named imp\n" + "".join(f"tail {i}\n" for i in range(9)))
    found, _ = findings(tmp_path, body, {"var/log/waagent.log": record})
    text = found[0].evidence[0].text
    assert "ImportError: No module named imp" in text
    assert "\n" in text and re.search(r"\[\.\.\. \d+ lines \.\.\.\]", text)
    assert text.splitlines()[0].endswith("Command failed, stderr:")


def test_near_identical_evidence_collapses_with_a_count(tmp_path: Path) -> None:
    body = "[checks.a]\npattern = 'timed out after'\n"
    log = "".join(g4(m, f"request {m} timed out after {m + 30} s") for m in range(5))
    found, _ = findings(tmp_path, body, {"var/log/waagent.log": log})
    assert len(found[0].evidence) == 1 and found[0].evidence[0].repeats >= 3


def test_message_never_ends_in_a_dangling_traceback(tmp_path: Path) -> None:
    body = "[checks.a]\npattern = '(?P<detail>Exception in thread[^\\n]*)'\n"
    head = HEAD.replace('message = "m {count}"', 'message = "crash: {detail}"')
    path = tmp_path / "T-1.toml"
    path.write_text(head.replace("{condition}", "a") + body)
    log = (g4(0, "Exception in thread main: Traceback (most recent call last):", "ERROR")
           + '  File "x.py", line 3, in run\n' + "ValueError: bad goal state\n")
    analysis = analyze_files({"var/log/waagent.log": log}, AnalyzeOptions(),
                             pack=load_rules([path]), source="t")
    message = analysis.report.findings[0].message
    assert "Traceback (most recent call last)" not in message
    assert message.endswith("ValueError: bad goal state")


def test_a_traceback_with_no_exception_line_leaves_no_stray_colon(tmp_path: Path) -> None:
    body = "[checks.a]\npattern = '(?P<detail>Exception in thread[^\\n]*)'\n"
    head = HEAD.replace('message = "m {count}"', 'message = "crash: {detail}"')
    path = tmp_path / "T-1.toml"
    path.write_text(head.replace("{condition}", "a") + body)
    log = g4(0, "Exception in thread main, stack trace: Traceback (most recent call last):", "ERROR")
    analysis = analyze_files({"var/log/waagent.log": log}, AnalyzeOptions(),
                             pack=load_rules([path]), source="t")
    assert analysis.report.findings[0].message == "crash: Exception in thread main, stack trace"


def test_python2_backup_traceback_lines_stamped_one_by_one_join_their_record() -> None:
    from analyzer.pipeline import AnalyzeOptions as Options

    handler = "Microsoft.Azure.RecoveryServices.VMSnapshotLinux"
    log = (f"2019/03/01 17:58:35 [{handler}-1.0]Unable to parse context, error: No JSON object "
           "could be decoded, stack trace: Traceback (most recent call last):\n"
           '2019/03/01 17:58:35   File "main/Utils/HandlerUtil.py", line 228, in try_parse_context\n'
           "2019/03/01 17:58:35 ValueError: No JSON object could be decoded\n")
    analysis = analyze_files({f"var/log/azure/{handler}/extension.log": log}, Options(), source="t")
    found = [f for f in analysis.report.findings if f.rule == "WAA-SNAP-050"]
    assert found[0].message.endswith("stack trace: ValueError: No JSON object could be decoded")
    assert found[0].evidence[0].text.endswith("ValueError: No JSON object could be decoded")


def test_collection_time_from_member_mtime_and_its_source(tmp_path: Path) -> None:
    import io
    import tarfile
    from datetime import UTC, datetime

    from analyzer.pipeline import analyze_path

    log = (g4(0, "run started", hour=9)).encode()
    collected = datetime(2024, 2, 1, 13, 0, tzinfo=UTC)  # 4 h after the last line
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        info = tarfile.TarInfo("var/log/waagent.log")
        info.size, info.mtime = len(log), int(collected.timestamp())
        tar.addfile(info, io.BytesIO(log))
    bundle = tmp_path / "b.tar"
    bundle.write_bytes(data.getvalue())
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "T-1.toml").write_text(HEAD.replace("{condition}", "a") + SEQUENCE)
    analysis = analyze_path(bundle, AnalyzeOptions(rule_dirs=[rules], builtin_rules=False,
                                                   isolate=False))
    assert analysis.report.bundle.collected_at == collected
    assert analysis.report.bundle.collected_at_source == "member_mtime"
    # 4 h after the start with a 2 h budget: never finished, not "in progress".
    assert [(f.severity, f.status) for f in analysis.report.findings] == [("medium", "")]


def test_shipped_rules_use_the_new_language() -> None:
    legacy = re.compile(r"^(within_hours|within_minutes)\s*=|100000000", re.M)
    offenders = [p.name for p in RULES.rglob("*.toml") if legacy.search(p.read_text())]
    assert offenders == []


def test_adjacency_join_takes_the_target_from_a_neighbouring_line(tmp_path: Path) -> None:
    """2.0 agents log one failed request as adjacent lines: the socket error, the retry
    counter, then the method and URL. The finding needs both."""
    body = """[checks.a]
pattern = 'Socket error: (?P<error>[^\\n]+)'
near = { pattern = '(?P<method>GET|POST) (?P<url>http://\\S+)', lines = 2 }
"""
    head = HEAD.replace('message = "m {count}"', 'message = "{method} {url}: {error}"')
    path = tmp_path / "T-1.toml"
    path.write_text(head.replace("{condition}", "a") + body)
    log = ("2015/12/01 10:00:00 ERROR:Socket error: [Errno 110] Connection timed out\n"
           "2015/12/01 10:00:00 ERROR:Retry=3\n"
           "2015/12/01 10:00:00 ERROR:GET http://168.63.129.16/machine/?comp=goalstate\n"
           "2015/12/01 10:30:00 Heartbeat\n"
           "2015/12/01 10:40:00 Heartbeat\n"
           "2015/12/01 11:00:00 ERROR:Socket error: [Errno 111] Connection refused\n"
           "2015/12/01 11:30:00 Finished\n")
    analysis = analyze_files({"var/log/waagent.log": log}, AnalyzeOptions(),
                             pack=load_rules([path]), source="t")
    found = analysis.report.findings
    assert len(found) == 1 and found[0].count == 1  # the lone 11:00 error has no neighbour
    assert found[0].message == ("GET http://168.63.129.16/machine/?comp=goalstate: "
                                "[Errno 110] Connection timed out")
    assert [e.line for e in found[0].evidence] == [1]
