"""The rule-pack cache returns the same pack, and notices edited rule files."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from analyzer.engine import cache
from analyzer.engine.loader import default_rules_dir

RULE = default_rules_dir() / "network" / "WAA-NET-001.toml"


@pytest.fixture()
def rules_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("WAAGENT_ANALYZER_NO_CACHE", raising=False)
    target = tmp_path / "rules"
    target.mkdir()
    shutil.copy(RULE, target / RULE.name)
    return target


def test_second_load_comes_from_the_cache(rules_dir: Path) -> None:
    first = cache.load_rules_cached([rules_dir])
    files = list(cache.cache_dir().glob("rules-*.pickle"))
    assert len(files) == 1
    assert (cache.cache_dir().stat().st_mode & 0o777) == 0o700
    second = cache.load_rules_cached([rules_dir])
    assert [r.id for r in second.rules] == [r.id for r in first.rules] == ["WAA-NET-001"]
    assert second.rules[0].condition == first.rules[0].condition


def test_edited_rule_file_is_reloaded(rules_dir: Path) -> None:
    cache.load_rules_cached([rules_dir])
    path = rules_dir / RULE.name
    path.write_text(path.read_text().replace('severity = "high"', 'severity = "low"'))
    os.utime(path, ns=(1, 1))
    assert cache.load_rules_cached([rules_dir]).rules[0].severity == "low"


def test_corrupt_cache_file_is_ignored(rules_dir: Path) -> None:
    cache.load_rules_cached([rules_dir])
    for stale in cache.cache_dir().glob("rules-*.pickle"):
        stale.write_bytes(b"not a pickle")
    assert [r.id for r in cache.load_rules_cached([rules_dir]).rules] == ["WAA-NET-001"]


def test_a_change_of_engine_code_does_not_serve_the_old_pack(
    rules_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache.load_rules_cached([rules_dir])
    monkeypatch.setattr(cache, "_engine_hash", "engine code of another build")
    cache.load_rules_cached([rules_dir])
    assert len(list(cache.cache_dir().glob("rules-*.pickle"))) == 2


def test_engine_hash_follows_the_code_of_a_check_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = tmp_path / "engine"
    shutil.copytree(Path(cache.__file__).parent, engine)
    monkeypatch.setattr(cache, "_ENGINE_DIR", engine)
    monkeypatch.setattr(cache, "_engine_hash", None)
    before = cache.engine_code_hash()
    table_kind = engine / "checks" / "table.py"
    table_kind.write_text(table_kind.read_text() + "\n# a change of semantics\n")
    monkeypatch.setattr(cache, "_engine_hash", None)
    assert cache.engine_code_hash() != before
