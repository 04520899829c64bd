"""Never "OK" when nothing, or not everything, was checked."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from analyzer.checkable import verdict_state
from analyzer.pipeline import AnalyzeOptions, analyze_path
from analyzer.report import get_renderer
from analyzer.settings import Limits
from tests.cli.clihelp import BENIGN, log_text, run, tar_bundle


def _empty_archive(tmp_path: Path) -> Path:
    path = tmp_path / "empty.tgz"
    with tarfile.open(path, "w:gz"):
        pass
    return path


def _empty_folder(tmp_path: Path) -> Path:
    (tmp_path / "empty").mkdir()
    return tmp_path / "empty"


def _readme_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "readme"
    folder.mkdir()
    (folder / "README.md").write_text("notes about the case\n")
    return folder


def _passwd(tmp_path: Path) -> Path:
    path = tmp_path / "passwd"
    path.write_text("root:x:0:0:root:/root:/bin/bash\n")
    return path


@pytest.mark.parametrize("make", [_empty_archive, _empty_folder, _readme_folder, _passwd])
def test_no_recognised_source_is_rejected(tmp_path: Path, make: object) -> None:
    result = run("analyze", str(make(tmp_path)))  # type: ignore[operator]
    assert result.returncode == 3, result
    assert "rejected" in result.stderr
    assert "OK" not in result.stdout


def test_missing_agent_log_is_said_in_every_format(tmp_path: Path) -> None:
    bundle = tar_bundle(tmp_path / "conf-only.tgz",
                        {"etc/waagent.conf": "Extensions.Enabled=y\nLogs.Verbose=y\n"})
    text = run("analyze", str(bundle))
    assert text.returncode == 0, text
    assert "INCOMPLETE" in text.stdout and " OK " not in text.stdout
    assert "no agent log: " in text.stdout and "WAA-NET-001" in text.stdout
    report = json.loads(run("analyze", str(bundle), "-f", "json").stdout)
    groups = {g["missing"]: g for g in report["coverage"]["not_checked"]}
    assert "WAA-NET-001" in groups["agent_log"]["rules"]
    assert groups["agent_log"]["reason"] == "no agent log"
    for fmt in ("markdown", "html", "sarif"):
        out = run("analyze", str(bundle), "-f", fmt).stdout
        assert "no agent log" in out, fmt
    pt = run("analyze", str(bundle), "--lang", "pt-BR").stdout
    assert "sem log do agente" in pt and "INCOMPLETO" in pt


def test_a_complete_clean_bundle_is_ok_but_names_live_only_rules(tmp_path: Path) -> None:
    bundle = tar_bundle(tmp_path / "clean.tgz", {
        "var/log/waagent.log": log_text([BENIGN] * 3),
        "etc/waagent.conf": "Extensions.Enabled=y\nLogs.Verbose=y\n",
    })
    text = run("analyze", str(bundle), "--fail-on", "never")
    assert " OK " in text.stdout
    assert "no live facts" in text.stdout  # the self-check-only rules are not silently "ok"


def test_members_read_stop_is_incomplete_never_ok(tmp_path: Path) -> None:
    files = {f"var/log/azure/Ext{i}/CommandExecution.log": log_text([BENIGN]) for i in range(6)}
    bundle = tar_bundle(tmp_path / "many.tgz", {"var/log/waagent.log": log_text([BENIGN]),
                                                **files})
    options = AnalyzeOptions(isolate=False,
                             limits=Limits().with_overrides(max_members_read=2))
    report = analyze_path(bundle, options).report
    assert verdict_state(report) == "incomplete"
    text = get_renderer("text", "en").render(report)
    assert "INCOMPLETE" in text and " OK " not in text
