"""analyzer.parse.conf: waagent.conf as the agent reads it, and vmbackup.conf."""

from __future__ import annotations

import pytest

from analyzer.parse.conf import effective_waagent_conf, parse_vmbackup_conf, parse_waagent_conf
from analyzer.parse.errors import ParseError


def test_upstream_waagent_conf(data) -> None:
    rows = parse_waagent_conf(data("walinuxagent/config/waagent.conf"), "etc/waagent.conf")
    by_key = {r.key: r for r in rows}
    assert len(rows) == 29  # commented-out defaults (#HttpProxy.Host=None ...) are not rows
    assert by_key["Extensions.Enabled"].value == "y"
    assert by_key["Extensions.Enabled"].line == 7
    assert by_key["Logs.Verbose"].value == "n"
    assert by_key["ResourceDisk.MountOptions"].value == "None"
    assert all(r.source_kind == "waagent_conf" and r.member == "etc/waagent.conf" for r in rows)
    effective = effective_waagent_conf(rows)
    assert effective["Extensions.Enabled"] == "y"
    assert effective["Logs.Verbose"] == "n"
    assert effective["AutoUpdate.Enabled"] == "y"  # not in the file: agent default
    assert effective["AutoUpdate.UpdateToLatestVersion"] == "y"
    assert effective["HttpProxy.Host"] is None
    assert effective["HttpProxy.Port"] is None
    assert effective["OS.EnableFirewall"] == "y"
    assert effective["Protocol.EndpointDiscovery"] == "dhcp"
    assert effective["ResourceDisk.MountOptions"] is None


CUSTOM = b"""\
# customer edits
Extensions.Enabled=y
Logs.Verbose = "y"   # temporary
AutoUpdate.Enabled=n
Extensions.Enabled=n
HttpProxy.Host=http://bob:Sup3rS3cret@proxy.corp
HttpProxy.Port=3128
OS.EnableFirewall=yes
not a setting
=novalue
Weird Key=1
"""


def test_duplicates_comments_quotes_and_secrets() -> None:
    rows = parse_waagent_conf(CUSTOM, "etc/waagent.conf")
    assert [(r.key, r.line) for r in rows] == [
        ("Extensions.Enabled", 2),
        ("Logs.Verbose", 3),
        ("AutoUpdate.Enabled", 4),
        ("Extensions.Enabled", 5),
        ("HttpProxy.Host", 6),
        ("HttpProxy.Port", 7),
        ("OS.EnableFirewall", 8),
    ]
    assert rows[1].value == "y"  # quotes and the inline comment are gone
    assert "Sup3rS3cret" not in repr(rows)
    effective = effective_waagent_conf(rows)
    assert effective["Extensions.Enabled"] == "n"  # the later line wins
    assert effective["Logs.Verbose"] == "y"
    assert effective["AutoUpdate.Enabled"] == "n"
    # UpdateToLatestVersion absent: follows AutoUpdate.Enabled
    assert effective["AutoUpdate.UpdateToLatestVersion"] == "n"
    assert effective["HttpProxy.Port"] == "3128"
    assert effective["HttpProxy.Host"] == "http://<redacted>@proxy.corp"
    # the agent reads switches as y/n only; "yes" falls back to the default (n)
    assert effective["OS.EnableFirewall"] == "n"


def test_update_to_latest_overrides_auto_update() -> None:
    rows = parse_waagent_conf(
        b"AutoUpdate.Enabled=n\nAutoUpdate.UpdateToLatestVersion=Y\n", "etc/waagent.conf"
    )
    effective = effective_waagent_conf(rows)
    assert (effective["AutoUpdate.Enabled"], effective["AutoUpdate.UpdateToLatestVersion"]) == (
        "n",
        "y",
    )


def test_empty_and_binary_conf() -> None:
    assert parse_waagent_conf(b"", "etc/waagent.conf") == []
    assert effective_waagent_conf([])["Extensions.Enabled"] == "y"
    with pytest.raises(ParseError, match="NUL"):
        parse_waagent_conf(b"Extensions.Enabled=y\x00\x00", "etc/waagent.conf")


def test_upstream_vmbackup_conf(data) -> None:
    rows = parse_vmbackup_conf(data("vmbackup/vmbackup.conf"), "etc/azure/vmbackup.conf")
    assert [(r.key, r.value, r.line, r.source_kind) for r in rows] == [
        ("SnapshotThread.fsfreeze", "True", 2, "vmbackup_conf")
    ]


def test_vmbackup_conf_forms() -> None:
    text = b"""\
orphan=1
[SnapshotThread]
; a comment
# another
timeout = 120
SafeFreezeWaitInSeconds=600
MountsToSkip: /mnt/resource, /data
[ Monitor ]
Run = yes
no assignment here
"""
    rows = parse_vmbackup_conf(text, "etc/azure/vmbackup.conf")
    assert [(r.key, r.value, r.line) for r in rows] == [
        ("orphan", "1", 1),
        ("SnapshotThread.timeout", "120", 5),
        ("SnapshotThread.SafeFreezeWaitInSeconds", "600", 6),
        ("SnapshotThread.MountsToSkip", "/mnt/resource, /data", 7),
        ("Monitor.Run", "yes", 9),
    ]
