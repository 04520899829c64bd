"""Every bundle shape the analyzer accepts: provenance, logical paths, kinds, content."""

from __future__ import annotations

import lzma
from pathlib import Path

import pytest
from bundle_helpers import (
    GOAL_STATE,
    LOG,
    PLACEHOLDER,
    gz,
    tar_bytes,
    tgz_bytes,
    walk_data,
    walk_path,
    zip_bytes,
)

from analyzer.bundle.model import SourceKind as K
from analyzer.errors import InputRejected

VMSNAP = "Microsoft.Azure.RecoveryServices.VMSnapshotLinux"
HISTORY = "var/lib/waagent/history/2024-01-31T10-00-00__3"


def history_zip() -> bytes:
    """What agent 2.8+ writes to history/*.zip: flat names."""
    return zip_bytes(
        [
            ("GoalState.xml", GOAL_STATE),
            ("ExtensionsConfig.xml", b"<Extensions/>"),
            ("VmSettings.json", b"{}"),
            ("waagent_status.json", b"{}"),
            (f"{VMSNAP}.manifest.xml", b"<PluginVersionManifest/>"),
            ("RemoteAccess.xml", b"<RemoteAccess/>"),
        ]
    )


def collector_zip() -> bytes:
    """Layout of the agent's own logs.zip (``waagent -collect-logs``)."""
    return zip_bytes(
        [
            ("var/log/waagent.log", LOG),
            ("var/log/waagent.log-2024-01-30-1706572800.gz", gz(LOG * 3)),
            ("truncated_var_log_syslog.1", b"syslog tail\n"),
            (f"truncated_var_log_azure_{VMSNAP}_extension.log", b"ext tail\n"),
            ("etc/waagent.conf", b"AutoUpdate.Enabled=y\n"),
            (f"var/lib/waagent/{VMSNAP}-1.0.9225.0/status/0.status", b"[]"),
            (f"var/lib/waagent/{VMSNAP}-1.0.9225.0/config/HandlerState", b"Enabled"),
            ("var/lib/waagent/ovf-env.xml", b"<UserPassword>*</UserPassword>"),
            (f"{HISTORY}.zip", history_zip()),
            ("results.txt", b"2024-01-31T10:00:00Z INFO Adding file /var/log/waagent.log\n"),
        ]
    )


def test_agent_logs_zip() -> None:
    walked = walk_data(collector_zip(), "logs.zip")
    rows = [(m.provenance, m.logical_path, m.kind, m.depth) for m in walked.members]
    assert rows == [
        ("logs.zip!var/log/waagent.log", "var/log/waagent.log", K.WAAGENT_LOG, 0),
        (
            "logs.zip!var/log/waagent.log-2024-01-30-1706572800.gz",
            "var/log/waagent.log-2024-01-30-1706572800.gz",
            K.WAAGENT_LOG,
            0,
        ),
        ("logs.zip!truncated_var_log_syslog.1", "var/log/syslog.1", K.SYSTEM_LOG, 0),
        (
            f"logs.zip!truncated_var_log_azure_{VMSNAP}_extension.log",
            f"var/log/azure/{VMSNAP}/extension.log",
            K.VMSNAPSHOT_LOG,
            0,
        ),
        ("logs.zip!etc/waagent.conf", "etc/waagent.conf", K.WAAGENT_CONF, 0),
        (
            f"logs.zip!var/lib/waagent/{VMSNAP}-1.0.9225.0/status/0.status",
            f"var/lib/waagent/{VMSNAP}-1.0.9225.0/status/0.status",
            K.EXTENSION_STATUS,
            0,
        ),
        (
            f"logs.zip!var/lib/waagent/{VMSNAP}-1.0.9225.0/config/HandlerState",
            f"var/lib/waagent/{VMSNAP}-1.0.9225.0/config/HandlerState",
            K.HANDLER_STATE,
            0,
        ),
        ("logs.zip!var/lib/waagent/ovf-env.xml", "var/lib/waagent/ovf-env.xml", K.SECRET, 0),
        (f"logs.zip!{HISTORY}.zip", f"{HISTORY}.zip", K.ARCHIVE, 0),
        (f"logs.zip!{HISTORY}.zip!GoalState.xml", f"{HISTORY}/GoalState.xml", K.GOAL_STATE, 1),
        (
            f"logs.zip!{HISTORY}.zip!ExtensionsConfig.xml",
            f"{HISTORY}/ExtensionsConfig.xml",
            K.EXTENSIONS_CONFIG,
            1,
        ),
        (f"logs.zip!{HISTORY}.zip!VmSettings.json", f"{HISTORY}/VmSettings.json", K.VM_SETTINGS, 1),
        (
            f"logs.zip!{HISTORY}.zip!waagent_status.json",
            f"{HISTORY}/waagent_status.json",
            K.WAAGENT_STATUS,
            1,
        ),
        (
            f"logs.zip!{HISTORY}.zip!{VMSNAP}.manifest.xml",
            f"{HISTORY}/{VMSNAP}.manifest.xml",
            K.OTHER,
            1,
        ),
        (f"logs.zip!{HISTORY}.zip!RemoteAccess.xml", f"{HISTORY}/RemoteAccess.xml", K.SECRET, 1),
        ("logs.zip!results.txt", "results.txt", K.COLLECTOR_RESULTS, 0),
    ]
    assert walked.problems == []
    truncated = [m.provenance for m in walked.members if m.collector_truncated]
    assert truncated == [
        "logs.zip!truncated_var_log_syslog.1",
        f"logs.zip!truncated_var_log_azure_{VMSNAP}_extension.log",
    ]
    rotated = walked.by_prov("logs.zip!var/log/waagent.log-2024-01-30-1706572800.gz")
    assert rotated.compressed
    assert walked.contents[rotated.provenance] == LOG * 3
    assert walked.contents[f"logs.zip!{HISTORY}.zip!GoalState.xml"] == GOAL_STATE
    # secrets and archives are listed but never opened
    for prov in ("logs.zip!var/lib/waagent/ovf-env.xml", f"logs.zip!{HISTORY}.zip"):
        assert walked.by_prov(prov).opener is None
        assert prov not in walked.contents


