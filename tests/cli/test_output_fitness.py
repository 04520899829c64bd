"""Output that survives pipes, terminals and tickets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from analyzer.cli_common import color_enabled
from analyzer.report import get_renderer
from analyzer.report.model import BundleSummary, Evidence, Finding, Report
from analyzer.wording import within
from tests.cli.clihelp import REPO, failing_bundle, run, tar_bundle

LONG_URL = "https://example.invalid/" + "a" * 150 + "/path?x=1"


def _report() -> Report:
    evidence = Evidence("case.tgz!var/log/" + "d" * 120 + "/waagent.log", 7, None,
                        "ERROR failed\nTraceback (most recent call last):\n  File \"x.py\"")
    finding = Finding("WAA-NET-001", "network", "critical", "The VM cannot reach it",
                      "Calls failed " + LONG_URL + " and more words " * 12, 3, None, None,
                      [evidence], "Run `systemctl restart waagent` then retry.", [LONG_URL])
    return Report("waagent-analyzer", "0.1.0",
                  BundleSummary("case.tgz", "0" * 64, None, None, None), [finding])


@pytest.mark.parametrize("width", [0, 60, 100])
def test_text_never_breaks_a_url_or_a_path(width: int) -> None:
    text = get_renderer("text", "en").render(_report(), width=width)  # type: ignore[call-arg]
    assert LONG_URL in text
    assert "d" * 120 + "/waagent.log" in text
    if width:
        short = [line for line in text.splitlines() if " " in line.strip()
                 and LONG_URL not in line and "d" * 120 not in line]
        assert all(len(line) <= width for line in short)
    else:  # unwrapped: a paragraph is one line
        assert any(line.count("more words") == 12 for line in text.splitlines())


def test_multiline_evidence_has_real_line_breaks_everywhere() -> None:
    report = _report()
    for fmt in ("text", "markdown", "html"):
        out = get_renderer(fmt, "en").render(report)
        assert "\\n" not in out.replace("\\\\n", ""), fmt
        assert "Traceback (most recent call last):" in out
    text = get_renderer("text", "en").render(report)
    assert any(line.strip() == "Traceback (most recent call last):" for line in text.splitlines())


def test_commands_are_code_in_markdown_and_html() -> None:
    report = _report()
    markdown = get_renderer("markdown", "en").render(report)
    assert "`systemctl restart waagent`" in markdown
    assert "\\`" not in markdown
    html = get_renderer("html", "en").render(report)
    assert "<code>systemctl restart waagent</code>" in html
    assert "`systemctl" not in html


@pytest.mark.parametrize(
    ("choice", "env", "tty", "expected"),
    [
        ("auto", {}, True, True),
        ("auto", {}, False, False),
        ("auto", {"NO_COLOR": "1"}, True, False),
        ("auto", {"TERM": "dumb"}, True, False),
        ("auto", {"FORCE_COLOR": "1"}, False, True),
        ("auto", {"FORCE_COLOR": "1", "NO_COLOR": "1"}, False, False),
        ("always", {"NO_COLOR": "1"}, False, True),
        ("never", {"FORCE_COLOR": "1"}, True, False),
    ],
)
def test_color_decision(choice: str, env: dict[str, str], tty: bool, expected: bool) -> None:
    class Stream:
        def isatty(self) -> bool:
            return tty

    assert color_enabled(choice, Stream(), env) is expected  # type: ignore[arg-type]


def test_color_flags_through_the_cli(tmp_path: Path) -> None:
    bundle = str(failing_bundle(tmp_path))
    assert "\x1b[" in run("analyze", bundle, env={"FORCE_COLOR": "1"}).stdout
    assert "\x1b[" in run("analyze", bundle, "--color", "always").stdout
    assert "\x1b[" not in run("analyze", bundle, "--color", "never",
                              env={"FORCE_COLOR": "1"}).stdout
    assert "\x1b[" not in run("analyze", bundle).stdout  # a pipe


@pytest.mark.parametrize("args", [["parse", "{b}", "-t", "records"], ["analyze", "{b}"]])
def test_closed_pipe_is_a_clean_exit(tmp_path: Path, args: list[str]) -> None:
    lines = [f"2024-02-01T10:00:{i % 60:02d}.000000Z INFO ExtHandler ExtHandler line {i}\n"
             for i in range(20000)]
    bundle = tar_bundle(tmp_path / "big.tgz", {"var/log/waagent.log": "".join(lines)})
    env = {**os.environ, "PYTHONPATH": str(REPO), "WAAGENT_ANALYZER_NO_CACHE": "1"}
    command = [sys.executable, "-m", "analyzer", *(a.replace("{b}", str(bundle)) for a in args)]
    with subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=env) as process:
        assert process.stdout is not None and process.stderr is not None
        process.stdout.readline()
        process.stdout.close()  # what `| head -1` does
        stderr = process.stderr.read().decode()
        code = process.wait(timeout=120)
    assert code in (0, 1), stderr
    assert "BrokenPipe" not in stderr and "Broken pipe" not in stderr and "Traceback" not in stderr


def test_durations_in_words() -> None:
    assert within(100000000) == "at any later time"
    assert within(90) == "within 1 h 30 min"


def test_explain_speaks_words_and_exits_like_analyze(tmp_path: Path) -> None:
    result = run("analyze", str(failing_bundle(tmp_path)), "--explain", "WAA-NET-001")
    assert result.returncode == 1  # it fired, at critical: the same exit as analyze
    assert "1e+08" not in result.stdout and "at any later time" in result.stdout
    assert "reads: agent log (present)" in result.stdout
    assert ":None" not in result.stdout


def test_the_entry_point_ends_at_once_with_its_output_and_exit_handlers(tmp_path: Path) -> None:
    """``python -m analyzer`` and the console script end the process without tearing the
    interpreter down: the whole report still reaches a pipe, the exit handlers still run,
    and the status is the verdict's."""
    bundle = failing_bundle(tmp_path)
    script = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('exit handler ran', file=sys.stderr))\n"
        "atexit.register(lambda: print('written at exit'))\n"
        f"sys.argv = ['waagent-analyzer', 'analyze', '--format', 'json', {str(bundle)!r}]\n"
        "from analyzer.cli import run\n"
        "run()\n"
        "print('not reached', file=sys.stderr)\n"
    )
    env = {**os.environ, "WAAGENT_ANALYZER_NO_CACHE": "1", "PYTHONPATH": str(REPO)}
    env.pop("PYTHONUNBUFFERED", None)  # a pipe's output is block-buffered, as for most users
    ended = subprocess.run([sys.executable, "-c", script], capture_output=True, env=env,
                           timeout=120)
    assert ended.returncode == 1, ended.stderr
    assert b"exit handler ran" in ended.stderr and b"not reached" not in ended.stderr
    assert b'"WAA-NET-001"' in ended.stdout
    assert ended.stdout.endswith(b"}\nwritten at exit\n"), ended.stdout[-200:]
    refused = subprocess.run([sys.executable, "-m", "analyzer", "analyze", str(tmp_path / "x")],
                             capture_output=True, env=env, timeout=120)
    assert refused.returncode == 2 and b"no such file" in refused.stderr


def test_the_entry_point_waits_for_a_thread_still_running(tmp_path: Path) -> None:
    """A thread that still runs when the command is done (a library's, a plug-in's) is
    waited for, as the usual interpreter exit does: its last output is not lost."""
    bundle = failing_bundle(tmp_path)
    script = (
        "import sys, threading, time\n"
        "import analyzer.cli as cli\n"
        "def late():\n"
        "    time.sleep(0.3)\n"
        "    print('thread finished', flush=True)\n"
        "command = cli.main\n"
        "def main():\n"
        "    try:\n"
        "        command()\n"
        "    finally:\n"  # still running when the command is done
        "        threading.Thread(target=late).start()\n"
        "cli.main = main\n"
        f"sys.argv = ['waagent-analyzer', 'analyze', '--format', 'json', {str(bundle)!r}]\n"
        "cli.run()\n"
    )
    env = {**os.environ, "WAAGENT_ANALYZER_NO_CACHE": "1", "PYTHONPATH": str(REPO)}
    ended = subprocess.run([sys.executable, "-c", script], capture_output=True, env=env,
                           timeout=120)
    assert ended.returncode == 1, ended.stderr
    assert ended.stdout.rstrip().endswith(b"thread finished")
