"""Which paths become bundles: files, folders (recursive, by content), bundle folders, @lists."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from batch_helpers import Spec, build, build_dir

from analyzer.batch.inputs import expand_inputs, fingerprint
from analyzer.batch.model import BundleInput
from analyzer.bundle.identity import tree_sha256
from analyzer.errors import UsageError


def test_folder_is_searched_recursively_by_content(tmp_path: Path) -> None:
    a = build(tmp_path / "x", Spec("a"))
    disguised = build(tmp_path / "x" / "deeper", Spec("b")).rename(tmp_path / "x" / "deeper" / "b.txt")
    (tmp_path / "x" / "notes.tgz").write_text("not an archive\n")  # a name is not evidence
    bundle_dir = build_dir(tmp_path / "x", Spec("c"))
    found = expand_inputs([tmp_path / "x"])
    # Sorted by name at every level: a.tgz, c/, deeper/b.txt, and the entry that is not a
    # bundle is accounted for with its reason (issue 14: batch accounts for every entry).
    assert found == [BundleInput(str(a)), BundleInput(str(bundle_dir), is_dir=True),
                     BundleInput(str(disguised)),
                     BundleInput(str(tmp_path / "x" / "notes.tgz"),
                                 skip_reason="not an archive or a bundle folder")]


def test_folder_that_is_a_bundle_counts_once(tmp_path: Path) -> None:
    root = build_dir(tmp_path, Spec("vm"))
    assert expand_inputs([root]) == [BundleInput(str(root), is_dir=True)]
    single = tmp_path / "single"
    single.mkdir()
    (single / "waagent.log").write_text("2024-02-01T10:00:00.000000Z INFO Daemon x\n")
    assert expand_inputs([single]) == [BundleInput(str(single), is_dir=True)]


def test_list_file_relative_to_itself_with_comments(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    a = build(tmp_path / "lists", Spec("a"))
    b = build(tmp_path / "elsewhere", Spec("b"))
    listing = tmp_path / "lists" / "todo.txt"
    listing.write_text(f"# bundles\na.tgz\n\n{b}\n  a.tgz  \n")
    monkeypatch.chdir(tmp_path)
    found = expand_inputs([f"@{listing}", str(a)])
    assert [x.path for x in found] == [str(a), str(b)]  # each path once


def test_plain_file_given_directly_is_a_bundle(tmp_path: Path) -> None:
    log = tmp_path / "waagent.log"
    log.write_text("2024-02-01T10:00:00.000000Z INFO Daemon x\n")
    assert expand_inputs([log]) == [BundleInput(str(log))]


def test_missing_paths_are_a_usage_error(tmp_path: Path) -> None:
    listing = tmp_path / "l.txt"
    listing.write_text("nope.tgz\n")
    with pytest.raises(UsageError, match=r"nope\.tgz"):
        expand_inputs([f"@{listing}"])
    with pytest.raises(UsageError, match="cannot read list"):
        expand_inputs([f"@{tmp_path / 'absent.txt'}"])


def test_search_does_not_follow_symlinks(tmp_path: Path) -> None:
    outside = build(tmp_path / "outside", Spec("secret"))
    searched = tmp_path / "searched"
    searched.mkdir()
    os.symlink(outside, searched / "link.tgz")
    os.symlink(outside.parent, searched / "linkdir")
    found = expand_inputs([searched])
    assert [b.skip_reason for b in found] == ["symbolic link (not followed)"] * 2


def test_fingerprints(tmp_path: Path) -> None:
    root = build_dir(tmp_path, Spec("vm"))
    first = tree_sha256(str(root))
    assert first == tree_sha256(str(root))
    (root / "var" / "log" / "waagent.log").write_text("changed\n")
    assert tree_sha256(str(root)) != first
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="not a regular file"):
        fingerprint(BundleInput(str(fifo)))
