"""collect(): what goes into bundle.tar.gz, and proof that no planted secret gets out."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
import time
import zipfile
from pathlib import Path

import pytest
from live_fakes import DHCLIENT_WITH_245, write

from analyzer.live.collect import CollectLimits, collect, secret_file_reason
from analyzer.live.commands import format_collect_summary
from analyzer.onvm import collect as collect_module  # the one collector (live/ wraps it)

NOW = 1_750_000_000.0
DAY = 86400.0
LIB = "var/lib/waagent"
SNAP = "Microsoft.Azure.RecoveryServices.VMSnapshotLinux"
HANDLER = f"{LIB}/{SNAP}-1.0.9225.0"

# Every string below is a planted secret: none may appear anywhere in the bundle.
SECRETS = {
    "prv": "PRVKEYMATERIALxK9qv2",
    "crt": "CRTBODYMATERIALq8wJ",
    "pem": "PEMCERTSBODYzT4",
    "transport": "TRANSPORTPRIVATEKEYmN3",
    "p7m": "P7MENVELOPEBYTESr2",
    "pfx": "PFXBUNDLEBYTESu5",
    "certxml": "CERTIFICATESXMLDATAh7",
    "ovf_password": "OvfPassw0rdSECRETe1",
    "custom_data": "CUSTOMDATASECRETc3",
    "remote_password": "REMOTEACCESSPASSWORDa8",
    "ext_protected": "MIIBextensionsConfigPROTECTEDb64AAAA",
    "ext_sig": "EXTCONFIGSASSIGNATUREv0",
    "artifacts_sig": "ARTIFACTSPROFILESIGf6",
    "settings_protected": "MIIBsettingsFilePROTECTEDb64BBBB",
    "settings_logs_sig": "SETTINGSLOGSBLOBSIGk2",
    "log_sig": "WAAGENTLOGSASSIGy4",
    "log_password": "LogLinePassw0rdp9",
    "log_protected": "MIIBlogLinePROTECTEDCCCC",
    "status_sig": "STATUSLOGSBLOBURISIGn1",
    "status_escaped": "ESCAPEDBLOBSASURIw5",
    "handlerstatus_sig": "HANDLERSTATUSSIGd3",
    "gz_sig": "ROTATEDGZLOGSIGg8",
    "ext_log_sig": "EXTENSIONLOGSIGs6",
    "zip_protected": "MIIBhistoryZipPROTECTEDDDDD",
    "zip_cert": "HISTORYZIPCERTBLOBo4",
    "zip_transport": "HISTORYZIPTRANSPORTq2",
    "vmsettings_protected": "MIIBvmSettingsPROTECTEDEEEE",
    "proxy_password": "PROXYPASSWORDz7",
    "outside": "OUTSIDEROOTSECRETl1",
    "selfcheck_sig": "SELFCHECKSIGh5",
}


def _sas(sig: str) -> str:
    return f"https://md-hdd.z11.blob.storage.azure.net/$system/vm.status?sv=2018-03-28&sr=b&sig={sig}&se=2099-01-01&sp=rw"


def _settings(protected: str, logs_sig: str) -> str:
    return json.dumps(
        {
            "runtimeSettings": [
                {
                    "handlerSettings": {
                        "protectedSettingsCertThumbprint": THUMBPRINT,
                        "protectedSettings": protected,
                        "publicSettings": {
                            "commandToExecute": "snapshot",
                            "taskId": "7a1b1a4c-9d3f-4b0e-8a43-7b2b5b9e2c11",
                            "logsBlobUri": _sas(logs_sig),
                        },
                    }
                }
            ]
        }
    )


def _extensions_config(protected: str, sig: str, artifacts_sig: str) -> str:
    handler = {"protectedSettingsCertThumbprint": "F6AB", "protectedSettings": protected}
    runtime = json.dumps({"runtimeSettings": [{"handlerSettings": handler}]})
    return f"""<?xml version="1.0" encoding="utf-8"?>
