"""Bad inputs from the security checklist: every one ends in a concrete problem, never in a
foreign exception, a followed link, an unbounded read or a file written to disk."""

from __future__ import annotations

import bz2
import gzip
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest
from bundle_helpers import (
    LOG,
    Entry,
    gz,
    overlapping_zip,
    set_zip_flag,
    sparse_header,
    tar_bytes,
    tgz_bytes,
    walk_data,
    zip_bytes,
)

from analyzer.bundle import nested, walk_bytes
from analyzer.bundle.budget import format_bytes
from analyzer.bundle.model import SourceKind as K
from analyzer.errors import BudgetExceeded, BundleError, InputRejected, Problem
from analyzer.settings import Limits

KIB = 1024


def problem_set(walked) -> set[tuple[str, str]]:
    return {(p.member, p.message) for p in walked.problems}


# -- compression: truncation, bombs, garbage ------------------------------------------------


def test_truncated_gzip_member_keeps_the_prefix() -> None:
    body = b"".join(b"line %05d\n" % i for i in range(20000))
    cut = gz(body)[:-4000]
    walked = walk_data(tar_bytes([("var/log/waagent.log.1.gz", cut)]), "case.tar")
    prov = "case.tar!var/log/waagent.log.1.gz"
    got = walked.contents[prov]
    assert len(got) > 100_000 and body.startswith(got)
    assert problem_set(walked) == {(prov, "truncated: unexpected end of compressed data")}
    assert walked.by_prov(prov).problems == ["truncated: unexpected end of compressed data"]


def test_multi_member_gzip_reads_fully_and_zero_padding_is_fine() -> None:
    data = gz(b"first\n") + gz(b"second\n") + b"\x00" * 1000
    walked = walk_data(data, "waagent.log.2.gz")
    assert walked.contents["waagent.log.2.gz"] == b"first\nsecond\n"
    assert walked.problems == []


def test_gzip_with_trailing_garbage_keeps_data_and_reports() -> None:
    walked = walk_data(gz(b"data\n") + b"GARBAGE", "waagent.log.3.gz")
    assert walked.contents["waagent.log.3.gz"] == b"data\n"
    assert walked.messages() == [
        "waagent.log.3.gz: corrupt: trailing garbage after compressed data"
    ]


def test_gzip_bomb_is_capped_at_the_member_limit() -> None:
    limits = Limits().with_overrides(max_member_bytes=100 * KIB)
    bomb = gzip.compress(b"\x00" * (20 * 1024 * KIB), compresslevel=9)  # 20 MiB -> ~20 KiB
    assert len(bomb) < 40 * KIB
    problems: list[Problem] = []
    [member] = list(walk_bytes(bomb, "waagent.log-2025-01-01-1735689600.gz", limits, problems))
    stream = member.open()
    data = stream.read()
    assert len(data) == 100 * KIB  # the prefix up to the cap is delivered...
    with pytest.raises(BudgetExceeded, match="exceeds per-member limit 100 KiB"):
        stream.read(1)  # ...and reading on raises
    assert [str(p) for p in problems] == [
        "waagent.log-2025-01-01-1735689600.gz: "
        "truncated: decompressed size exceeds per-member limit 100 KiB"
    ]


def test_document_kinds_use_the_xml_limit() -> None:
    limits = Limits().with_overrides(max_xml_bytes=50)
    walked = walk_data(gz(b"<GoalState>" + b" " * 200 + b"</GoalState>"), "GoalState.3.xml", limits)
    assert len(walked.contents["GoalState.3.xml"]) == 50
    assert walked.messages() == [
        "GoalState.3.xml: truncated: decompressed size exceeds document limit 50 B"
    ]


def test_expansion_ratio_stops_the_walk() -> None:
    limits = Limits().with_overrides(ratio_limit=50, ratio_floor_bytes=256 * KIB)
    data = tgz_bytes([(f"var/log/azure/x/{i}.log", b"\x00" * (512 * KIB)) for i in range(8)])
    walked = walk_data(data, "bomb.tgz", limits)
    assert 0 < len(walked.members) < 8
    [stop] = [p for p in walked.problems if p.message.startswith("stopped:")]
    assert stop.message.startswith("stopped: possible decompression bomb (")
    assert stop.message.endswith("ratio limit 50:1)")