def test_tarball_of_absolute_stripped_paths() -> None:
    data = tgz_bytes(
        [
            ("var/log/waagent.log", LOG),
            ("var/lib/waagent/GoalState.1.xml", PLACEHOLDER),
            ("var/lib/waagent/GoalState.3.xml", GOAL_STATE),
            ("var/lib/waagent/ExtensionsConfig.3.xml", b"<Extensions/>"),
            (f"var/log/azure/{VMSNAP}/extension.log", b"ext\n"),
        ]
    )
    walked = walk_data(data, "case.tgz")
    assert [(m.provenance, m.logical_path, m.kind) for m in walked.members] == [
        ("case.tgz!var/log/waagent.log", "var/log/waagent.log", K.WAAGENT_LOG),
        (
            "case.tgz!var/lib/waagent/GoalState.1.xml",
            "var/lib/waagent/GoalState.1.xml",
            K.GOAL_STATE_PLACEHOLDER,
        ),
        (
            "case.tgz!var/lib/waagent/GoalState.3.xml",
            "var/lib/waagent/GoalState.3.xml",
            K.GOAL_STATE,
        ),
        (
            "case.tgz!var/lib/waagent/ExtensionsConfig.3.xml",
            "var/lib/waagent/ExtensionsConfig.3.xml",
            K.EXTENSIONS_CONFIG,
        ),
        (
            f"case.tgz!var/log/azure/{VMSNAP}/extension.log",
            f"var/log/azure/{VMSNAP}/extension.log",
            K.VMSNAPSHOT_LOG,
        ),
    ]
    assert walked.contents["case.tgz!var/log/waagent.log"] == LOG
    # the placeholder is still readable, in full, after the walker peeked at it
    assert walked.contents["case.tgz!var/lib/waagent/GoalState.1.xml"] == PLACEHOLDER
    assert walked.by_prov("case.tgz!var/log/waagent.log").mtime == 1706695200.0
    assert walked.by_prov("case.tgz!var/log/waagent.log").size == len(LOG)
    assert walked.problems == []


@pytest.mark.parametrize("prefix", ["case-1234/", "./case-1234/", "./"])
def test_tarball_under_a_top_folder(prefix: str) -> None:
    data = tgz_bytes(
        [
            (f"{prefix}var/log/waagent.log", LOG),
            (f"{prefix}var/lib/waagent/GoalState.3.xml", GOAL_STATE),
            (f"{prefix}etc/waagent.conf", b"Logs.Verbose=n\n"),
        ]
    )
    walked = walk_data(data, "case-1234.tar.gz")
    assert [(m.provenance, m.logical_path) for m in walked.members] == [
        (f"case-1234.tar.gz!{prefix}var/log/waagent.log", "var/log/waagent.log"),
        (
            f"case-1234.tar.gz!{prefix}var/lib/waagent/GoalState.3.xml",
            "var/lib/waagent/GoalState.3.xml",
        ),
        (f"case-1234.tar.gz!{prefix}etc/waagent.conf", "etc/waagent.conf"),
    ]
    assert [m.kind for m in walked.members] == [K.WAAGENT_LOG, K.GOAL_STATE, K.WAAGENT_CONF]