<Extensions version="1.0.0.0" goalStateIncarnation="3">
  <GuestAgentExtension>
    <GAFamilies><GAFamily><Name>Prod</Name></GAFamily></GAFamilies>
  </GuestAgentExtension>
  <StatusUploadBlob statusBlobType="PageBlob">{_sas(sig)}</StatusUploadBlob>
  <InVMArtifactsProfileBlob>{_sas(artifacts_sig)}</InVMArtifactsProfileBlob>
  <Plugins>
    <Plugin name="{SNAP}" version="1.0.9225.0" state="enabled"
      location="https://umsa.blob.core.windows.net/m/manifest.xml" />
  </Plugins>
  <PluginSettings>
    <Plugin name="{SNAP}" version="1.0.9225.0">
      <RuntimeSettings seqNo="0">{runtime}</RuntimeSettings>
    </Plugin>
  </PluginSettings>
</Extensions>
"""


def _zip(members: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return out.getvalue()


THUMBPRINT = "F6ABAA61098A301EBB8A571C3C7CF77F355F7FA9"
TS = "2024-01-01T00:00:01.000000Z"
PEM = "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n"


@pytest.fixture
def secret_root(tmp_path: Path) -> Path:
    """A VM tree with a secret planted in every place we know of, plus normal files."""
    root = tmp_path / "vm"
    s = SECRETS
    # Certificates and keys: never to be read.
    write(root, f"{LIB}/F6ABAA61098A301EBB8A571C3C7CF77F355F7FA9.prv", PEM.format(s["prv"]))
    write(root, f"{LIB}/F6ABAA61098A301EBB8A571C3C7CF77F355F7FA9.crt", s["crt"])
    write(root, f"{LIB}/Certificates.pem", s["pem"])
    write(root, f"{LIB}/TransportPrivate.pem", PEM.format(s["transport"]))
    write(root, f"{LIB}/TransportCert.pem", s["transport"] + "cert")
    write(root, f"{LIB}/Certificates.p7m", s["p7m"])
    write(root, f"{LIB}/Certificates.pfx", b"\x30\x82" + s["pfx"].encode())
    write(
        root,
        f"{LIB}/Certificates.xml",
        f"<CertificateFile><Data>{s['certxml']}</Data></CertificateFile>",
    )
    write(
        root,
        f"{LIB}/ovf-env.xml",
        "<ns0:Environment><ns1:LinuxProvisioningConfigurationSet>"
        f"<ns1:UserName>azureuser</ns1:UserName><ns1:UserPassword>{s['ovf_password']}</ns1:UserPassword>"
        f"<ns1:CustomData>{s['custom_data']}</ns1:CustomData>"
        "</ns1:LinuxProvisioningConfigurationSet></ns0:Environment>",
    )
    write(root, f"{LIB}/CustomData", s["custom_data"])
    write(
        root,
        f"{LIB}/RemoteAccess.3.xml",
        f"<RemoteAccess><Accounts><Account><Name>jit</Name><Password>{s['remote_password']}</Password></Account></Accounts></RemoteAccess>",
    )
    # Goal state documents.
    write(root, f"{LIB}/GoalState.3.xml", "<GoalState><Incarnation>3</Incarnation></GoalState>")
    write(
        root,
        f"{LIB}/ExtensionsConfig.3.xml",
        _extensions_config(s["ext_protected"], s["ext_sig"], s["artifacts_sig"]),
    )
    write(
        root,
        f"{LIB}/VmSettings.3.json",
        json.dumps(
            {
                "extensionGoalStates": [
                    {"name": SNAP, "settings": [{"protectedSettings": s["vmsettings_protected"]}]}
                ]
            }
        ),
    )
    write(
        root,
        f"{LIB}/waagent_status.json",
        json.dumps(
            {"aggregateStatus": {"guestAgentStatus": {"version": "2.9.1.1", "status": "Ready"}}}
        ),
    )
    write(root, f"{LIB}/error.json", '{"last_failure": 0, "failure_count": 0, "was_fatal": false}')
    # Goal-state history zip (an old agent kept raw copies).
    write(
        root,
        f"{LIB}/history/2024-01-01T00-00-00__2.zip",
        _zip(
            {
                "GoalState.xml": "<GoalState><Incarnation>2</Incarnation></GoalState>",
                "ExtensionsConfig.xml": _extensions_config(
                    s["zip_protected"], "ZIPSIGAAAA1111", "ZIPSIGBBBB2222"
                ),
                "Certificates.xml": f"<Data>{s['zip_cert']}</Data>",
                "TransportPrivate.pem": PEM.format(s["zip_transport"]),
                "waagent_status.json": '{"version": "1.1"}',
            }
        ),
        mtime=NOW - 2 * DAY,
    )
    # Handler directory.
    write(
        root,
        f"{HANDLER}/config/0.settings",
        _settings(s["settings_protected"], s["settings_logs_sig"]),
    )
    write(root, f"{HANDLER}/config/HandlerState", "Enabled")
    write(
        root,
        f"{HANDLER}/config/HandlerStatus",
        json.dumps(
            {
                "name": SNAP,
                "version": "1.0.9225.0",
                "status": "Ready",
                "message": f"uploaded to {_sas(s['handlerstatus_sig'])}",
            }
        ),
    )
    escaped = f'snapshot ok {{\\"blobSASUri\\": \\"{s["status_escaped"]}\\"}}'
    write(
        root,
        f"{HANDLER}/status/0.status",
        json.dumps(
            [
                {
                    "version": 1.0,
                    "status": {
                        "name": SNAP,
                        "operation": "Enable",
                        "status": "success",
                        "code": 1,
                        "formattedMessage": {
                            "lang": "en-US",
                            "message": escaped,
                        },
                        "logsBlobUri": _sas(s["status_sig"]),
                    },
                }
            ]
        ),
    )
    # Logs.
    write(
        root,
        "var/log/waagent.log",
        "2024-01-01T00:00:00.000000Z INFO Daemon Azure Linux Agent Version: 2.9.1.1\n"
        f"{TS} ERROR ExtHandler ExtHandler [HTTP Failed] PUT {_sas(s['log_sig'])} -- IOError\n"
        f"{TS} INFO ExtHandler ExtHandler admin password={s['log_password']} set\n"
        f'{TS} INFO ExtHandler settings: {{"protectedSettings": "{s["log_protected"]}"}}\n',
        mtime=NOW - 60,
    )
    write(
        root,
        "var/log/waagent.log.1.gz",
        gzip.compress(
            f"2023-12-31T00:00:00.000000Z INFO ExtHandler GET {_sas(s['gz_sig'])}\n".encode()
        ),
        mtime=NOW - 3 * DAY,
    )
    write(
        root,
        f"var/log/azure/{SNAP}/extension.log",
        f"2024-01-01 00:00:00.000000 [{SNAP}-1.0] blobSASUri: {_sas(s['ext_log_sig'])}\n",
    )
    write(root, f"var/log/azure/{SNAP}/CommandExecution.log", "2024-01-01T00:00:00Z INFO ok\n")
    # Config.
    write(
        root,
        "etc/waagent.conf",
        f"Extensions.Enabled=y\nHttpProxy.Host=http://user:{s['proxy_password']}@proxy.corp\n",
    )
    write(root, "etc/os-release", 'NAME="Ubuntu"\nVERSION_ID="22.04"\n')
    write(root, "etc/azure/vmbackup.conf", "[SnapshotThread]\nisanysnapshotfailed = False\n")
    write(root, "var/lib/dhcp/dhclient.eth0.leases", DHCLIENT_WITH_245)
    # A file outside the root that a symlink inside points to.
    outside = write(tmp_path, "outside/shadow", s["outside"])
    os.symlink(outside, root / f"var/log/azure/{SNAP}/linked.log")
    os.symlink(outside.parent, root / "var/log/azure/evil")
    return root


def _self_check() -> bytes:
    return json.dumps(
        {"schema": "x", "note": f"checked {_sas(SECRETS['selfcheck_sig'])}", "conf": {"a": "b"}}
    ).encode()


def _all_contents(bundle: Path) -> dict[str, bytes]:
    """Every stored file, with .gz members decompressed and .zip members expanded."""
    contents: dict[str, bytes] = {}
    with tarfile.open(bundle, "r:gz") as tar:
        for member in tar:
            assert member.isreg(), member.name
            handle = tar.extractfile(member)
            assert handle is not None
            data = handle.read()
            contents[member.name] = data
            if member.name.endswith(".gz"):
                contents[member.name + "!"] = gzip.decompress(data)
            if member.name.endswith(".zip"):
                with zipfile.ZipFile(io.BytesIO(data)) as archive:
                    for name in archive.namelist():
                        contents[f"{member.name}!{name}"] = archive.read(name)
    return contents


def test_no_planted_secret_survives(secret_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    summary = collect(secret_root, out, since_days=None, self_check_json=_self_check(), now=NOW)
    bundle = out / "bundle.tar.gz"
    assert summary.output == bundle and bundle.is_file()

    contents = _all_contents(bundle)
    raw_tar = gzip.decompress(bundle.read_bytes())
    listing = format_collect_summary(summary)
    for label, secret in SECRETS.items():
        needle = secret.encode()
        assert needle not in raw_tar, f"{label} in the tar stream"
        for name, data in contents.items():
            assert needle not in data, f"{label} survived in {name}"
        assert secret not in listing, f"{label} in the printed summary"

    names = set(contents)
    # Certificates, keys, provisioning data and JIT accounts are absent, also inside zips.
    for name in names:
        base = name.rsplit("!", 1)[-1].rsplit("/", 1)[-1]
        assert not base.endswith((".prv", ".pem", ".crt", ".p7m", ".pfx")), name
        assert base not in ("Certificates.xml", "ovf-env.xml", "CustomData", "TransportPrivate.pem")
        assert not base.startswith("RemoteAccess"), name
        assert "shadow" not in name and "evil" not in name and "linked" not in name

    # The normal files are present, named relative to the root.
    expected = {
        "etc/waagent.conf",
        "etc/os-release",
        "etc/azure/vmbackup.conf",
        f"{LIB}/GoalState.3.xml",
        f"{LIB}/ExtensionsConfig.3.xml",
        f"{LIB}/VmSettings.3.json",
        f"{LIB}/waagent_status.json",
        f"{LIB}/error.json",
        f"{LIB}/history/2024-01-01T00-00-00__2.zip",
        f"{HANDLER}/config/0.settings",
        f"{HANDLER}/config/HandlerState",
        f"{HANDLER}/config/HandlerStatus",
        f"{HANDLER}/status/0.status",
        "var/log/waagent.log",
        "var/log/waagent.log.1.gz",
        f"var/log/azure/{SNAP}/extension.log",
        f"var/log/azure/{SNAP}/CommandExecution.log",
        "var/lib/dhcp/dhclient.eth0.leases",
        "self-check.json",
    }
    assert expected <= names
    zip_names = {n.split("!", 1)[1] for n in names if n.startswith(f"{LIB}/history/") and "!" in n}
    assert zip_names == {"GoalState.xml", "ExtensionsConfig.xml", "waagent_status.json"}

    # Useful content is still there: protectedSettings gone, the thumbprint and task kept.
    settings = json.loads(contents[f"{HANDLER}/config/0.settings"])
    handler = settings["runtimeSettings"][0]["handlerSettings"]
    assert "protectedSettings" not in handler
    assert handler["protectedSettingsCertThumbprint"].startswith("F6AB")
    assert handler["publicSettings"]["taskId"].startswith("7a1b1a4c")
    assert b"Azure Linux Agent Version: 2.9.1.1" in contents["var/log/waagent.log"]
    assert b"md-hdd.z11.blob.storage.azure.net" in contents[f"{LIB}/ExtensionsConfig.3.xml"]
    assert b"option unknown-245 a8:3f:81:10;" in contents["var/lib/dhcp/dhclient.eth0.leases"]
    assert json.loads(contents["self-check.json"])["conf"] == {"a": "b"}

    skipped = {entry.path: entry.detail for entry in summary.skipped}
    assert "secret" in skipped[f"{LIB}/ovf-env.xml"]
    assert "secret" in skipped[f"{LIB}/Certificates.xml"]
    assert "symbolic link" in skipped[f"var/log/azure/{SNAP}/linked.log"]
    redacted = {entry.path: entry.detail for entry in summary.redacted}
    assert "protectedSettings removed" in redacted[f"{HANDLER}/config/0.settings"]
    assert "protectedSettings removed" in redacted[f"{LIB}/ExtensionsConfig.3.xml"]
    assert "Certificates.xml left out" in redacted[f"{LIB}/history/2024-01-01T00-00-00__2.zip"]


def test_tar_headers_are_deterministic(secret_root: Path, tmp_path: Path) -> None:
    first = tmp_path / "a.tar.gz"
    second = tmp_path / "b.tar.gz"
    collect(secret_root, first, since_days=None, self_check_json=_self_check(), now=NOW)
    collect(secret_root, second, since_days=None, self_check_json=_self_check(), now=NOW)
    assert first.read_bytes() == second.read_bytes()
    with tarfile.open(first, "r:gz") as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names)
    for member in members:
        assert not member.name.startswith(("/", "./")) and ".." not in member.name.split("/")
        assert (member.uid, member.gid, member.uname, member.gname) == (0, 0, "", "")
        assert member.mode == 0o644 and member.isreg()
    self_check = next(m for m in members if m.name == "self-check.json")
    assert self_check.mtime == int(NOW)


def test_fail_closed_when_redaction_misses(
    secret_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the redactor ever lets a SAS signature through, the file is dropped, not shipped."""
    from analyzer import redact

    monkeypatch.setattr(redact, "redact_text", lambda s: s)
    monkeypatch.setattr(redact, "redact_obj", lambda o: o)
    out = tmp_path / "bundle.tar.gz"
    summary = collect(secret_root, out, since_days=None, self_check_json=None, now=NOW)
    contents = _all_contents(out)
    for label in ("log_sig", "ext_sig", "settings_logs_sig", "status_sig", "gz_sig"):
        assert all(SECRETS[label].encode() not in data for data in contents.values()), label
    skipped = {entry.path: entry.detail for entry in summary.skipped}
    assert "still visible" in skipped["var/log/waagent.log"]
    assert "etc/os-release" in contents  # clean files still go in


