"""Every single-file real-log excerpt, given the way people hand logs over: pasted into a file
with a name that says nothing, attached to a ticket folder, zipped.

At its VM path (``fixtures/real/corpus.py``) an excerpt's name tells the analyzer what it is.
Here the name says nothing, so its first lines must: each excerpt must pass exactly as it does
at its VM path (every expected rule fires at medium or above; a negative control stays clean),
read through the real walker three ways:

* ``bare``: the single input file ``excerpt.txt``;
* ``folder``: ``ticket/attachment-1.log`` inside a folder given as the input;
* ``zip``: the same path inside a zip.
"""

from __future__ import annotations

import io
import zipfile
from functools import cache
from pathlib import Path

import pytest

from analyzer.bundle.walker import walk_bytes
from analyzer.errors import InputRejected
from analyzer.pipeline import AnalyzeOptions, analyze_members, analyze_path
from analyzer.report.model import SEVERITY_RANK
from fixtures.real.corpus import Excerpt, Outcome, load_corpus, run_excerpt

SINGLE = [e for e in load_corpus() if len(e.files) == 1]
UNRELATED_PATH = "ticket/attachment-1.log"
OPTIONS = AnalyzeOptions(isolate=False)
MEDIUM = SEVERITY_RANK["medium"]


@cache
def _at_vm_path(name: str) -> Outcome:
    return run_excerpt(next(e for e in SINGLE if e.name == name))


def _content(excerpt: Excerpt) -> bytes:
    return next(iter(excerpt.files.values())).encode("utf-8")


def _zip(path: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(path, data)
    return buffer.getvalue()


def _outcome(excerpt: Excerpt, how: str, tmp_path: Path) -> Outcome:
    data = _content(excerpt)
    if how == "bare":
        analysis = analyze_members(
            "excerpt.txt",
            lambda problems: walk_bytes(data, "excerpt.txt", OPTIONS.limits, problems),
            OPTIONS,
        )
    elif how == "zip":
        archive = _zip(UNRELATED_PATH, data)
        analysis = analyze_members(
            "ticket.zip",
            lambda problems: walk_bytes(archive, "ticket.zip", OPTIONS.limits, problems),
            OPTIONS,
        )
    else:
        target = tmp_path / "case" / UNRELATED_PATH
        target.parent.mkdir(parents=True)
        target.write_bytes(data)
        analysis = analyze_path(tmp_path / "case", OPTIONS)
    fired = {
        finding.rule: (finding.category, finding.severity)
        for finding in analysis.report.findings
        if SEVERITY_RANK[finding.severity] >= MEDIUM
    }
    return Outcome(excerpt, fired)


def test_every_single_file_excerpt_is_here() -> None:
    assert len(SINGLE) >= 80


@pytest.mark.parametrize("how", ["bare", "folder", "zip"])
@pytest.mark.parametrize("excerpt", SINGLE, ids=[e.name for e in SINGLE])
def test_excerpt_without_its_vm_path(excerpt: Excerpt, how: str, tmp_path: Path) -> None:
    at_vm_path = _at_vm_path(excerpt.name)
    try:
        outcome = _outcome(excerpt, how, tmp_path)
    except InputRejected as rejected:
        pytest.fail(f"{excerpt.name} ({how}): rejected: {rejected}")
    assert outcome.passed == at_vm_path.passed, (
        f"{excerpt.source} ({how}): missing {outcome.missing}, false alarms "
        f"{outcome.false_alarms}; fired {sorted(outcome.fired)}; at the VM path "
        f"{sorted(at_vm_path.fired)}"
    )
    assert outcome.passed
