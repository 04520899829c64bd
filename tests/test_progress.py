"""Progress on a terminal only: bytes of logs read, on stderr, never elsewhere."""

from __future__ import annotations

import io

from analyzer import progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_counts_bytes_and_clears_its_line(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(progress, "_FIRST_AFTER_S", 0.0)
    terminal = _Terminal()
    progress.enable("case.tgz", 3 * 1048576, terminal)
    progress.advance(5 * 1048576)
    progress.finish()
    shown = terminal.getvalue()
    assert "case.tgz (3.0 MB): 5.0 MB of logs read" in shown
    assert shown.endswith("\r\x1b[K")


def test_no_progress_when_stderr_is_not_a_terminal(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(progress, "_FIRST_AFTER_S", 0.0)
    pipe = io.StringIO()
    progress.enable("case.tgz", 10, pipe)
    progress.advance(1 << 30)
    progress.finish()
    assert pipe.getvalue() == ""
