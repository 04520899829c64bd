"""Directory inputs: links are never followed, special files never opened."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from bundle_helpers import LOG, gz, walk_path, zip_bytes

from analyzer.bundle import walk
from analyzer.bundle.model import SourceKind as K
from analyzer.errors import BundleError, InputRejected, Problem
from analyzer.settings import Limits

SECRET = b"SECRET-CONTENT-OUTSIDE-THE-BUNDLE"


@pytest.fixture
def case_dir(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "shadow").write_bytes(SECRET)
    root = tmp_path / "case-1234"
    (root / "var/log/azure").mkdir(parents=True)
    (root / "var/log/waagent.log").write_bytes(LOG)
    (root / "var/log/azure/escape").symlink_to(outside)  # directory link
    (root / "var/log/waagent.log.9").symlink_to(outside / "shadow")  # file link
    (root / "var/log/dangling").symlink_to(tmp_path / "nowhere")
    os.mkfifo(root / "var/log/pipe")
    return root


def test_symlinks_and_fifos_are_skipped_not_followed(case_dir: Path) -> None:
    walked = walk_path(case_dir)
    assert walked.provenances == ["case-1234/var/log/waagent.log"]
    assert walked.contents == {"case-1234/var/log/waagent.log": LOG}
    assert walked.messages() == [
        "case-1234/var/log/azure/escape: skipped: symbolic link",
        "case-1234/var/log/dangling: skipped: symbolic link",
        "case-1234/var/log/pipe: skipped: special file (FIFO)",
        "case-1234/var/log/waagent.log.9: skipped: symbolic link",
    ]
    assert all(SECRET not in data for data in walked.contents.values())


def test_a_file_swapped_for_a_link_after_listing_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "d"
    root.mkdir()
    (root / "waagent.log").write_bytes(LOG)
    (tmp_path / "secret").write_bytes(SECRET)
    problems: list[Problem] = []
    [member] = list(walk(root, Limits(), problems))
    (root / "waagent.log").unlink()
    (root / "waagent.log").symlink_to(tmp_path / "secret")
    with pytest.raises(BundleError, match=r"d/waagent\.log: skipped: symbolic link"):
        member.open()
    assert [p.member for p in problems] == ["d/waagent.log"]


def test_a_parent_folder_swapped_for_a_link_after_listing_is_refused(tmp_path: Path) -> None:
    """The file is still a regular file, but a folder above it now points outside."""
    root = tmp_path / "d"
    (root / "var" / "log").mkdir(parents=True)
    (root / "var" / "log" / "waagent.log").write_bytes(LOG)
    outside = tmp_path / "outside" / "log"
    outside.mkdir(parents=True)
    (outside / "waagent.log").write_bytes(SECRET)
    problems: list[Problem] = []
    [member] = list(walk(root, Limits(), problems))
    (root / "var" / "log").rename(tmp_path / "moved")
    (root / "var" / "log").symlink_to(outside)
    with pytest.raises(BundleError, match=r"symbolic link"):
        member.open()


def test_directory_entry_cap(tmp_path: Path) -> None:
    root = tmp_path / "many"
    root.mkdir()
    for i in range(10):
        (root / f"f{i}.log").write_bytes(b"x")
    walked = walk_path(root, Limits().with_overrides(max_entries=4), read=False)
    assert walked.members == []  # the listing itself is over the cap
    assert walked.messages() == ["many: stopped: more than 4 entries"]


def test_directory_gzip_bomb_counts_against_the_ratio(tmp_path: Path) -> None:
    root = tmp_path / "d"
    root.mkdir()
    (root / "waagent.log.1.gz").write_bytes(gz(b"\x00" * (4 * 1024 * 1024)))
    limits = Limits().with_overrides(ratio_limit=20, ratio_floor_bytes=64 * 1024)
    walked = walk_path(root, limits)
    assert len(walked.contents.get("d/waagent.log.1.gz", b"")) < 4 * 1024 * 1024
    [message] = walked.messages()
    assert message.startswith("d/waagent.log.1.gz: stopped: possible decompression bomb")


def test_directory_nested_archive_depth(tmp_path: Path) -> None:
    root = tmp_path / "d"
    root.mkdir()
    (root / "a.zip").write_bytes(zip_bytes([("b.zip", zip_bytes([("c.log", b"c")]))]))
    walked = walk_path(root, Limits().with_overrides(max_depth=2))
    assert walked.provenances == ["d/a.zip", "d/a.zip!b.zip"]
    assert walked.messages() == ["d/a.zip!b.zip: skipped: nested archive depth 3 exceeds 2"]
    assert walked.members[1].kind == K.ARCHIVE


def test_missing_or_special_input_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(InputRejected, match="cannot read input"):
        walk_path(tmp_path / "nope.tgz")
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(InputRejected, match="not a regular file or directory"):
        walk_path(tmp_path / "fifo")


def test_input_path_may_itself_be_a_link(tmp_path: Path) -> None:
    (tmp_path / "real.log").write_bytes(LOG)
    (tmp_path / "waagent.log").symlink_to(tmp_path / "real.log")
    walked = walk_path(tmp_path / "waagent.log")
    assert walked.contents == {"waagent.log": LOG}


def test_walk_root_selects_live_paths(tmp_path: Path) -> None:
    from analyzer.bundle import walk_root

    root = tmp_path / "vm"
    (root / "var/log/azure/ext").mkdir(parents=True)
    (root / "var/lib/waagent").mkdir(parents=True)
    (root / "var/lib").joinpath("dhcp").symlink_to(tmp_path)  # a link on the way: not followed
    (root / "var/log/waagent.log").write_bytes(LOG)
    (root / "var/log/waagent.log.1.gz").write_bytes(gz(LOG))
    (root / "var/log/syslog").write_bytes(b"not selected\n")
    (root / "var/log/azure/ext/CommandExecution.log").write_bytes(b"cmd\n")
    (root / "var/lib/waagent/GoalState.3.xml").write_bytes(b"<GoalState/>")
    (root / "var/lib/waagent/Certificates.pem").write_bytes(SECRET)
    problems: list[Problem] = []
    selected = [
        "var/lib/waagent",
        "var/log/waagent.log*",
        "var/log/azure",
        "var/lib/dhcp",
        "var/lib/dhclient",  # missing: ignored
        "var/log/waagent.log",  # already selected: not repeated
    ]
    members = list(walk_root(root, selected, Limits(), problems))
    base = str(root)
    assert [(m.provenance, m.logical_path, m.kind) for m in members] == [
        (f"{base}/var/lib/waagent/Certificates.pem", "var/lib/waagent/Certificates.pem", K.SECRET),
        (
            f"{base}/var/lib/waagent/GoalState.3.xml",
            "var/lib/waagent/GoalState.3.xml",
            K.GOAL_STATE,
        ),
        (f"{base}/var/log/waagent.log", "var/log/waagent.log", K.WAAGENT_LOG),
        (f"{base}/var/log/waagent.log.1.gz", "var/log/waagent.log.1.gz", K.WAAGENT_LOG),
        (
            f"{base}/var/log/azure/ext/CommandExecution.log",
            "var/log/azure/ext/CommandExecution.log",
            K.COMMAND_EXECUTION_LOG,
        ),
    ]
    assert members[3].open().read() == LOG
    assert members[0].opener is None
    assert [str(p) for p in problems] == [f"{base}/var/lib/dhcp: skipped: symbolic link"]