def test_flat_tarball() -> None:
    data = tar_bytes(
        [
            ("waagent.log", LOG),
            ("waagent.log.1.gz", gz(b"older\n")),
            ("GoalState.3.xml", GOAL_STATE),
            ("dhclient.eth0.leases", b"lease {}\n"),
        ]
    )
    walked = walk_data(data, "flat.tar")
    assert [(m.logical_path, m.kind, m.compressed) for m in walked.members] == [
        ("waagent.log", K.WAAGENT_LOG, False),
        ("waagent.log.1.gz", K.WAAGENT_LOG, True),
        ("GoalState.3.xml", K.GOAL_STATE, False),
        ("dhclient.eth0.leases", K.DHCP_LEASE, False),
    ]
    assert walked.contents["flat.tar!waagent.log.1.gz"] == b"older\n"


def test_flat_folder(tmp_path: Path) -> None:
    folder = tmp_path / "case-1234"
    folder.mkdir()
    (folder / "waagent.log").write_bytes(LOG)
    (folder / "waagent.log.1.gz").write_bytes(gz(b"older\n"))
    (folder / "GoalState.3.xml").write_bytes(GOAL_STATE)
    walked = walk_path(folder)
    assert [(m.provenance, m.logical_path, m.kind) for m in walked.members] == [
        ("case-1234/GoalState.3.xml", "GoalState.3.xml", K.GOAL_STATE),
        ("case-1234/waagent.log", "waagent.log", K.WAAGENT_LOG),
        ("case-1234/waagent.log.1.gz", "waagent.log.1.gz", K.WAAGENT_LOG),
    ]
    assert walked.contents["case-1234/waagent.log.1.gz"] == b"older\n"
    # directory members can be reopened after the walk
    assert walked.by_prov("case-1234/waagent.log").open().read() == LOG


def test_directory_tree_with_nested_logs_zip(tmp_path: Path) -> None:
    root = tmp_path / "extracted"
    (root / "case-9/var/log").mkdir(parents=True)
    (root / "case-9/var/lib/waagent/logcollector").mkdir(parents=True)
    (root / "case-9/var/log/waagent.log").write_bytes(LOG)
    (root / "case-9/var/lib/waagent/logcollector/logs.zip").write_bytes(collector_zip())
    walked = walk_path(root)
    first = walked.members[0]
    assert (first.provenance, first.logical_path) == (
        "extracted/case-9/var/lib/waagent/logcollector/logs.zip",
        "var/lib/waagent/logcollector/logs.zip",
    )
    inner = walked.by_prov(
        "extracted/case-9/var/lib/waagent/logcollector/logs.zip!var/log/waagent.log"
    )
    assert (inner.logical_path, inner.kind, inner.depth) == (
        "var/log/waagent.log",
        K.WAAGENT_LOG,
        1,
    )
    history = walked.by_prov(
        f"extracted/case-9/var/lib/waagent/logcollector/logs.zip!{HISTORY}.zip!GoalState.xml"
    )
    assert (history.logical_path, history.depth) == (f"{HISTORY}/GoalState.xml", 2)
    assert walked.provenances[-1] == "extracted/case-9/var/log/waagent.log"
    assert walked.problems == []


def test_single_waagent_log(tmp_path: Path) -> None:
    path = tmp_path / "waagent.log"
    path.write_bytes(LOG * 2)
    walked = walk_path(path)
    [member] = walked.members
    assert (member.provenance, member.logical_path, member.kind, member.size) == (
        "waagent.log",
        "waagent.log",
        K.WAAGENT_LOG,
        2 * len(LOG),
    )
    assert walked.contents["waagent.log"] == LOG * 2


def test_single_rotated_gzip_log(tmp_path: Path) -> None:
    path = tmp_path / "waagent.log.1.gz"
    path.write_bytes(gz(LOG * 5))
    walked = walk_path(path)
    [member] = walked.members
    assert (member.provenance, member.logical_path, member.kind, member.compressed) == (
        "waagent.log.1.gz",
        "waagent.log.1.gz",
        K.WAAGENT_LOG,
        True,
    )
    assert walked.contents["waagent.log.1.gz"] == LOG * 5


