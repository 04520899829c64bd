"""atheris harness: the archive walker on arbitrary bytes.

Properties checked on every input (a violation is a crash the fuzzer reports):

* ``walk_bytes`` and reading every member raise nothing but ``AnalyzerError`` subclasses;
* member bytes delivered never exceed ``max_member_bytes`` per member nor ``max_total_bytes``;
* every provenance and problem text is printable (escaped), never raw control characters.

Run (see README "Security"; ``fuzz/run.py`` does it for all harnesses)::

    python fuzz/make_seeds.py fuzz/corpus
    python fuzz/fuzz_walker.py fuzz/corpus/walker -max_total_time=600 \\
        -rss_limit_mb=2048 -timeout=20 -max_len=262144

``-rss_limit_mb`` turns an allocation bomb in the archive libraries into a reported finding,
``-timeout`` does the same for a hang (a parser loop or a backtracking header regex).
Limits are tiny so bombs are tiny: nothing here relies on the forked sandbox.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

with atheris.instrument_imports(include=["analyzer", "tarfile", "zipfile", "gzip"]):
    from analyzer.bundle.walker import walk_bytes
    from analyzer.errors import AnalyzerError, Problem
    from analyzer.settings import Limits

KiB = 1024
LIMITS = Limits(
    max_input_bytes=1 << 20,
    max_total_bytes=512 * KiB,
    max_member_bytes=128 * KiB,
    max_xml_bytes=64 * KiB,
    max_nested_bytes=256 * KiB,
    max_entries=500,
    max_members_read=100,
    max_depth=3,
    max_name_bytes=1024,
    max_name_components=32,
    ratio_floor_bytes=256 * KiB,
    xz_memlimit=16 << 20,
)
NAMES = ("case.tgz", "logs.zip", "waagent.log.1.gz", "bundle")


def _printable(text: str) -> bool:
    return text.isprintable()


def test_one_input(data: bytes) -> None:
    name = NAMES[data[0] % len(NAMES)] if data else NAMES[0]
    problems: list[Problem] = []
    total = 0
    try:
        for member in walk_bytes(data, name, LIMITS, problems):
            assert _printable(member.provenance), member.provenance
            assert _printable(member.logical_path), member.logical_path
            if member.opener is None:
                continue
            got = 0
            try:
                with member.open() as stream:
                    while True:
                        chunk = stream.read(16 * KiB)
                        if not chunk:
                            break
                        got += len(chunk)
            except AnalyzerError:
                pass
            assert got <= max(LIMITS.max_member_bytes, LIMITS.max_xml_bytes), got
            total += got
    except AnalyzerError as error:
        assert _printable(str(error).replace("\n", " ")), repr(str(error))
    assert total <= LIMITS.max_total_bytes, total
    for problem in problems:
        assert _printable(problem.member), repr(problem.member)
        assert _printable(problem.message), repr(problem.message)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
