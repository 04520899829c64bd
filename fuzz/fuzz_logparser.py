"""atheris harness: the log line parser, the record folder and the prefiltered scanner.

One input = a chunk size + a log kind + log bytes. Properties:

* ``iter_records`` raises nothing at all and ``LogScanner.scan`` (with the built-in rules'
  real prefilter and record matcher, as the pipeline wires them) nothing but an
  ``AnalyzerError`` (a member it refuses): a log is data, every oddity must become a flag;
* records do not depend on how the stream is chunked;
* no record message is longer than the record cap, no line longer than the line cap.

Run::

    python fuzz/make_seeds.py fuzz/corpus
    python fuzz/fuzz_logparser.py fuzz/corpus/logparser -max_total_time=600 \\
        -rss_limit_mb=2048 -timeout=20 -max_len=65536
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

with atheris.instrument_imports(include=["analyzer"]):
    from analyzer.bundle.model import SourceKind
    from analyzer.engine.matching import RecordMatcher
    from analyzer.errors import AnalyzerError
    from analyzer.parse.log_facts import FACT_PATTERNS
    from analyzer.parse.logscan import LogScanner
    from analyzer.parse.logsources import grammar_for
    from analyzer.parse.waagent_log import iter_records
    from analyzer.pipeline import AnalyzeOptions, load_pack

KINDS = sorted(SourceKind.LOG_KINDS)
KNOWN_BUGS = set(filter(None, os.environ.get("FUZZ_KNOWN_BUGS", "").split(",")))
"""Already-reported crashes to step over so a long run can look for new ones:
``re2-surrogates`` = the record matcher raising UnicodeEncodeError on non-UTF-8 log bytes
(found by this harness in under a second; fixed in 3f95ada; reproducer kept in
tests/security/corpus/logparser-re2-surrogates)."""
MAX_LINE = 512
MAX_CONT = 40
MAX_RECORD = 8192

_PACK = load_pack(AnalyzeOptions())[0]
_PREFILTERS = {
    kind: RecordMatcher(_PACK.rules).prefilter(
        kind, FACT_PATTERNS if kind == SourceKind.WAAGENT_LOG else ()
    )
    for kind in KINDS
}


def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)] or [b""]


def _key(record: object) -> tuple[object, ...]:
    return (record.line, record.end_line, record.timestamp, record.level,  # type: ignore[attr-defined]
            record.message, record.flags)  # type: ignore[attr-defined]


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    chunk = fdp.ConsumeIntInRange(1, 700)
    kind = KINDS[fdp.ConsumeIntInRange(0, len(KINDS) - 1)]
    raw = fdp.ConsumeBytes(fdp.remaining_bytes())
    grammar = grammar_for(kind)

    def records(parts: list[bytes]) -> list[tuple[object, ...]]:
        return [
            _key(r)
            for r in iter_records(parts, "m", kind, max_line_bytes=MAX_LINE,
                                  max_continuation_lines=MAX_CONT,
                                  header_parser=grammar.header_parser,
                                  prefix_has_real_version=grammar.prefix_has_real_version)
        ]

    whole = records([raw])
    assert whole == records(_chunks(raw, chunk)), "records depend on chunk boundaries"
    for key in whole:
        message = key[4]
        assert isinstance(message, str)
        assert len(message) <= (MAX_CONT + 1) * (MAX_LINE + 1), len(message)

    matcher = RecordMatcher(_PACK.rules)
    seen: list[object] = []

    def on_record(record: object) -> None:
        seen.append(record)
        try:
            matcher(record)  # what the pipeline does with every candidate record
        except UnicodeEncodeError as error:
            if "re2-surrogates" not in KNOWN_BUGS or "surrogates" not in str(error):
                raise

    scanner = LogScanner("m", kind, grammar, _PREFILTERS[kind], on_record,
                         max_line_bytes=MAX_LINE, max_record_bytes=MAX_RECORD,
                         max_continuation_lines=MAX_CONT, timeline=True)
    try:
        stats = scanner.scan(io.BytesIO(raw), chunk_bytes=max(chunk, 64))
    except AnalyzerError:
        return  # a member the scanner refuses (binary data): a problem, not a crash
    assert stats.bytes <= len(raw)
    for record in seen:
        assert len(record.message) <= MAX_RECORD + MAX_LINE + 1, len(record.message)  # type: ignore[attr-defined]


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
