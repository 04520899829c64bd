"""The agreed ``analyzer.safe_open`` API (brief SAFE_OPEN_API.md), which the zipapp relies on:
no link is ever followed, only regular files are read, nothing escapes the root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from analyzer.safe_open import UnsafePath, list_under, open_under, read_bytes_under, read_text_under


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/waagent.conf").write_text("Extensions.Enabled=y\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside/secret").write_text("OUTSIDE")
    os.symlink(tmp_path / "outside/secret", root / "etc/linked.conf")
    os.symlink(tmp_path / "outside", root / "var")
    os.mkfifo(root / "etc/fifo")
    return root


def test_reads_regular_files(tree: Path) -> None:
    assert read_bytes_under(tree, "etc/waagent.conf", 100) == b"Extensions.Enabled=y\n"
    assert read_text_under(str(tree), "/etc/waagent.conf", 100).startswith("Extensions")
    fd = open_under(tree, "etc", directory=True)
    os.close(fd)


@pytest.mark.parametrize("relpath", ["etc/linked.conf", "var/secret", "etc/fifo", "../outside/secret",
                                     "etc"])
def test_links_special_files_and_escapes_are_refused(tree: Path, relpath: str) -> None:
    with pytest.raises(UnsafePath):
        read_bytes_under(tree, relpath, 100)


def test_missing_file_and_size_limit(tree: Path) -> None:
    with pytest.raises(FileNotFoundError):
        open_under(tree, "etc/nothing")
    with pytest.raises(UnsafePath, match="larger than limit"):
        read_bytes_under(tree, "etc/waagent.conf", 5)


def test_list_under_names_kinds_without_following(tree: Path) -> None:
    assert dict(list_under(tree, "etc")) == {
        "waagent.conf": "file", "linked.conf": "link", "fifo": "other"}
    assert dict(list_under(tree, "")) == {"etc": "dir", "var": "link"}
    with pytest.raises(UnsafePath):
        list_under(tree, "var")
