"""XML: only the hardened parser; DOCTYPE/entities rejected; no file content and no network
connection can be pulled in.

Two independent tripwires run around parsing every sample of docs/security.md checklist row 33 (and
some extra encodings of them) through ``parse_xml``, every goal-state parser and the whole
in-process pipeline:

* a **socket guard**: ``socket.socket.connect``/``connect_ex``, ``socket.create_connection``
  and ``socket.getaddrinfo`` are replaced by functions that record the call and fail - any
  Python-level fetch (urllib, a custom resolver) is caught;
* a **loopback listener** whose port is the one the samples point at - libxml2 would connect
  from C, below Python's socket module, so only a real listener can prove it did not;

plus a **secret marker file** the samples reference by ``file://``: the marker must not appear
in any returned value, exception message or rendered report.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from secbuild import ENTITY_SAMPLES, SECRET_MARKER, hostile_xml_samples

from analyzer.errors import AnalyzerError
from analyzer.parse import goal_state
from analyzer.parse.errors import ParseError
from analyzer.parse.xmlsafe import DOCTYPE_REJECTED, parse_xml
from analyzer.pipeline import AnalyzeOptions, analyze_files
from analyzer.report import get_renderer


@dataclass
class Tripwires:
    calls: list[str] = field(default_factory=list)
    accepted: int = 0
    port: int = 0


@pytest.fixture
def tripwires(monkeypatch: pytest.MonkeyPatch) -> Iterator[Tripwires]:
    state = Tripwires()
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.1)
    state.port = server.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            state.accepted += 1
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()

    def guard(name: str) -> Callable[..., Any]:
        def refuse(*args: Any, **kwargs: Any) -> Any:
            state.calls.append(f"{name}{args!r}")
            raise OSError(f"network access blocked by the test: {name}")
        return refuse

    # Installed after the listener exists (it never connects anywhere itself).
    monkeypatch.setattr(socket.socket, "connect", guard("connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", guard("connect_ex"))
    monkeypatch.setattr(socket, "create_connection", guard("create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", guard("getaddrinfo"))
    yield state
    stop.set()
    thread.join(timeout=5)
    server.close()


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(SECRET_MARKER + "\n")
    return path


def _samples(secret: Path, port: int) -> dict[str, bytes]:
    samples = hostile_xml_samples(secret, f"http://127.0.0.1:{port}")
    # The same attacks hidden from a naive byte check: UTF-16 without BOM, a BOM, odd case.
    samples["xxe_utf16le_nobom"] = samples["xxe_file"].decode().encode("utf-16-le")
    samples["xxe_bom"] = b"\xef\xbb\xbf" + samples["xxe_file"]
    samples["xxe_lowercase"] = samples["xxe_file"].replace(b"DOCTYPE", b"doctype")
    samples["xxe_utf32"] = samples["xxe_file"].decode().encode("utf-32")
    samples["xxe_ebcdic_decl"] = samples["xxe_file"].replace(
        b'<?xml version="1.0"?>', b'<?xml version="1.0" encoding="UTF-7"?>')
    return samples


PARSERS: dict[str, Callable[[bytes, str], Any]] = {
    "parse_xml": parse_xml,
    "goal_state": goal_state.parse_goal_state,
    "extensions_config": goal_state.parse_extensions_config,
    "hosting_env": goal_state.parse_hosting_env,
    "shared_config": goal_state.parse_shared_config,
}


def _outcome(parser: Callable[[bytes, str], Any], data: bytes) -> tuple[str, str]:
    try:
        result = parser(data, "case.tgz!var/lib/waagent/GoalState.3.xml")
    except AnalyzerError as error:
        return "error", f"{type(error).__name__}: {error}"
    if isinstance(result, etree._Element):
        return "ok", etree.tostring(result, encoding="unicode")
    return "ok", repr(result)


@pytest.mark.parametrize("parser_name", sorted(PARSERS))
def test_no_file_or_network_access_from_any_sample(
    parser_name: str, tripwires: Tripwires, secret_file: Path
) -> None:
    parser = PARSERS[parser_name]
    for name, data in _samples(secret_file, tripwires.port).items():
        kind, text = _outcome(parser, data)
        assert SECRET_MARKER not in text, (name, text)
        if name in ENTITY_SAMPLES or name.startswith("xxe_"):
            assert kind == "error", (name, text)
        if name in ENTITY_SAMPLES and parser_name == "parse_xml":
            assert text == f"ParseError: {DOCTYPE_REJECTED}" or text.startswith(
                "ParseError: unsupported XML encoding"), (name, text)
    assert tripwires.calls == []
    assert tripwires.accepted == 0


def test_entity_documents_are_rejected_with_one_message(
    tripwires: Tripwires, secret_file: Path
) -> None:
    samples = _samples(secret_file, tripwires.port)
    for name in ENTITY_SAMPLES:
        with pytest.raises(ParseError) as caught:
            parse_xml(samples[name], "m")
        assert str(caught.value) == DOCTYPE_REJECTED, name
    # XInclude and stylesheet PIs are left inert: parsed, never processed or fetched.
    root = parse_xml(samples["xinclude"], "m")
    assert SECRET_MARKER not in etree.tostring(root, encoding="unicode")
    assert parse_xml(samples["stylesheet_pi"], "m").findtext("Incarnation") == "3"
    assert tripwires.calls == [] and tripwires.accepted == 0


def test_whole_pipeline_and_every_renderer(tripwires: Tripwires, secret_file: Path) -> None:
    samples = _samples(secret_file, tripwires.port)
    files: dict[str, str | bytes] = {
        f"var/lib/waagent/{doc}.{i}.xml": data
        for i, data in enumerate(samples.values(), start=2)
        for doc in ("GoalState", "ExtensionsConfig", "HostingEnvironmentConfig", "SharedConfig")
    }
    analysis = analyze_files(files, AnalyzeOptions(isolate=False))
    rendered = [get_renderer(fmt).render(analysis.report)
                for fmt in ("json", "text", "markdown", "html")]
    rendered.append(json.dumps([str(p) for p in analysis.facts.problems]))
    rendered.append(repr(analysis.facts.goal_states) + repr(analysis.facts.extensions))
    for text in rendered:
        assert SECRET_MARKER not in text
    rejected = [p for p in analysis.facts.problems if p.message == DOCTYPE_REJECTED]
    assert len(rejected) >= 4 * len(ENTITY_SAMPLES)
    assert tripwires.calls == [] and tripwires.accepted == 0


def test_control_the_samples_do_leak_with_an_unsafe_parser(secret_file: Path) -> None:
    """Proves the file sample is live: an lxml parser configured the unsafe way reads the
    secret - so its absence above is the hardened parser's doing."""
    data = hostile_xml_samples(secret_file, "http://127.0.0.1:9")["xxe_file"]
    unsafe = etree.XMLParser(resolve_entities=True, load_dtd=True, no_network=False)
    assert SECRET_MARKER in etree.tostring(etree.fromstring(data, unsafe), encoding="unicode")


def test_the_guard_itself_trips(tripwires: Tripwires) -> None:
    with pytest.raises(OSError, match="blocked by the test"):
        socket.create_connection(("127.0.0.1", tripwires.port), timeout=1)
    with pytest.raises(OSError, match="blocked by the test"):
        socket.getaddrinfo("example.invalid", 80)
    assert len(tripwires.calls) == 2
    tripwires.calls.clear()
