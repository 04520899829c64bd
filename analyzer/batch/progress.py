"""The batch progress bar (rich, on stderr): done / failed / remaining and the rate."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Any

from analyzer.batch.model import FAILED, REJECTED, TIMEOUT


class BatchProgress:
    """A no-op unless enabled; ``None`` means "when stderr is a terminal"."""

    def __init__(self, total: int, enabled: bool | None) -> None:
        self.total = total
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.done = 0
        self.failed = 0
        self.started = time.perf_counter()
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> BatchProgress:
        if not self.enabled:
            return self
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("batch"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[failed]} failed, {task.fields[remaining]} left"),
            TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn(),
            console=Console(stderr=True), transient=False)
        self._progress.__enter__()
        self._task = self._progress.add_task("batch", total=self.total, **self._fields())
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.__exit__(kind, value, traceback)

    def advance(self, status: str) -> None:
        self.done += 1
        if status in (FAILED, REJECTED, TIMEOUT):
            self.failed += 1
        if self._progress is not None:
            self._progress.update(self._task, advance=1, **self._fields())

    def _fields(self) -> dict[str, str | int]:
        elapsed = time.perf_counter() - self.started
        rate = self.done / elapsed if elapsed > 0 and self.done else 0.0
        return {"failed": self.failed, "remaining": self.total - self.done,
                "rate": f"{rate:.1f} bundles/s"}

