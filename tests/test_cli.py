"""The command line as a user runs it: exit codes, the JSON contract, table exports."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest

REPO = Path(__file__).resolve().parents[1]
FAIL = (
    "WARNING ExtHandler ExtHandler Fetch failed: [HttpError] [HTTP Failed] GET "
    "http://168.63.129.16/machine/?comp=goalstate -- IOError timed out -- 6 attempts made"
)
HOSTILE = '\x1b]0;pwned\x07 =HYPERLINK("http://evil.example") sig=FAKESECRET'


def run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "analyzer", *args],
        cwd=cwd,
        text=True,
        capture_output=True,
        timeout=120,
    )


def make_bundle(tmp_path: Path, lines: list[str], name: str = "case.tgz") -> Path:
    log = "".join(f"2024-02-01T10:{i:02d}:00.000000Z {line}\n" for i, line in enumerate(lines))
    files = {
        "case-42/var/log/waagent.log": log.encode(),
        "case-42/etc/waagent.conf": b"Extensions.Enabled=y\nLogs.Verbose=n\n",
        "case-42/var/lib/waagent/ExtensionsConfig.3.xml": (
            b'<Extensions goalStateIncarnation="3"><Plugins><Plugin name="Microsoft.Azure.'
            b'RecoveryServices.VMSnapshotLinux" version="1.0.9225.0" state="enabled"/>'
            b"</Plugins></Extensions>"
        ),
    }
    path = tmp_path / name
    with tarfile.open(path, "w:gz") as archive:
        for member, data in files.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture()
def broken(tmp_path: Path) -> Path:
    hostile_failure = FAIL.replace("IOError timed out", f"IOError {HOSTILE}")
    return make_bundle(
        tmp_path, ["INFO ExtHandler ExtHandler start"] + [FAIL] * 5 + [hostile_failure]
    )


@pytest.fixture()
def healthy(tmp_path: Path) -> Path:
    return make_bundle(
        tmp_path,
        ["INFO ExtHandler ExtHandler ProcessExtensionsGoalState completed [incarnation_3 120 ms]"],
        "healthy.tgz",
    )


def test_json_contract_and_exit_code(broken: Path) -> None:
    result = run("analyze", str(broken), "--format", "json")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["schema"] == "waagent-analyzer/report/v1"
    assert set(report) == {"schema", "tool", "bundle", "findings", "summary", "coverage"}
    assert set(report["bundle"]) == {
        "source",
        "sha256",
        "collected_at",
        "collected_at_source",
        "time_range",
        "agent",
        "extensions",
        "files",
        "problems",
    }
    net = next(f for f in report["findings"] if f["rule"] == "WAA-NET-001")
    assert net["severity"] == "critical" and net["category"] == "network"
    assert net["evidence"][0] == {
        "member": "case.tgz!case-42/var/log/waagent.log",
        "line": 2,
        "timestamp": "2024-02-01T10:01:00Z",
        "text": FAIL,
        "repeats": net["evidence"][0]["repeats"],
    }
    assert report["summary"]["worst_severity"] == "critical"
    assert report["bundle"]["collected_at"] == "2024-02-01T10:06:00Z"
    extensions = {e["name"]: e["version"] for e in report["bundle"]["extensions"]}
    assert extensions["Microsoft.Azure.RecoveryServices.VMSnapshotLinux"] == "1.0.9225.0"
    assert "FAKESECRET" not in result.stdout
    assert "\x1b" not in result.stdout


def test_text_report_is_sanitized(broken: Path) -> None:
    result = run("analyze", str(broken), "--lang", "pt-BR")
    assert result.returncode == 1
    assert "WAA-NET-001" in result.stdout
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "\\x1b]0;pwned\\x07" in result.stdout
    assert "FAKESECRET" not in result.stdout


def test_fail_on_threshold(broken: Path, healthy: Path) -> None:
    assert run("analyze", str(broken), "--fail-on", "never").returncode == 0
    assert run("analyze", str(healthy)).returncode == 0


def test_param_override_and_explain(broken: Path) -> None:
    result = run(
        "analyze", str(broken), "--param", "WAA-NET-001.min_count=50", "--explain", "WAA-NET-001"
    )
    assert "did not fire" in result.stdout
    assert "6 matching records, needed 50" in result.stdout
    fired = run("analyze", str(broken), "--explain", "WAA-NET-001")
    assert "FIRED" in fired.stdout and "check wire_failure: true" in fired.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["analyze", "/no/such/bundle"],
        ["analyze", "README.md", "--format", "pdf"],
        ["analyze", "README.md", "--param", "nonsense"],
        ["analyze", "README.md", "--lang", "fr"],
        ["analyze", "README.md", "--explain", "NOPE-1"],
        ["rules", "show", "NOPE-1"],
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    assert run(*args).returncode == 2


def test_rejected_input_exits_3(tmp_path: Path) -> None:
    empty = tmp_path / "empty.tgz"
    empty.write_bytes(b"")
    result = run("analyze", str(empty))
    assert result.returncode == 3
    assert "empty.tgz" in result.stderr and "empty input" in result.stderr


def test_rules_validate_reports_every_error(tmp_path: Path) -> None:
    (tmp_path / "X-1.toml").write_text('id = "X-1"\ncategory = "nope"\n', encoding="utf-8")
    result = run("rules", "validate", str(tmp_path))
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert any(
        line.startswith(f"{tmp_path / 'X-1.toml'}:1:1: missing required key 'title'")
        for line in lines
    )
    assert run("rules", "validate", str(REPO / "rules" / "network")).returncode == 0


def test_rules_list_and_test(tmp_path: Path) -> None:
    listed = run("rules", "list")
    assert listed.returncode == 0 and "WAA-NET-001" in listed.stdout
    rule_file = REPO / "rules" / "network" / "WAA-NET-001.toml"
    tested = run("rules", "test", str(rule_file))
    assert tested.returncode == 0
    cases = rule_file.read_text(encoding="utf-8").count("\n[[tests]]")
    assert cases >= 4 and tested.stdout.strip().endswith(f"{cases} passed, 0 failed")


def test_parse_tables_in_every_format(broken: Path, tmp_path: Path) -> None:
    result = run("parse", str(broken), "--table", "records", "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 7
    assert rows[1]["level"] == "WARNING" and rows[1]["line"] == "2"
    assert "\\x1b]0;pwned\\x07" in rows[6]["message"]  # escaped, never a live control
    assert "\x1b" not in result.stdout and "FAKESECRET" not in result.stdout
    json_rows = json.loads(
        run("parse", str(broken), "--table", "config", "--format", "json").stdout
    )
    assert {
        "source_kind": "waagent_conf",
        "key": "Extensions.Enabled",
        "value": "y",
        "member": "case.tgz!case-42/etc/waagent.conf",
        "line": 1,
    } in json_rows
    target = tmp_path / "ext.parquet"
    done = run(
        "parse",
        str(broken),
        "--table",
        "extensions",
        "--format",
        "parquet",
        "--output",
        str(target),
    )
    assert done.returncode == 0, done.stderr
    table = pq.read_table(target).to_pylist()
    assert table[0]["name"] == "Microsoft.Azure.RecoveryServices.VMSnapshotLinux"
    assert table[0]["version"] == "1.0.9225.0"


def test_csv_export_neutralises_formulas(tmp_path: Path) -> None:
    bundle = make_bundle(
        tmp_path, ["ERROR ExtHandler ExtHandler x", "INFO ExtHandler ExtHandler y"]
    )
    result = run("parse", str(bundle), "--table", "files", "--format", "csv")
    assert result.returncode == 0
    log = tmp_path / "f.tgz"
    log.write_bytes(bundle.read_bytes())
    records = run("parse", str(bundle), "--table", "records", "--format", "csv").stdout
    for row in csv.DictReader(io.StringIO(records)):
        assert not row["message"].startswith(("=", "+", "-", "@"))


def test_single_log_file_is_recognised_by_content(tmp_path: Path) -> None:
    log = tmp_path / "ticket-4711.txt"
    log.write_text("".join(f"2024-02-01T10:0{i}:00.000000Z {FAIL}\n" for i in range(8)))
    result = run("analyze", str(log), "--format", "json")
    report = json.loads(result.stdout)
    assert report["bundle"]["files"] == [{"member": "ticket-4711.txt", "kind": "waagent_log",
                                          "size": log.stat().st_size}]
    assert "WAA-NET-001" in {f["rule"] for f in report["findings"]}