def test_total_budget_stops_the_walk_and_keeps_what_was_read() -> None:
    limits = Limits().with_overrides(max_total_bytes=3 * len(LOG))
    data = tar_bytes([(f"var/log/waagent.log.{i}", LOG) for i in range(6)])
    walked = walk_data(data, "c.tar", limits)
    assert [walked.contents[p] for p in walked.provenances] == [LOG] * 3
    assert walked.messages() == [
        "c.tar!var/log/waagent.log.3: stopped: total decompressed bytes reached the limit 225 B"
    ]


def test_total_budget_counts_decompressed_bytes() -> None:
    limits = Limits().with_overrides(max_total_bytes=1000)
    data = tar_bytes([("waagent.log.1.gz", gz(b"a" * 5000)), ("waagent.log", LOG)])
    walked = walk_data(data, "c.tar", limits)
    assert walked.provenances == ["c.tar!waagent.log.1.gz"]
    assert walked.contents["c.tar!waagent.log.1.gz"] == b"a" * 1000
    assert walked.messages() == [
        "c.tar!waagent.log.1.gz: stopped: total decompressed bytes reached the limit 1000 B"
    ]


def test_truncated_tgz_keeps_earlier_members_and_names_the_cut_member() -> None:
    big = bytes(range(256)) * 4096  # 1 MiB, incompressible enough to cut inside it
    import random

    rnd = random.Random(1)
    noise = bytes(rnd.getrandbits(8) for _ in range(200_000))
    data = tgz_bytes(
        [("var/log/waagent.log", LOG), ("var/log/waagent.log.1", noise), ("var/log/x", big)]
    )
    cut = data[: len(data) // 2]
    walked = walk_data(cut, "case.tgz")
    assert walked.provenances == ["case.tgz!var/log/waagent.log", "case.tgz!var/log/waagent.log.1"]
    assert walked.contents["case.tgz!var/log/waagent.log"] == LOG
    partial = walked.contents["case.tgz!var/log/waagent.log.1"]
    assert 0 < len(partial) < len(noise) and noise.startswith(partial)
    assert walked.messages() == [
        "case.tgz!var/log/waagent.log.1: truncated: unexpected end of data"
    ]


def test_truncated_tgz_cut_in_a_member_nobody_reads() -> None:
    import random

    noise = random.Random(2).randbytes(100_000)
    data = tgz_bytes([("var/log/waagent.log", LOG), ("var/log/syslog", noise)])
    walked = walk_data(data[: len(data) - 20_000], "case.tgz", read=False)
    assert walked.provenances == ["case.tgz!var/log/waagent.log", "case.tgz!var/log/syslog"]
    assert walked.messages() == ["case.tgz!var/log/syslog: truncated: unexpected end of data"]


def test_tar_cut_between_members_and_garbage_header() -> None:
    data = tar_bytes([("a.log", b"x" * 512), ("b.log", b"y" * 512)])
    cut = data[: 512 + 512 + 100]  # inside the second header
    walked = walk_data(cut, "c.tar")
    assert walked.provenances == ["c.tar!a.log"]
    assert walked.messages() == ["c.tar: truncated: unexpected end of data after a.log"]

    garbage = data[:1024] + b"\xff" * 512 + data[1536:]
    walked = walk_data(garbage, "g.tar")
    assert walked.provenances == ["g.tar!a.log"]
    assert walked.messages() == [
        "g.tar: corrupt archive: invalid tar header after a.log (bad checksum); stopped"
    ]


def test_corrupt_outer_archive_with_nothing_read_is_rejected() -> None:
    bad = gzip.compress(b"\x01" * 2048)  # valid gzip, but not a tar inside
    bad_tar = bytearray(tar_bytes([("a.log", b"x")]))
    bad_tar[148:156] = b"0000000\x00"  # checksum no longer matches, magic kept
    with pytest.raises(InputRejected, match=r"^c\.tar: corrupt archive: bad checksum$"):
        walk_data(bytes(bad_tar), "c.tar")
    walked = walk_data(bad, "c.tgz")  # not a tar -> a single gzip file
    assert [m.kind for m in walked.members] == [K.ARCHIVE]
    assert walked.messages() == ["c.tgz: skipped: not a recognised archive"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (bz2.compress(LOG), "rejected: unsupported compression (bzip2)"),
        (b"7z\xbc\xaf\x27\x1c" + b"\x00" * 100, "rejected: unsupported format (7z)"),
        (bytes(range(256)) * 8, "rejected: unsupported format (binary data)"),
        (b"PK\x03\x04" + b"\x00" * 100, "corrupt zip: end of central directory not found"),
    ],
)
def test_unsupported_inputs_are_rejected(data: bytes, message: str) -> None:
    with pytest.raises(InputRejected) as info:
        walk_data(data, "upload.bin")
    assert str(info.value) == f"upload.bin: {message}"


