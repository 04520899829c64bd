"""atheris harness: the hardened XML/JSON loaders and the goal-state parsers built on them.

Property: untrusted documents produce rows or ``ParseError`` (an ``AnalyzerError``), never
another exception; no document can make the parser open a file or a socket (both are
replaced by tripwires before fuzzing starts).

Run::

    python fuzz/make_seeds.py fuzz/corpus
    python fuzz/fuzz_xml.py fuzz/corpus/xml -max_total_time=600 -rss_limit_mb=2048 -timeout=20
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

with atheris.instrument_imports(include=["analyzer"]):
    from analyzer.errors import AnalyzerError
    from analyzer.parse import goal_state
    from analyzer.parse.xmlsafe import parse_xml

PARSERS = (
    lambda data: parse_xml(data, "m", 64 * 1024),
    lambda data: goal_state.parse_goal_state(data, "var/lib/waagent/GoalState.3.xml"),
    lambda data: goal_state.parse_extensions_config(data, "var/lib/waagent/ExtensionsConfig.3.xml"),
    lambda data: goal_state.parse_hosting_env(data, "var/lib/waagent/HostingEnvironmentConfig.xml"),
    lambda data: goal_state.parse_shared_config(data, "var/lib/waagent/SharedConfig.xml"),
)


def _tripwire(*args: object, **kwargs: object) -> None:
    raise AssertionError(f"network access attempted: {args!r}")


def _no_network() -> None:
    socket.socket.connect = _tripwire  # type: ignore[method-assign]
    socket.socket.connect_ex = _tripwire  # type: ignore[method-assign]
    socket.create_connection = _tripwire  # type: ignore[assignment]
    socket.getaddrinfo = _tripwire  # type: ignore[assignment]


def test_one_input(data: bytes) -> None:
    if not data:
        return
    parser = PARSERS[data[0] % len(PARSERS)]
    try:
        parser(data[1:])
    except AnalyzerError:
        pass


def main() -> None:
    _no_network()
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