def test_since_filters_rotated_logs_only(tmp_path: Path) -> None:
    root = tmp_path / "vm"
    write(root, "var/log/waagent.log", "current\n", mtime=NOW - 30 * DAY)
    write(root, "var/log/waagent.log.1", "recent rotation\n", mtime=NOW - 1 * DAY)
    write(root, "var/log/waagent.log.2.gz", gzip.compress(b"old\n"), mtime=NOW - 10 * DAY)
    write(root, f"var/log/azure/{SNAP}/extension.log", "ext current\n", mtime=NOW - 30 * DAY)
    write(root, f"var/log/azure/{SNAP}/extension.log.1", "ext old\n", mtime=NOW - 10 * DAY)
    write(
        root,
        f"{LIB}/history/2024-01-01T00-00-00__1.zip",
        _zip({"a.xml": "<a/>"}),
        mtime=NOW - 20 * DAY,
    )
    out = tmp_path / "b.tar.gz"
    summary = collect(root, out, since_days=7, self_check_json=None, now=NOW)
    included = {e.path for e in summary.included}
    assert included == {
        "var/log/waagent.log",
        "var/log/waagent.log.1",
        f"var/log/azure/{SNAP}/extension.log",
    }
    reasons = {e.path: e.detail for e in summary.skipped}
    assert reasons["var/log/waagent.log.2.gz"] == "older than 7 days (--since)"
    assert reasons[f"var/log/azure/{SNAP}/extension.log.1"] == "older than 7 days (--since)"
    everything = collect(
        root, tmp_path / "c.tar.gz", since_days=None, self_check_json=None, now=NOW
    )
    assert len(everything.included) == 6