def test_bzip2_nested_archive_is_skipped() -> None:
    inner = bz2.compress(tar_bytes([("a", b"x")]))
    walked = walk_data(tar_bytes([("x/case.tar.bz2", inner)]), "c.tar")
    assert walked.messages() == ["c.tar!x/case.tar.bz2: skipped: unsupported compression (bzip2)"]


# -- size limits ------------------------------------------------------------------------------


def test_member_over_declared_limit_is_skipped_before_reading() -> None:
    limits = Limits().with_overrides(max_member_bytes=100)
    data = tar_bytes(
        [
            ("var/log/waagent.log", b"x" * 200),
            ("var/log/dpkg.log", b"x" * 200),  # not parsed: listed regardless of size
            ("var/log/waagent.log.1", b"y" * 50),
        ]
    )
    walked = walk_data(data, "c.tar", limits, read=False)
    assert walked.provenances == ["c.tar!var/log/dpkg.log", "c.tar!var/log/waagent.log.1"]
    assert walked.messages() == [
        "c.tar!var/log/waagent.log: skipped: declared size 200 B exceeds per-member limit 100 B"
    ]


def test_too_many_tar_entries_stop_the_walk() -> None:
    limits = Limits().with_overrides(max_entries=5)
    data = tgz_bytes([(f"f{i}.log", b"x") for i in range(10)])
    walked = walk_data(data, "c.tgz", limits, read=False)
    assert len(walked.members) == 5
    assert walked.messages() == ["c.tgz: stopped: more than 5 entries"]


def test_too_many_members_read_stop_the_walk() -> None:
    limits = Limits().with_overrides(max_members_read=2)
    data = tar_bytes([(f"var/log/waagent.log.{i}", LOG) for i in range(4)])
    walked = walk_data(data, "c.tar", limits)
    assert len(walked.members) == 2
    assert walked.messages() == ["c.tar!var/log/waagent.log.2: stopped: more than 2 members read"]


def test_too_many_zip_entries_rejected_before_zipfile() -> None:
    limits = Limits().with_overrides(max_entries=5)
    data = zip_bytes([(f"f{i}", b"x") for i in range(10)])
    with pytest.raises(InputRejected, match=r"rejected: too many entries \(10, limit 5\)"):
        walk_data(data, "logs.zip", limits)

    # The end record may lie about the count: the central directory is counted too.
    lying = bytearray(data)
    eocd = lying.rfind(b"PK\x05\x06")
    lying[eocd + 8 : eocd + 12] = b"\x01\x00\x01\x00"
    with pytest.raises(InputRejected, match=r"rejected: too many entries \(more than 5\)"):
        walk_data(bytes(lying), "logs.zip", limits)


def test_nested_zip_with_too_many_entries_is_a_problem_not_a_rejection() -> None:
    limits = Limits().with_overrides(max_entries=8)
    inner = zip_bytes([(f"f{i}", b"x") for i in range(10)])
    walked = walk_data(tar_bytes([("a.log", b"x"), ("logs.zip", inner)]), "c.tar", limits)
    assert "c.tar!logs.zip: rejected: too many entries (10, limit 8)" in walked.messages()


# -- links, devices, sparse -------------------------------------------------------------------


