"""Recognising a member by its first lines when its name says nothing (``sniff_content``,
``decide_kind``), through the walker, and the honest answer for text that is no log we read."""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.bundle.classify import decide_kind, name_hint
from analyzer.bundle.model import SourceKind as K
from analyzer.bundle.sniff import CONTENT_SNIFF_BYTES, VMSNAPSHOT, sniff_content
from analyzer.bundle.walker import walk, walk_bytes
from analyzer.errors import InputRejected
from analyzer.pipeline import AnalyzeOptions, analyze_members, analyze_path
from analyzer.settings import Limits

CSE = "Microsoft.Azure.Extensions.CustomScript"
LAD = "Microsoft.Azure.Diagnostics.LinuxDiagnostic"

# Short lines of each shape (real shapes; see fixtures/real/ for the sources of whole excerpts).
SHAPES: list[tuple[str, bytes, str, str]] = [
    ("agent 2.0 (G0)",
     b"2015/11/27 20:37:13 Windows Azure Linux Agent Version: WALinuxAgent-2.0.14\n"
     b"2015/11/27 20:37:13 Found Plugin: Microsoft.OSTCExtensions.VMAccessForLinux\n",
     K.WAAGENT_LOG, ""),
    ("agent 2.1-2.2 (G1)",
     b"2017/06/22 05:52:33.690610 INFO Agent WALinuxAgent-2.2.10 error state: Last Failure: 0\n",
     K.WAAGENT_LOG, ""),
    ("agent 2.2.3x (G2)",
     b"2019/12/19 18:02:37.584161 WARNING ExtHandler Exception processing extension handlers\n",
     K.WAAGENT_LOG, ""),
    ("agent 2.2.4x+ (G3/G4)",
     b"2020-03-02T23:25:56.109771Z INFO ExtHandler ExtHandler WALinuxAgent-2.2.46 running\n",
     K.WAAGENT_LOG, ""),
    ("agent header then a command's raw output",
     b"2017/09/21 04:29:49.413085 ERROR Return code: 1\n"
     b"2017/09/21 04:29:49.418465 ERROR Result: MAC verified OK\n"
     b"Error outputting keys and certificates\n"
     b"139771447228304:error:060740A0:digital envelope routines:EVP_PBE_CipherInit\n",
     K.WAAGENT_LOG, ""),
    ("syslog RFC 3164 with agent lines",
     b"Jun 20 06:52:20 debian waagent[477]: 2017/06/20 06:52:20.009729 INFO Routes:None\n",
     K.SYSTEM_LOG, ""),
    ("syslog RFC 3339",
     b"2021-01-07T22:24:41.676914+00:00 gw python3[1605]: Inner error: [ProtocolError] boom\n",
     K.SYSTEM_LOG, ""),
    ("journalctl short-iso",
     b"2023-02-02T11:49:13+0100 vm kernel: Out of memory: Killed process 1782 (python)\n",
     K.SYSTEM_LOG, ""),
    ("journalctl -o verbose",
     b"Thu 2023-02-02 11:49:13.015489 CET [s=1d8f;i=a1;b=79;m=1f;t=5f;x=e5]\n"
     b"    MESSAGE=Memory cgroup out of memory: Killed process 2855014 (tail)\n",
     K.SYSTEM_LOG, ""),
    ("dmesg",
     b"[  940.705287] Out of memory: Killed process 1782 (python) total-vm:3987056kB\n",
     K.SYSTEM_LOG, ""),
    ("dmesg -T",
     b"[Mon Apr 17 04:16:45 2023] Memory cgroup out of memory: Killed process 179638\n",
     K.SYSTEM_LOG, ""),
    ("console capture",
     b"[  OK  ] Started Azure Linux Agent.\n"
     b"2018/05/20 22:44:39.696043 WARNING cloud-init does not appear to be running\n"
     b" * Starting NTP server ntpd\n",
     K.SYSTEM_LOG, ""),
    ("CustomScript 2.x handler.log (logfmt)",
     b"+ /var/lib/waagent/Microsoft.Azure.Extensions.CustomScript-2.0.3/bin/custom-script-ex"
     b"tension install\n"
     b"time=2022-02-15T04:13:13Z version=v2.1.6 operation=enable seq=14 event=\"enable failed\"\n",
     K.EXTENSION_LOG, CSE),
    ("handler utility extension.log (LAD)",
     b"2021/09/23 05:28:23 ERROR:CalledProcessError.  Error Code is 1\n"
     b"2021/09/23 05:28:23 [Microsoft.Azure.Diagnostics.LinuxDiagnostic-3.0.135] Return 1:\n"
     b"2021/09/23 05:28:23 [Microsoft.Azure.Diagnostics.LinuxDiagnostic-3.0.135] Enable,error,1,x\n",
     K.EXTENSION_LOG, LAD),
    ("backup extension.log, Python 3 (A)",
     b"2024-01-14 22:16:48.796446 [" + VMSNAPSHOT.encode() + b"-1.0]T:S freeze, timeout 60\n",
     K.VMSNAPSHOT_LOG, VMSNAPSHOT),
    ("backup extension.log, Python 2 (B)",
     b"2019/03/01 17:58:35 [" + VMSNAPSHOT.encode() + b"-1.0]GetBlobProperties: x\n"
     b"2019/03/01 17:58:35   File \"/var/lib/waagent/x/main/handle.py\", line 3\n",
     K.VMSNAPSHOT_LOG, VMSNAPSHOT),
    ("backup shell.log",
     b"Mon Nov 18 00:05:10 UTC 2019- 3 returned from handle.py\n"
     b"Mon Nov 18 00:05:10 UTC 2019- python path exists\n",
     K.VMSNAPSHOT_SHELL_LOG, VMSNAPSHOT),
    ("Windows guest agent",
     b"[00000008] 2018-03-03T15:41:25.431Z [INFO]  WindowsAzureGuestAgent starting.\n",
     K.WINDOWS_AGENT_LOG, ""),
    ("goal state XML",
     b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<!-- saved -->\n<GoalState><Incarnation>3"
     b"</Incarnation></GoalState>\n",
     K.GOAL_STATE, ""),
    ("extensions config XML",
     b"<?xml version=\"1.0\"?><Extensions version=\"1.0.0.0\" goalStateIncarnation=\"1\">",
     K.EXTENSIONS_CONFIG, ""),
    ("extension .status JSON",
     b'[{"version": 1.0, "timestampUTC": "2019-01-01T00:00:00Z", "status": {"operation": '
     b'"Enable", "status": "error", "code": 1}}]',
     K.EXTENSION_STATUS, ""),
    ("HandlerStatus JSON",
     b'{"status": "NotReady", "code": -1, "name": "Microsoft.Azure.Extensions.LinuxAsm"}',
     K.HANDLER_STATUS, ""),
    ("waagent_status.json",
     b'{"timestampUTC": "2024-01-31T10:00:00Z", "aggregateStatus": {}}',
     K.WAAGENT_STATUS, ""),
]