def test_size_caps(tmp_path: Path) -> None:
    root = tmp_path / "vm"
    lines = "".join(f"2024-01-01T00:00:{i % 60:02d}.000000Z INFO line {i}\n" for i in range(200))
    write(root, "var/log/waagent.log", lines)
    write(root, f"{HANDLER}/status/0.status", json.dumps({"pad": "x" * 5000}))
    write(root, "var/log/waagent.log.1.gz", gzip.compress(lines.encode()))
    limits = CollectLimits(max_file_bytes=1024, max_total_bytes=10_000)
    out = tmp_path / "b.tar.gz"
    summary = collect(root, out, since_days=None, self_check_json=None, limits=limits, now=NOW)
    contents = _all_contents(out)
    log = contents["var/log/waagent.log"]
    assert len(log) <= 1024 and log.endswith(b"INFO line 199\n")
    assert log.startswith(b"2024-01-01T")  # the cut first line was dropped
    assert gzip.decompress(contents["var/log/waagent.log.1.gz"]).endswith(b"INFO line 199\n")
    reasons = {e.path: e.detail for e in summary.skipped}
    assert reasons[f"{HANDLER}/status/0.status"].startswith("too big")
    details = {e.path: e.detail for e in summary.included}
    assert details["var/log/waagent.log"].startswith("last ")


