"""The functions the CLI wraps: target/proxy selection, storage host discovery, formatting."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
from live_fakes import systemd_fake, write

from analyzer.live import commands
from analyzer.live.commands import (
    collect_bundle,
    discover_storage_host,
    format_self_check,
    parse_proxy_url,
    proxy_from_settings,
    sanitize,
    self_check_inputs,
)
from analyzer.live.probes import ProbeResult, Proxy, Target
from analyzer.live.vm_state import LiveFacts

LIB = "var/lib/waagent"


def _ext_config(host: str) -> str:
    return (
        '<Extensions version="1.0.0.0">'
        f'<StatusUploadBlob statusBlobType="PageBlob">https://{host}/$system/x.status'
        "?sv=2018&amp;sig=SIGNATURE123</StatusUploadBlob>"
        '<Plugins><Plugin name="A" location="https://manifests.blob.core.windows.net/m.xml"/>'
        "</Plugins></Extensions>"
    )


def test_discover_storage_host_newest_incarnation(tmp_path: Path) -> None:
    write(tmp_path, f"{LIB}/ExtensionsConfig.2.xml", _ext_config("old.blob.core.windows.net"))
    write(
        tmp_path, f"{LIB}/ExtensionsConfig.10.xml", _ext_config("md-new.z1.blob.storage.azure.net")
    )
    assert discover_storage_host(tmp_path) == "md-new.z1.blob.storage.azure.net"


def test_discover_storage_host_history_and_vmsettings(tmp_path: Path) -> None:
    write(
        tmp_path,
        f"{LIB}/history/2024-01-01T00-00-00__1/ExtensionsConfig.xml",
        _ext_config("first.blob.core.windows.net"),
    )
    write(
        tmp_path,
        f"{LIB}/history/2024-02-01T00-00-00__2/ExtensionsConfig.xml",
        _ext_config("second.blob.core.windows.net"),
    )
    assert discover_storage_host(tmp_path) == "second.blob.core.windows.net"

    other = tmp_path / "other"
    write(
        other,
        f"{LIB}/VmSettings.5.json",
        json.dumps(
            {
                "statusUploadBlob": {
                    "statusBlobType": "BlockBlob",
                    "value": "https://vmset.blob.core.windows.net/c/s?sig=X",
                }
            }
        ),
    )
    assert discover_storage_host(other) == "vmset.blob.core.windows.net"


def test_discover_storage_host_none_and_garbage(tmp_path: Path) -> None:
    assert discover_storage_host(tmp_path) is None
    write(
        tmp_path,
        f"{LIB}/ExtensionsConfig.1.xml",
        "<StatusUploadBlob>https://bad_host!/x</StatusUploadBlob>",
    )
    assert discover_storage_host(tmp_path) is None


def test_proxy_selection() -> None:
    conf = {"HttpProxy.Host": "proxy.corp", "HttpProxy.Port": "3128"}
    assert proxy_from_settings(conf, {"https_proxy": "http://other:1"}) == Proxy("proxy.corp", 3128)
    assert proxy_from_settings({"HttpProxy.Host": "None"}, {}) is None
    env = {"https_proxy": "http://user:pw@envproxy:8080/"}
    assert proxy_from_settings({}, env) == Proxy("envproxy", 8080)
    assert parse_proxy_url("squid:3128") == Proxy("squid", 3128)
    assert parse_proxy_url("http://squid:notaport") is None


def test_default_targets_and_proxy_reach_the_prober(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without overrides the real endpoints are chosen, but here the prober is replaced, so
    nothing is contacted (the loopback guard would fail the test otherwise)."""
    write(tmp_path, "etc/waagent.conf", "HttpProxy.Host=proxy.corp\nHttpProxy.Port=3128\n")
    write(tmp_path, f"{LIB}/ExtensionsConfig.3.xml", _ext_config("md-x.z2.blob.storage.azure.net"))
    seen: dict[str, object] = {}

    def fake_probe(targets: list[Target], proxy: Proxy | None, timeout: float) -> list[ProbeResult]:
        seen.update(targets=targets, proxy=proxy, timeout=timeout)
        return [ProbeResult(t.name, t.host, t.port, "ok", 0.0) for t in targets]

    monkeypatch.setattr(commands, "probe_targets", fake_probe)
    runner, _ = systemd_fake({})
    facts = self_check_inputs(tmp_path, True, sample_seconds=0, systemctl=runner, environ={})
    targets = seen["targets"]
    assert isinstance(targets, list)
    assert [(t.name, t.port, t.use_proxy) for t in targets] == [
        ("wireserver_80", 80, False),
        ("wireserver_32526", 32526, False),
        ("imds_80", 80, False),
        ("storage_443", 443, True),
        ("storage_8443", 8443, True),
    ]
    assert targets[3].host == "md-x.z2.blob.storage.azure.net"
    assert seen["proxy"] == Proxy("proxy.corp", 3128)
    assert facts.proxy == "proxy.corp:3128" and facts.network_probed


def test_collect_bundle_embeds_self_check(tmp_path: Path) -> None:
    root = tmp_path / "vm"
    write(root, "var/log/waagent.log", "2024-01-01T00:00:00.000000Z INFO Daemon hello\n")
    write(root, "etc/waagent.conf", "Extensions.Enabled=n\n")
    runner, _ = systemd_fake({})
    summary, facts = collect_bundle(
        root, tmp_path / "out.tar.gz", sample_seconds=0, systemctl=runner
    )
    assert not facts.network_probed
    with tarfile.open(summary.output, "r:gz") as tar:
        handle = tar.extractfile("self-check.json")
        assert handle is not None
        stored = LiveFacts.from_json(handle.read())
    assert stored.conf["Extensions.Enabled"] == "n"
    assert {e.path for e in summary.included} == {
        "var/log/waagent.log",
        "etc/waagent.conf",
        "self-check.json",
    }


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain/name.log", "plain/name.log"),
        ("a\x1b[31mb", "a\\x1b[31mb"),
        ("line\nbreak\r", "line\\x0abreak\\x0d"),
        ("c1\x9bx", "c1\\x9bx"),
        ("rtl\u202eexe.log", "rtl\\u202eexe.log"),
        ("zw\u200bsp", "zw\\u200bsp"),
        ("bad\udcffbyte", "bad\\udcffbyte"),
        ("back\\slash", "back\\\\slash"),
        ("ünïcode.log", "ünïcode.log"),
    ],
)
def test_sanitize(raw: str, shown: str) -> None:
    assert sanitize(raw) == shown


def test_format_self_check_escapes_unreadable(tmp_path: Path) -> None:
    facts = LiveFacts(root="/", gathered_at="t")
    facts.unreadable = [("/etc/\x1b]0;pwn\x07", "PermissionError: Permission denied")]
    text = format_self_check(facts)
    assert "\x1b" not in text and "\x07" not in text
    assert "agent.running = false" in text
