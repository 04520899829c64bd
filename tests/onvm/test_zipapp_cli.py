"""The zipapp's command line under the oldest supported Python (3.6): texts, exit codes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from onvm_fakes import interpreter, make_vm_root

from analyzer.onvm.build import build_spec
from analyzer.onvm.main import sanitize

PY36 = interpreter("3.6.15")


def _root(tmp_path: Path) -> Path:
    root = tmp_path / "vm"
    (root / "var/lib/dhcp").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside/shadow").write_text("x")
    return make_vm_root(root, 9)


def _run(zipapp: Path, *args: str, lang: str = "C.UTF-8") -> subprocess.CompletedProcess[str]:
    assert PY36.is_file(), "Python 3.6 is missing from pyenv"
    return subprocess.run([str(PY36), str(zipapp), *args], capture_output=True, text=True,
                          timeout=60, env={"PATH": "/usr/bin:/bin", "LANG": lang})


def test_text_report_in_portuguese_with_the_rule_pack_remediation(
    zipapp: Path, tmp_path: Path
) -> None:
    done = _run(zipapp, "--root", str(_root(tmp_path)), "--cpu-sample", "0",
                lang="pt_BR.UTF-8")
    assert done.returncode == 1, done.stderr
    spec = {r["id"]: r for r in build_spec()["rules"]}
    out = done.stdout
    assert "Autoverificação do waagent" in out and "Correção:" in out
    first_line = spec["WAA-CONF-001"]["remediation"]["pt-BR"].splitlines()[0]
    assert first_line in out
    assert spec["WAA-CONF-001"]["translations"]["pt-BR"]["title"] in out
    assert spec["WAA-CONF-001"]["title"] not in out
    assert "  FAIL         WAA-CONF-001" in out
    assert "  CANNOT CHECK WAA-NET-006" in out and "execute de novo com --network" in out
    assert "Use --output bundle.tar.gz" in out
    english = _run(zipapp, "--root", str(_root(tmp_path / "en")), "--cpu-sample", "0")
    assert spec["WAA-CONF-001"]["remediation"]["en"].splitlines()[0] in english.stdout
    assert spec["WAA-CONF-001"]["title"] in english.stdout
    assert "not probed: run again with --network" in english.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["--target", "wireserver_80=127.0.0.1"],
        ["--target", "bad name=127.0.0.1:80"],
        ["--proxy", "nohostport:x"],
        ["--lang", "fr"],
        ["--output", "/nonexistent/folder/bundle.tar.gz"],
        ["--fail-on", "urgent"],
        ["--no-such-option"],
    ],
)
def test_usage_errors_exit_2_before_any_work(zipapp: Path, tmp_path: Path, args: list) -> None:
    done = _run(zipapp, "--root", str(tmp_path), *args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "usage error" in done.stderr and done.stdout == ""


def test_root_must_be_a_directory(zipapp: Path, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    done = _run(zipapp, "--root", str(tmp_path / "file"))
    assert done.returncode == 2 and "not a directory" in done.stderr


def test_fail_on_threshold_and_json_keys(zipapp: Path, tmp_path: Path) -> None:
    root = _root(tmp_path)
    # Everything that fails here is critical/medium/info: --fail-on critical still exits 1,
    # and with Extensions.Enabled=y and the agent running only medium/info ones remain.
    (root / "etc/waagent.conf").write_text("Extensions.Enabled=y\nLogs.Verbose=y\n")
    (root / "proc/1040").mkdir()
    (root / "proc/1040/cmdline").write_bytes(
        b"python3\0-u\0bin/WALinuxAgent-2.9.1.1-py3.8.egg\0-run-exthandlers\0")
    done = _run(zipapp, "--root", str(root), "--cpu-sample", "0", "--format", "json",
                "--fail-on", "critical")
    assert done.returncode == 0, done.stdout
    report = json.loads(done.stdout)
    status = {v["rule"]: v["status"] for v in report["verdicts"]}
    assert status["WAA-RUN-004"] == "PASS" and status["WAA-CONF-001"] == "PASS"
    assert status["WAA-RES-004"] == "FAIL"  # medium: below --fail-on critical
    assert report["bundle"] is None
    assert _run(zipapp, "--root", str(root), "--cpu-sample", "0",
                "--fail-on", "medium").returncode == 1


def test_terminal_escapes_are_shown_not_sent() -> None:
    assert sanitize("a\x1b[31mb\u202ec") == "a\\x1b[31mb\\u202ec"


def test_python_2_gets_a_clear_message(zipapp: Path) -> None:
    python2 = Path("/root/.pyenv/versions/2.7.18/bin/python")
    assert python2.is_file()
    done = subprocess.run([str(python2), str(zipapp)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "needs Python 3.6 or newer" in done.stderr