def test_total_budget_prefers_current_files(tmp_path: Path) -> None:
    root = tmp_path / "vm"
    write(root, "etc/waagent.conf", "Logs.Verbose=y\n")
    write(root, "var/log/waagent.log", "a" * 600 + "\n", mtime=NOW)
    write(root, "var/log/waagent.log.1", "b" * 600 + "\n", mtime=NOW - 10)
    limits = CollectLimits(max_total_bytes=1000)
    summary = collect(
        root, tmp_path / "b.tar.gz", since_days=None, self_check_json=None, limits=limits, now=NOW
    )
    assert {e.path for e in summary.included} == {"etc/waagent.conf", "var/log/waagent.log"}
    assert {e.path: e.detail for e in summary.skipped}[
        "var/log/waagent.log.1"
    ] == "archive size limit reached"


def test_special_files_binaries_and_links(tmp_path: Path) -> None:
    root = tmp_path / "vm"
    ext = root / "var/log/azure" / SNAP
    write(root, f"var/log/azure/{SNAP}/extension.log", "ok\n")
    os.mkfifo(ext / "pipe.log")  # reading it would block forever
    write(root, f"var/log/azure/{SNAP}/core.bin", b"\x7fELF\x00\x00\x01")
    write(root, f"var/log/azure/{SNAP}/old.log.xz", b"\xfd7zXZ\x00")
    # A directory symlink in the middle of a pattern and a symlinked root-level directory.
    target = tmp_path / "elsewhere"
    write(target, "x/secret.log", SECRETS["outside"])
    os.symlink(target, root / "var/log/azure/linkdir")
    os.symlink(target / "x/secret.log", root / "var/log/waagent.log")
    start = time.monotonic()
    out = tmp_path / "b.tar.gz"
    summary = collect(root, out, since_days=None, self_check_json=None, now=NOW)
    assert time.monotonic() - start < 5
    reasons = {e.path: e.detail for e in summary.skipped}
    assert reasons[f"var/log/azure/{SNAP}/pipe.log"] == "named pipe (not read)"
    assert "binary" in reasons[f"var/log/azure/{SNAP}/core.bin"]
    assert "archive" in reasons[f"var/log/azure/{SNAP}/old.log.xz"]
    assert "symbolic link" in reasons["var/log/azure/linkdir"]
    assert "symbolic link" in reasons["var/log/waagent.log"]
    contents = _all_contents(out)
    assert set(contents) == {f"var/log/azure/{SNAP}/extension.log"}