def test_single_xml_and_other_text(tmp_path: Path) -> None:
    assert walk_data(GOAL_STATE, "GoalState.3.xml").members[0].kind == K.GOAL_STATE
    walked = walk_data(b"hello\n", "notes.txt")
    assert [(m.provenance, m.kind) for m in walked.members] == [("notes.txt", K.OTHER)]
    assert walked.contents["notes.txt"] == b"hello\n"


def test_single_xz_file_is_decompressed() -> None:
    walked = walk_data(lzma.compress(LOG), "waagent.log.xz")
    [member] = walked.members
    assert member.compressed
    assert walked.contents["waagent.log.xz"] == LOG


def test_tgz_containing_logs_zip_containing_history_zip() -> None:
    data = tgz_bytes(
        [
            ("case-1234/var/log/waagent.log", LOG),
            ("case-1234/var/lib/waagent/logcollector/logs.zip", collector_zip()),
        ]
    )
    walked = walk_data(data, "case.tgz")
    logs = "case.tgz!case-1234/var/lib/waagent/logcollector/logs.zip"
    goal = walked.by_prov(f"{logs}!{HISTORY}.zip!GoalState.xml")
    assert (goal.logical_path, goal.kind, goal.depth) == (
        f"{HISTORY}/GoalState.xml",
        K.GOAL_STATE,
        2,
    )
    assert walked.contents[goal.provenance] == GOAL_STATE
    inner_log = walked.by_prov(f"{logs}!var/log/waagent.log")
    assert (inner_log.logical_path, inner_log.depth) == ("var/log/waagent.log", 1)
    assert walked.by_prov(logs).kind == K.ARCHIVE
    assert len(walked.members) == 2 + 16
    assert walked.problems == []


def test_tar_xz() -> None:
    data = tar_bytes([("var/log/waagent.log", LOG), ("var/log/waagent.log.1", LOG)], "w:xz")
    walked = walk_data(data, "case.tar.xz")
    assert walked.provenances == [
        "case.tar.xz!var/log/waagent.log",
        "case.tar.xz!var/log/waagent.log.1",
    ]
    assert walked.contents["case.tar.xz!var/log/waagent.log.1"] == LOG


def test_nested_tgz_inside_zip() -> None:
    inner = tgz_bytes([("var/log/waagent.log", LOG)])
    walked = walk_data(zip_bytes([("upload/case.tgz", inner)]), "upload.zip")
    member = walked.by_prov("upload.zip!upload/case.tgz!var/log/waagent.log")
    assert (member.logical_path, member.depth) == ("var/log/waagent.log", 1)
    assert walked.contents[member.provenance] == LOG


def test_archive_names_lie_content_decides(tmp_path: Path) -> None:
    # A zip named .tgz is read as a zip; a text file named .tgz is a single plain file.
    walked = walk_data(zip_bytes([("var/log/waagent.log", LOG)]), "case.tgz")
    assert walked.provenances == ["case.tgz!var/log/waagent.log"]
    walked = walk_data(LOG, "case.tgz")
    # Its name says archive, its content does not: not an archive; its lines say it is the
    # agent's log.
    assert [(m.provenance, m.kind) for m in walked.members] == [("case.tgz", K.WAAGENT_LOG)]
    assert walked.problems == []


def test_empty_tar_yields_nothing() -> None:
    walked = walk_data(tar_bytes([]), "empty.tar")
    assert walked.members == [] and walked.problems == []


def test_zero_byte_input_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(InputRejected, match=r"^empty\.tgz: empty input$"):
        walk_data(b"", "empty.tgz")
    path = tmp_path / "empty.log"
    path.write_bytes(b"")
    with pytest.raises(InputRejected, match="empty input"):
        walk_path(path)


def test_member_stream_api() -> None:
    data = tgz_bytes([("var/log/waagent.log", LOG * 3)])
    from analyzer.bundle import walk_bytes
    from analyzer.settings import Limits

    for member in walk_bytes(data, "c.tgz", Limits(), []):
        with member.open() as stream:
            assert stream.readline() == LOG
            assert stream.readline(10) == LOG[:10]
            assert stream.read(5) == LOG[10:15]
            assert stream.read() == LOG[15:] + LOG
            assert stream.read() == b""


def test_content_bytes_are_delivered_untouched() -> None:
    body = b"a\r\nb\x00\x00c\rd\n\xff\xfe"
    walked = walk_data(tgz_bytes([("var/log/waagent.log", body)]), "c.tgz")
    assert walked.contents["c.tgz!var/log/waagent.log"] == body
