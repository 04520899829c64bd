"""Properties: whatever the bytes, the walker raises only the project's errors, stays within
its budgets and produces printable provenance."""

from __future__ import annotations

import tarfile

import pytest
from bundle_helpers import LOG, Entry, gz, tar_bytes, tgz_bytes, zip_bytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyzer.bundle import walk_bytes
from analyzer.errors import BundleError, InputRejected, Problem
from analyzer.settings import Limits

LIMITS = Limits().with_overrides(
    max_member_bytes=64 * 1024,
    max_xml_bytes=16 * 1024,
    max_total_bytes=256 * 1024,
    max_nested_bytes=128 * 1024,
    max_entries=200,
    max_members_read=50,
    ratio_floor_bytes=64 * 1024,
)

SEEDS = [
    tgz_bytes(
        [
            ("case/var/log/waagent.log", LOG * 20),
            ("case/var/log/waagent.log.1.gz", gz(LOG * 50)),
            (
                "case/var/lib/waagent/logcollector/logs.zip",
                zip_bytes(
                    [
                        ("var/log/waagent.log", LOG),
                        ("h.zip", zip_bytes([("GoalState.xml", b"<a/>")])),
                    ]
                ),
            ),
            Entry("case/link", type=tarfile.SYMTYPE, linkname="/etc"),
        ]
    ),
    zip_bytes([("var/log/waagent.log", LOG * 10), ("results.txt", b"ok\n")]),
    tar_bytes([("waagent.log", LOG), ("GoalState.1.xml", b"<xml>empty placeholder file</xml>")]),
    gz(LOG * 30),
]

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(data: bytes, name: str = "input.bin") -> None:
    problems: list[Problem] = []
    delivered = 0
    try:
        for member in walk_bytes(data, name, LIMITS, problems):
            assert member.provenance.isprintable() and member.logical_path.isprintable()
            if member.opener is None:
                continue
            try:
                with member.open() as stream:
                    chunk = stream.read(1 << 20)
                    delivered += len(chunk)
                    assert len(chunk) <= max(LIMITS.max_member_bytes, LIMITS.max_xml_bytes)
            except BundleError:
                pass
    except InputRejected:
        pass
    assert delivered <= LIMITS.max_total_bytes
    for problem in problems:
        assert problem.member.isprintable() and problem.message.isprintable()


@SETTINGS
@given(st.binary(max_size=4096))
def test_random_bytes(data: bytes) -> None:
    check(data)


@SETTINGS
@given(
    st.sampled_from(SEEDS),
    st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), max_size=8),
    st.one_of(st.none(), st.integers(min_value=1)),
)
def test_mutated_archives(seed: bytes, flips: list[tuple[int, int]], cut: int | None) -> None:
    data = bytearray(seed)
    for position, value in flips:
        data[position % len(data)] = value
    if cut is not None:
        data = data[: cut % len(data) or 1]
    check(bytes(data), "case.tgz")


NAMES = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=60
).filter(lambda s: "\x00" not in s)


@pytest.mark.filterwarnings("ignore:Duplicate name")
@SETTINGS
@given(st.lists(st.tuples(NAMES, st.binary(max_size=64)), min_size=1, max_size=6))
def test_arbitrary_member_names(files: list[tuple[str, bytes]]) -> None:
    check(tar_bytes(files), "names.tar")
    check(zip_bytes(files), "names.zip")