def test_links_devices_fifos_and_sparse_members_are_skipped() -> None:
    entries = [
        Entry("var/log/azure", type=tarfile.SYMTYPE, linkname="/etc"),
        Entry("var/log/azure/shadow", b"regular member, read from the archive\n"),
        Entry("hl", type=tarfile.LNKTYPE, linkname="/etc/shadow"),
        Entry("dev/sda", type=tarfile.BLKTYPE),
        Entry("dev/tty", type=tarfile.CHRTYPE),
        Entry("fifo", type=tarfile.FIFOTYPE),
        Entry("var/log", type=tarfile.DIRTYPE),
    ]
    data = sparse_header("var/log/sparse.log", 10 * 1024**3) + tar_bytes(entries)
    walked = walk_data(data, "c.tar")
    assert walked.provenances == ["c.tar!var/log/azure/shadow"]
    assert (
        walked.contents["c.tar!var/log/azure/shadow"] == b"regular member, read from the archive\n"
    )
    assert walked.messages() == [
        "c.tar!var/log/sparse.log: skipped: sparse member (declared 10 GiB)",
        "c.tar!var/log/azure: skipped: symbolic link",
        "c.tar!hl: skipped: hard link",
        "c.tar!dev/sda: skipped: special file (block device)",
        "c.tar!dev/tty: skipped: special file (character device)",
        "c.tar!fifo: skipped: special file (FIFO)",
    ]


def test_many_hardlinks_do_not_amplify_reads() -> None:
    entries = [Entry("big.log", b"z" * 10_000)] + [
        Entry(f"hl{i}", type=tarfile.LNKTYPE, linkname="big.log") for i in range(50)
    ]
    problems: list[Problem] = []
    members = list(walk_bytes(tar_bytes(entries), "c.tar", Limits(), problems))
    assert [m.provenance for m in members] == ["c.tar!big.log"]
    assert len(problems) == 50


def test_zip_symlink_encrypted_and_unsupported_methods() -> None:
    link = zipfile.ZipInfo("var/log/azure")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    fifo = zipfile.ZipInfo("pipe")
    fifo.external_attr = (stat.S_IFIFO | 0o644) << 16
    plain = zip_bytes([link, fifo, ("var/log/waagent.log", LOG), ("dir/", b"")])
    walked = walk_data(plain, "logs.zip")
    assert walked.provenances == ["logs.zip!var/log/waagent.log"]
    assert walked.messages() == [
        "logs.zip!var/log/azure: skipped: symbolic link",
        "logs.zip!pipe: skipped: special file (FIFO)",
    ]

    bzip = zip_bytes([("var/log/waagent.log", LOG * 100)], compression=zipfile.ZIP_BZIP2)
    walked = walk_data(bzip, "logs.zip")
    assert walked.members == []
    assert walked.messages() == [
        "logs.zip!var/log/waagent.log: skipped: unsupported compression method 12 (bzip2)"
    ]

    encrypted = set_zip_flag(zip_bytes([("var/log/waagent.log", LOG)]), 0x1)
    walked = walk_data(encrypted, "logs.zip")
    assert walked.members == []
    assert walked.messages() == ["logs.zip!var/log/waagent.log: skipped: encrypted"]


def test_overlapping_zip_entries_are_rejected() -> None:
    bomb = overlapping_zip(20)
    with pytest.raises(InputRejected, match=r"^bomb\.zip: rejected: overlapping entries"):
        walk_data(bomb, "bomb.zip")
    # nested: the zip is refused, the rest of the bundle is analysed
    walked = walk_data(tar_bytes([("logs.zip", bomb), ("waagent.log", LOG)]), "c.tar")
    assert walked.provenances == ["c.tar!logs.zip", "c.tar!waagent.log"]
    assert walked.messages() == [
        "c.tar!logs.zip: rejected: overlapping entries (possible zip bomb)"
    ]


def test_zip_crc_mismatch_is_reported() -> None:
    data = bytearray(zip_bytes([("var/log/waagent.log", LOG)], compression=zipfile.ZIP_STORED))
    at = data.find(LOG)
    data[at] ^= 0x01
    walked = walk_data(bytes(data), "logs.zip")
    assert walked.contents["logs.zip!var/log/waagent.log"][1:] == LOG[1:]
    assert walked.messages() == ["logs.zip!var/log/waagent.log: corrupt: CRC mismatch"]