def test_symlink_swapped_in_after_listing_is_not_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """O_NOFOLLOW at open time: a file replaced by a link between listing and reading."""
    root = tmp_path / "vm"
    log = write(root, "var/log/waagent.log", "fine\n")
    secret = write(tmp_path, "secret.txt", SECRETS["outside"])
    real_open = collect_module._Tree.open

    def swap_then_open(self: collect_module._Tree, path: str) -> int:
        if path == "var/log/waagent.log" and not log.is_symlink():
            log.unlink()
            os.symlink(secret, log)
        return real_open(self, path)

    monkeypatch.setattr(collect_module._Tree, "open", swap_then_open)
    out = tmp_path / "b.tar.gz"
    summary = collect(root, out, since_days=None, self_check_json=None, now=NOW)
    assert _all_contents(out) == {}
    assert "symbolic link" in {e.path: e.detail for e in summary.skipped}["var/log/waagent.log"]


def test_summary_escapes_control_characters(tmp_path: Path) -> None:
    root = tmp_path / "vm"
    evil = "evil\x1b[2J\u202etxt.log"
    write(root, f"var/log/azure/{SNAP}/{evil}", "x\n")
    summary = collect(root, tmp_path / "b.tar.gz", since_days=None, self_check_json=None, now=NOW)
    text = format_collect_summary(summary)
    assert "\x1b" not in text and "\u202e" not in text
    assert "evil\\x1b[2J\\u202etxt.log" in text
    assert "Included (1):" in text and "Left out (0):" in text