# Text that is no log the analyzer reads: it must stay unrecognised.
NOT_LOGS: list[tuple[str, bytes]] = [
    ("passwd", b"root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"),
    ("README", b"# waagent-analyzer\n\nReads the Azure Linux Agent's logs (waagent.log) and goal "
               b"state.\n\nRun `make` to build.\n"),
    ("CSV", b"time,host,value\n2024-01-02T10:00:00Z,vm1,5\n2024-01-02T10:01:00Z,vm1,6\n"),
    ("a Go program's log", b"2024/01/02 10:00:00 listening on :8080\n2024/01/02 10:00:01 GET /\n"),
    ("Python logging", b"2024-01-02 10:00:00,123 INFO root: started\n"
                       b"2024-01-02 10:00:01,456 ERROR root: boom\n"),
    ("nginx access log", b'127.0.0.1 - - [02/Jan/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 612\n'),
    ("some JSON", b'{"name": "x", "version": 1, "items": [1, 2, 3]}\n'),
    ("some XML", b"<?xml version=\"1.0\"?><project><name>x</name></project>\n"),
]


@pytest.mark.parametrize(("label", "head", "kind", "extension"), SHAPES,
                         ids=[s[0] for s in SHAPES])
def test_each_shape_is_recognised(label: str, head: bytes, kind: str, extension: str) -> None:
    guess = sniff_content(head)
    assert (guess.kind, guess.extension) == (kind, extension), label