# -- nesting ----------------------------------------------------------------------------------


def test_nesting_depth_is_limited() -> None:
    level4 = zip_bytes([("deep.log", b"x")])
    level3 = zip_bytes([("c.zip", level4)])
    level2 = zip_bytes([("b.zip", level3)])
    walked = walk_data(tar_bytes([("a.zip", level2)]), "t.tar")
    assert walked.provenances == ["t.tar!a.zip", "t.tar!a.zip!b.zip", "t.tar!a.zip!b.zip!c.zip"]
    assert walked.messages() == [
        "t.tar!a.zip!b.zip!c.zip: skipped: nested archive depth 4 exceeds 3"
    ]
    assert walked.by_prov("t.tar!a.zip!b.zip!c.zip").depth == 2


def test_self_containing_archive_is_detected(monkeypatch: pytest.MonkeyPatch) -> None:
    # A real zip quine is elaborate to build; make every nested archive hash alike instead,
    # which is what a quine looks like to the walker.
    class SameHash:
        def update(self, data: bytes) -> None:
            pass

        def digest(self) -> bytes:
            return b"quine"

    monkeypatch.setattr(nested.hashlib, "sha256", SameHash)
    inner = zip_bytes([("x.zip", zip_bytes([("y", b"y")]))])
    walked = walk_data(tar_bytes([("q.zip", inner)]), "t.tar")
    assert walked.provenances == ["t.tar!q.zip", "t.tar!q.zip!x.zip"]
    assert walked.messages() == [
        "t.tar!q.zip!x.zip: skipped: recursive archive (same content as an enclosing archive)"
    ]


def test_nested_archive_over_its_limit_is_skipped() -> None:
    import random

    limits = Limits().with_overrides(max_nested_bytes=1000)
    inner = tgz_bytes([("a.log", random.Random(3).randbytes(3000))])
    walked = walk_data(tar_bytes([("in.tgz", inner), ("b.log", b"b")]), "t.tar", limits)
    assert walked.provenances == ["t.tar!b.log"]
    assert walked.messages() == [
        f"t.tar!in.tgz: skipped: declared size {format_bytes(len(inner))} exceeds "
        "nested-archive limit 1000 B"
    ]


# -- names ------------------------------------------------------------------------------------


def test_duplicate_names_are_both_yielded() -> None:
    data = tar_bytes([("var/log/waagent.log", b"one\n"), ("var/log/waagent.log", b"two\n")])
    walked = walk_data(data, "c.tar")
    assert walked.provenances == ["c.tar!var/log/waagent.log", "c.tar!var/log/waagent.log#2"]
    assert [walked.contents[p] for p in walked.provenances] == [b"one\n", b"two\n"]
    assert walked.messages() == ["c.tar!var/log/waagent.log#2: duplicate member"]
    assert walked.members[1].logical_path == "var/log/waagent.log"


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_duplicate_zip_names_are_both_yielded() -> None:
    walked = walk_data(zip_bytes([("results.txt", b"1"), ("results.txt", b"2")]), "l.zip")
    assert walked.provenances == ["l.zip!results.txt", "l.zip!results.txt#2"]
    assert [walked.contents[p] for p in walked.provenances] == [b"1", b"2"]
    assert walked.messages() == ["l.zip!results.txt#2: duplicate member"]


def test_unsafe_names_are_read_as_data_and_flagged() -> None:
    data = tar_bytes([("../../etc/cron.d/x", b"a"), ("/etc/passwd", b"b"), ("//moo", b"c")])
    walked = walk_data(data, "c.tar")
    assert [(m.provenance, m.logical_path) for m in walked.members] == [
        ("c.tar!../../etc/cron.d/x", "etc/cron.d/x"),
        ("c.tar!/etc/passwd", "etc/passwd"),
        ("c.tar!//moo", "moo"),
    ]
    assert walked.messages() == [
        "c.tar!../../etc/cron.d/x: unsafe path (parent reference)",
        "c.tar!/etc/passwd: unsafe path (absolute path)",
        "c.tar!//moo: unsafe path (absolute path)",
    ]


