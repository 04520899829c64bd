"""One implementation per running-VM fact (issue #10): the full tool's ``analyzer/live`` types
and orchestrates what ``analyzer/onvm`` (stdlib, Python 3.6+) reads, probes and collects, and
the bundle parsers read waagent.conf and leases with ``onvm/formats.py``.

The first tests fail when code is written twice again; the others pin the answers that
changed where the two copies used to disagree, in-process and under the VM's oldest Python.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tarfile
from pathlib import Path

import pytest
from onvm_fakes import add_process, interpreter, write

from analyzer.bundle import specs as bundle_specs
from analyzer.live import collect as live_collect
from analyzer.live import probes as live_probes
from analyzer.live import vm_state
from analyzer.live.vm_state import gather_live_facts
from analyzer.onvm import collect as onvm_collect
from analyzer.onvm import facts as onvm_facts
from analyzer.onvm import formats, rows, specs
from analyzer.onvm import probes as onvm_probes
from analyzer.parse import conf as parse_conf
from analyzer.parse import dhcp as parse_dhcp

ANALYZER = Path(__file__).resolve().parents[2] / "analyzer"

# Each full-tool module and the portable module that implements its facts.
PAIRS = [
    ("live/vm_state.py", "onvm/facts.py"),
    ("live/rows.py", "onvm/rows.py"),
    ("live/probes.py", "onvm/probes.py"),
    ("live/commands.py", "onvm/probes.py"),
    ("live/collect.py", "onvm/collect.py"),
    ("bundle/specs.py", "onvm/specs.py"),
    ("parse/conf.py", "onvm/formats.py"),
    ("parse/dhcp.py", "onvm/formats.py"),
    ("parse/text.py", "onvm/formats.py"),
]
RUN = 6


def _code_lines(text: str) -> list[str]:
    """Lines that carry code, stripped; blank lines, comments and lines of bare punctuation
    (closing brackets) do not count, so a copy cannot hide behind new spacing."""
    out = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or not re.search(r"\w", stripped):
            continue
        out.append(re.sub(r"\s+", " ", stripped))
    return out


def shared_runs(a: str, b: str, run: int = RUN) -> list[tuple[str, ...]]:
    """Runs of ``run`` consecutive code lines that stand in both texts."""
    lines_a, lines_b = _code_lines(a), _code_lines(b)
    windows_b = {tuple(lines_b[i:i + run]) for i in range(len(lines_b) - run + 1)}
    return [tuple(lines_a[i:i + run]) for i in range(len(lines_a) - run + 1)
            if tuple(lines_a[i:i + run]) in windows_b]


@pytest.mark.parametrize(("full", "portable"), PAIRS, ids=lambda p: p)
def test_no_fact_is_written_twice(full: str, portable: str) -> None:
    copied = shared_runs((ANALYZER / full).read_text(), (ANALYZER / portable).read_text())
    assert copied == [], f"{full} repeats {portable}: {copied[:1]}"


def test_the_copy_detector_sees_a_copy() -> None:
    """What the guard above would have said of the old live/probes.py (same code, new
    spacing and comments): the detector is not vacuous."""
    portable = (ANALYZER / "onvm/probes.py").read_text()
    body = portable[portable.index("def parse_host_port"):portable.index("def probe_targets")]
    rewritten = "# copied\n" + body.replace("    ", "  ").replace("\n\n", "\n# note\n\n")
    assert shared_runs(rewritten, portable)


def test_full_tool_names_are_the_portable_objects() -> None:
    assert vm_state.classify_cmdline is onvm_facts.classify_cmdline
    assert vm_state.CONF_KEYS is onvm_facts.CONF_KEYS is formats.REPORTED_KEYS
    assert live_probes.NAMED_TARGETS is onvm_probes.NAMED_TARGETS is rows.NAMED_TARGETS
    assert bundle_specs.secret_reason is specs.secret_reason
    assert live_collect.secret_file_reason is onvm_collect.secret_file_reason
    assert onvm_collect.secret_reason is specs.secret_reason
    assert bundle_specs.DHCP_LEASE_GLOBS is onvm_facts.DHCP_LEASE_GLOBS is specs.DHCP_LEASE_GLOBS
    assert parse_dhcp.option_245_to_ip is formats.option_245_to_ip
    assert parse_conf.SWITCH_DEFAULTS is formats.SWITCH_DEFAULTS
    assert live_collect.MANIFEST is onvm_collect.MANIFEST


# -- answers that changed where the copies disagreed ----------------------------------------------

OCTAL_LEASE = 'lease {\n  interface "eth0";\n  option unknown-245 "\\250?\\201\\020";\n}\n'
CONF = (
    "AutoUpdate.Enabled=n\n"
    "$weird key=1\n"
    "OS.RootPassword=Hunter2Hunter2\n"
)


def _vm(tmp_path: Path) -> Path:
    root = tmp_path / "vm"
    write(root, "var/lib/dhcp/dhclient.eth0.leases", OCTAL_LEASE)
    write(root, "etc/waagent.conf", CONF)
    add_process(root / "proc", 812, ["/usr/bin/python3", "-u", "/usr/sbin/waagent", "-daemon",
                                     "--password=Argv5ecretValue"], exe="/usr/bin/python3.10")
    return root


def _check_facts(facts: dict) -> None:
    """What both the zipapp and the full tool now say of ``_vm``."""
    # Octal option 245: the zipapp said '' (its own regex), the parser 168.63.129.16.
    assert onvm_facts.option_245(facts) == "168.63.129.16"
    # UpdateToLatestVersion follows AutoUpdate.Enabled when unset (the zipapp said y).
    assert onvm_facts.conf_value(facts, "AutoUpdate.UpdateToLatestVersion") == ("n", None)
    # A key the agent ignores is ignored; a secret setting loses its value by name.
    assert "$weird key" not in facts["conf"]
    assert facts["conf"]["OS.RootPassword"] == "<redacted>"
    # The command line is redacted where it is read (the zipapp kept it as read).
    assert "Argv5ecretValue" not in json.dumps(facts["processes"])


def test_zipapp_facts_agree_with_the_bundle_parsers(tmp_path: Path) -> None:
    root = _vm(tmp_path)
    _check_facts(onvm_facts.gather(str(root), sample_seconds=0))
    full = gather_live_facts(root, sample_seconds=0)
    _check_facts(full.as_plain())
    lease = parse_dhcp.parse_dhcp_lease(OCTAL_LEASE.encode(), "l")
    assert [r.value for r in lease if r.key == "option_245"] == ["168.63.129.16"]


def test_zipapp_under_python36_reads_octal_245_and_conf_defaults(
    zipapp: Path, tmp_path: Path
) -> None:
    py36 = interpreter("3.6.15")
    assert py36.is_file(), "Python 3.6 is missing from pyenv"
    done = subprocess.run(
        [str(py36), str(zipapp), "--root", str(_vm(tmp_path)), "--cpu-sample", "0",
         "--format", "json"],
        capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"},
    )
    assert done.returncode in (0, 1), done.stderr
    _check_facts(json.loads(done.stdout)["facts"])


def test_collect_redacts_names_and_keeps_the_bundle_private(tmp_path: Path) -> None:
    """The zipapp stored a secret in a file name as is, and made the bundle 0644; the full
    tool redacted names and left it 0600. One collector now does the latter for both."""
    root = tmp_path / "vm"
    write(root, "var/log/azure/Ext/api_key=abcdef123456.log", "fine\n")
    for name, run in (("zipapp", onvm_collect.collect), ("full", None)):
        out = tmp_path / f"{name}.tar.gz"
        if run is None:
            live_collect.collect(root, out, since_days=None, self_check_json=None)
        else:
            run(str(root), str(out), None, None)
        with tarfile.open(out) as tar:
            assert tar.getnames() == ["var/log/azure/Ext/api_key=<redacted>"], name
        assert os.stat(out).st_mode & 0o777 == 0o600, name


def test_zipapp_collect_writes_zip_and_refuses_unknown_suffix(tmp_path: Path) -> None:
    root = tmp_path / "vm"
    write(root, "var/log/waagent.log", "fine\n")
    summary = onvm_collect.collect(str(root), str(tmp_path / "b.zip"), None, b"{}")
    assert [p for p, _ in summary["included"]] == ["var/log/waagent.log", "self-check.json"]
    import zipfile

    with zipfile.ZipFile(tmp_path / "b.zip") as archive:
        assert archive.read("var/log/waagent.log") == b"fine\n"
    from analyzer.onvm.main import main

    assert main(["--root", str(root), "--cpu-sample", "0", "--output",
                 str(tmp_path / "b.bin")]) == 2
    assert not (tmp_path / "b.bin").exists()