@pytest.mark.parametrize(("label", "text"), NOT_LOGS, ids=[n[0] for n in NOT_LOGS])
def test_text_that_is_no_log_stays_unrecognised(label: str, text: bytes) -> None:
    assert sniff_content(text).kind == "", label
    assert decide_kind(K.OTHER, "excerpt.txt", text) == (K.OTHER, "")


@pytest.mark.parametrize(("label", "text"), NOT_LOGS, ids=[n[0] for n in NOT_LOGS])
def test_a_file_with_nothing_recognisable_is_still_rejected(
    label: str, text: bytes, tmp_path: Path
) -> None:
    path = tmp_path / "attachment.txt"
    path.write_bytes(text)
    with pytest.raises(InputRejected, match="no recognised source"):
        analyze_path(path, AnalyzeOptions(isolate=False))


def test_the_sniff_reads_a_bounded_head() -> None:
    # Agent lines after 16 KiB of something else are not looked for: the head decides.
    filler = b"x" * 80 + b"\n"
    late = filler * (CONTENT_SNIFF_BYTES // len(filler) + 1)
    late += b"2020-03-02T23:25:56.109771Z INFO ExtHandler ExtHandler started\n"
    assert decide_kind(K.OTHER, "excerpt.txt", late[:CONTENT_SNIFF_BYTES]) == (K.OTHER, "")
    walked = list(walk_bytes(late, "excerpt.txt", Limits(), []))
    assert [m.kind for m in walked] == [K.OTHER]


def test_names_hint_and_content_decides() -> None:
    agent = b"2020-03-02T23:25:56.109771Z INFO ExtHandler ExtHandler started\n"
    syslog = b"Oct 30 00:00:12 vm python3[16]: 2022-10-30T00:00:12.833653Z WARNING ExtHandler x\n"
    assert name_hint("ticket/messages (1).txt") == K.SYSTEM_LOG
    assert name_hint("case/waagent.log.txt") == K.WAAGENT_LOG
    assert name_hint("CommandExecution_2024.log") == K.COMMAND_EXECUTION_LOG
    # A hint keeps its kind when the content agrees or is of the same family...
    assert decide_kind(K.OTHER, "waagent.log.txt", agent)[0] == K.WAAGENT_LOG
    assert decide_kind(K.OTHER, "messages.txt", agent)[0] == K.SYSTEM_LOG
    assert decide_kind(K.OTHER, "ticket/CommandExecution.log", agent)[0] == (
        K.COMMAND_EXECUTION_LOG)
    # ...but syslog-wrapped lines are read as syslog whatever the name says.
    assert decide_kind(K.OTHER, "waagent.log.txt", syslog)[0] == K.SYSTEM_LOG
    assert decide_kind(K.WAAGENT_LOG, "var/log/waagent.log", syslog)[0] == K.SYSTEM_LOG
    # A console capture of agent lines at its VM path stays a system log.
    assert decide_kind(K.SYSTEM_LOG, "var/log/console.log", agent)[0] == K.SYSTEM_LOG
    # The agent's own headers in a loose file named like an extension's log: the agent's log.
    assert decide_kind(K.OTHER, "ticket/extension.log", agent)[0] == K.WAAGENT_LOG
    assert decide_kind(K.EXTENSION_LOG, "var/log/azure/X.Y/extension.log", agent)[0] == (
        K.EXTENSION_LOG)
    # A hinted name with text that is no log is not taken.
    assert decide_kind(K.OTHER, "syslog.txt", b"nothing to see here\n") == (K.OTHER, "")


def test_a_loose_extension_log_keeps_its_identity() -> None:
    head = (b"2021/09/23 05:28:23 [" + LAD.encode() + b"-3.0.135] Return 1:\n"
            b"2021/09/23 05:28:23 [" + LAD.encode() + b"-3.0.135] Enable,error,1,boom\n")
    assert decide_kind(K.OTHER, "ticket/extension.log", head) == (K.EXTENSION_LOG, LAD)


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_walker_gives_loose_members_their_kind(tmp_path: Path) -> None:
    agent = b"2020-03-02T23:25:56.109771Z INFO ExtHandler ExtHandler started\n"
    shell = b"Mon Nov 18 00:05:10 UTC 2019- 3 returned from handle.py\n"
    data = _zip({
        "ticket/attachment-1.log": agent,
        "ticket/attachment-2.txt.gz": gzip.compress(shell),
        "ticket/notes.txt": b"The customer says backups fail since Monday.\n",
        # A VM folder of packages and state: never taken for a log by its content.
        "var/lib/waagent/Some.Ext-1.0/bin/run.log": agent,
    })
    members = {m.logical_path: m for m in walk_bytes(data, "ticket.zip", Limits(), [])}
    assert members["ticket/attachment-1.log"].kind == K.WAAGENT_LOG
    assert members["ticket/attachment-2.txt.gz"].kind == K.VMSNAPSHOT_SHELL_LOG
    assert members["ticket/attachment-2.txt.gz"].extension == VMSNAPSHOT
    assert members["ticket/notes.txt"].kind == K.OTHER
    assert members["var/lib/waagent/Some.Ext-1.0/bin/run.log"].kind == K.OTHER
    # A folder input: the same decisions.
    root = tmp_path / "case"
    (root / "ticket").mkdir(parents=True)
    (root / "ticket" / "attachment-1.log").write_bytes(agent)
    assert [m.kind for m in walk(root, Limits(), [])] == [K.WAAGENT_LOG]


def test_emitted_by_sees_an_extension_log_outside_its_folder() -> None:
    # The backup extension's console-format lines name no extension on the line that matters;
    # the file's head does (a handler path), so a rule on "records emitted by the backup
    # extension" reads them in a loose file as it would in the extension's own folder.
    lines = (
        "2019-11-23 21:12:20.100000  Info  arg : ['/var/lib/waagent/"
        f"{VMSNAPSHOT}-1.0.9156.0/main/safefreeze/bin/safefreeze', '60'] \n"
        "2019-11-23 21:12:24.539222  Info  Binary output for signal handled: 0 \n"
    ).encode()
    data = _zip({"ticket/backup-console.txt": lines})
    options = AnalyzeOptions(isolate=False)
    analysis = analyze_members(
        "ticket.zip", lambda problems: walk_bytes(data, "ticket.zip", options.limits, problems),
        options,
    )
    assert [row.kind for row in analysis.tables.files] == [K.VMSNAPSHOT_LOG]
    assert "WAA-SNAP-002" in {finding.rule for finding in analysis.report.findings}


LOG_LINES = [line for _, head, _, _ in SHAPES for line in head.splitlines(keepends=True)]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(LOG_LINES), st.binary(max_size=120)), max_size=40))
def test_any_head_gets_an_answer_and_never_an_error(parts: list[bytes]) -> None:
    head = b"".join(parts)[:CONTENT_SNIFF_BYTES]
    guess = sniff_content(head)
    assert guess.kind in {"", *{kind for _, _, kind, _ in SHAPES}}
    kind, _ = decide_kind(K.OTHER, "ticket/attachment.log", head)
    assert kind == (guess.kind or K.OTHER)
