"""The project's fixture bundles through a batch: same findings as analyze, safe summaries."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from batch_helpers import REPO
from conftest import FAST

from analyzer.batch import run_batch, summary
from analyzer.pipeline import AnalyzeOptions, analyze_path

FIXTURES = REPO / "fixtures" / "bundles"
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")

pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason="fixture bundles not generated")


@pytest.mark.slow
def test_fixture_bundles_match_single_bundle_analysis(tmp_path: Path) -> None:
    out = tmp_path / "results"
    result = run_batch([FIXTURES], out, workers=2, limits=FAST, progress=False)
    bundles = pd.read_parquet(out / "bundles")
    findings = pd.read_parquet(out / "findings")
    assert result.rows == len(bundles) > 0 and bundles["sha256"].is_unique
    for row in bundles.itertuples():
        if row.status != "ok":
            continue
        alone = analyze_path(Path(row.path), AnalyzeOptions(isolate=False)).report
        expected = sorted((f.rule, f.severity, f.count) for f in alone.findings)
        mine = findings[findings["sha256"] == row.sha256]
        got = sorted(zip(mine["rule"], mine["severity"], mine["count"], strict=True))
        assert got == expected, row.path

    for by in ("category", "rule", "agent_version", "extension_version", "deployment"):
        for fmt in ("text", "markdown", "csv"):
            assert not UNSAFE.search(summary(out, by=by, fmt=fmt)), (by, fmt)