def test_unsafe_zip_names() -> None:
    data = zip_bytes(
        [("../../../../tmp/evil.sh", b"a"), ("..\\..\\evil.bat", b"b"), ("C:/x", b"c")]
    )
    walked = walk_data(data, "z.zip")
    assert [m.logical_path for m in walked.members] == ["tmp/evil.sh", "evil.bat", "x"]
    assert walked.messages() == [
        "z.zip!../../../../tmp/evil.sh: unsafe path (parent reference)",
        "z.zip!..\\..\\evil.bat: unsafe path (parent reference)",
        "z.zip!C:/x: unsafe path (absolute path)",
    ]


def test_control_characters_in_names_are_escaped_everywhere() -> None:
    evil = "var/log/azure/x/\x1b]0;pwned\x07\x1b[2J\r\n\u202e.log"
    walked = walk_data(tar_bytes([(evil, b"x"), ("a!b.log", b"y")]), "c\x1b.tar")
    member = walked.members[0]
    assert (
        member.provenance
        == "c\\x1b.tar!var/log/azure/x/\\x1b]0;pwned\\x07\\x1b[2J\\x0d\\x0a\\u202e.log"
    )
    assert member.logical_path == "var/log/azure/x/\\x1b]0;pwned\\x07\\x1b[2J\\x0d\\x0a\\u202e.log"
    assert member.kind == K.EXTENSION_LOG
    assert walked.members[1].provenance == "c\\x1b.tar!a\\x21b.log"
    for text in [m.provenance for m in walked.members] + [m.logical_path for m in walked.members]:
        assert text.isprintable()


def test_non_utf8_names() -> None:
    raw = b"var/log/caf\xe9.log".decode("utf-8", "surrogateescape")
    walked = walk_data(tar_bytes([(raw, b"x")]), "c.tar")
    [member] = walked.members
    assert member.provenance == "c.tar!var/log/caf\\xe9.log"
    assert member.logical_path == "var/log/caf\\xe9.log"
    assert walked.contents[member.provenance] == b"x"

    # zip without the UTF-8 flag: raw bytes, not cp437 mojibake
    data = bytearray(zip_bytes([("var/log/cafX.log", b"y")]))
    data[:] = data.replace(b"cafX", b"caf\xe9")
    walked = walk_data(bytes(data), "z.zip")
    assert walked.provenances == ["z.zip!var/log/caf\\xe9.log"]
    assert walked.contents["z.zip!var/log/caf\\xe9.log"] == b"y"


def test_bad_names_are_skipped() -> None:
    long = "d/" * 10 + "x" * 5000
    limits = Limits().with_overrides(max_name_components=5)
    data = tar_bytes([(long, b"1"), ("a/b/c/d/e/f/g", b"2"), ("ok.log", b"3")])
    walked = walk_data(data, "c.tar", limits)
    assert walked.provenances == ["c.tar!ok.log"]
    messages = walked.messages()
    assert messages[0].endswith("skipped: member name too long (5020 bytes, limit 4096)")
    assert "...(5020 bytes)" in messages[0]
    assert messages[1] == (
        "c.tar!a/b/c/d/e/f/g: skipped: member name has too many components (7, limit 5)"
    )

    nul = bytearray(zip_bytes([("var/log/aXb.log", b"x")]))
    nul[:] = nul.replace(b"aXb", b"a\x00b")
    walked = walk_data(bytes(nul), "z.zip")
    assert walked.messages() == ["z.zip!var/log/a\\x00b.log: skipped: member name contains NUL"]


# -- stream semantics -------------------------------------------------------------------------


def test_tar_members_must_be_read_inside_the_loop() -> None:
    data = tgz_bytes([("var/log/waagent.log", LOG), ("var/log/waagent.log.1", LOG)])
    members = list(walk_bytes(data, "c.tgz", Limits(), []))
    with pytest.raises(BundleError, match="no longer readable"):
        members[0].open().read()