def test_nothing_on_the_vm_changes(secret_root: Path, tmp_path: Path) -> None:
    def snapshot() -> dict[str, tuple[int, float]]:
        return {
            str(p.relative_to(secret_root)): (p.lstat().st_mode, p.lstat().st_mtime)
            for p in secret_root.rglob("*")
        }

    before = snapshot()
    collect(secret_root, tmp_path / "b.tar.gz", since_days=None, self_check_json=None, now=NOW)
    assert snapshot() == before


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("ABC.prv", True),
        ("abc.PEM", True),
        ("x.crt", True),
        ("Certificates.p7m", True),
        ("Certificates.pfx", True),
        ("Certificates.xml", True),
        ("TransportPrivate.pem", True),
        ("ovf-env.xml", True),
        ("CustomData", True),
        ("RemoteAccess.3.xml", True),
        ("GoalState.3.xml", False),
        ("ExtensionsConfig.3.xml", False),
        ("0.settings", False),
    ],
)
def test_secret_file_names(name: str, secret: bool) -> None:
    assert (secret_file_reason(name) is not None) is secret


def test_unreadable_files_are_listed_not_fatal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As non-root some files raise PermissionError: they are listed and collection goes on."""
    root = tmp_path / "vm"
    write(root, "var/log/waagent.log", "ok\n")
    write(root, f"{HANDLER}/config/0.settings", "{}")
    real_open = collect_module._Tree.open

    def deny(self: collect_module._Tree, path: str) -> int:
        if path.endswith(".settings"):
            raise PermissionError(13, "Permission denied")
        return real_open(self, path)

    monkeypatch.setattr(collect_module._Tree, "open", deny)
    summary = collect(root, tmp_path / "b.tar.gz", since_days=None, self_check_json=None, now=NOW)
    assert {e.path: e.detail for e in summary.skipped} == {
        f"{HANDLER}/config/0.settings": "Permission denied"
    }
    assert [e.path for e in summary.included] == ["var/log/waagent.log"]