def test_tar_member_opens_once_zip_member_reopens() -> None:
    for member in walk_bytes(tgz_bytes([("waagent.log", LOG)]), "c.tgz", Limits(), []):
        assert member.open().read() == LOG
        with pytest.raises(BundleError, match="opened once"):
            member.open()
    for member in walk_bytes(zip_bytes([("waagent.log", LOG)]), "c.zip", Limits(), []):
        assert member.open().read() == LOG
        assert member.open().read() == LOG


def test_consumer_breaking_out_of_the_loop_is_fine() -> None:
    """Leaving the loop early closes the walk: the member taken keeps its data, the member
    left behind is no longer readable, and no problem is invented."""
    data = tgz_bytes([("a.log", b"1"), ("b.log", b"2")])
    problems: list[Problem] = []
    iterator = walk_bytes(data, "c.tgz", Limits(), problems)
    first = next(iterator)
    assert first.provenance == "c.tgz!a.log"
    assert first.open().read() == b"1"
    iterator.close()
    with pytest.raises(StopIteration):
        next(iterator)
    assert problems == []


def test_spooled_nested_archives_leave_no_files(
    bundle_no_stray_files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(nested, "SPOOL_MEMORY_BYTES", 16)  # force spilling to disk
    seen_dirs: list[list[str]] = []
    inner = zip_bytes([("var/log/waagent.log", LOG)])
    data = tgz_bytes([("var/lib/waagent/logcollector/logs.zip", inner)])
    for member in walk_bytes(data, "c.tgz", Limits(), []):
        seen_dirs.append(sorted(p.name for p in bundle_no_stray_files.iterdir()))
        if member.kind == K.WAAGENT_LOG:
            assert member.open().read() == LOG
    # a private directory existed while the nested zip was walked, and is gone afterwards
    assert any(names and names[0].startswith("waagent-analyzer-") for names in seen_dirs)
    assert list(bundle_no_stray_files.iterdir()) == []


def test_nothing_is_written_for_plain_walks(bundle_no_stray_files: Path, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "case.tgz").write_bytes(tgz_bytes([("a/var/log/waagent.log", LOG)]))
    walk_data((tmp_path / "in" / "case.tgz").read_bytes(), "case.tgz")
    assert list(bundle_no_stray_files.iterdir()) == []
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == ["case.tgz"]


def test_input_larger_than_the_limit_is_rejected() -> None:
    with pytest.raises(InputRejected, match="more than the limit 10 B"):
        walk_data(LOG, "waagent.log", Limits().with_overrides(max_input_bytes=10))


def test_xz_memlimit_rejects_the_input() -> None:
    import lzma

    filters = [{"id": lzma.FILTER_LZMA2, "dict_size": 32 * 1024 * 1024}]
    data = tar_bytes([("a", b"x" * 1000)])
    packed = lzma.compress(data, format=lzma.FORMAT_XZ, filters=filters)
    with pytest.raises(InputRejected, match="xz memory requirement exceeds limit 1 MiB"):
        walk_data(packed, "c.tar.xz", Limits().with_overrides(xz_memlimit=1024 * 1024))


def test_open_errors_are_project_errors() -> None:
    data = bytearray(zip_bytes([("var/log/waagent.log", LOG)], compression=zipfile.ZIP_STORED))
    local = data.find(b"PK\x03\x04")
    data[local + 30 : local + 33] = b"XXX"  # local name differs from the central directory
    walked = walk_data(bytes(data), "z.zip")
    assert walked.provenances == ["z.zip!var/log/waagent.log"]
    assert "z.zip!var/log/waagent.log" in walked.errors
    assert walked.messages()[0].startswith("z.zip!var/log/waagent.log: corrupt: File name in")


def test_gzip_member_read_past_cap_within_a_buffered_read() -> None:
    limits = Limits().with_overrides(max_member_bytes=1000)
    walked = walk_data(tar_bytes([("waagent.log.1.gz", gz(b"a" * 5000))]), "c.tar", limits)
    assert walked.contents["c.tar!waagent.log.1.gz"] == b"a" * 1000
    assert walked.messages() == [
        "c.tar!waagent.log.1.gz: truncated: decompressed size exceeds per-member limit 1000 B"
    ]
