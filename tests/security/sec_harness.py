"""Running the tool the way an attacker's upload would be run: in a subprocess, in a fresh
working directory, with ``TMPDIR`` pointing into the test's own tmp tree, measured.

``Workspace.run_cli(...)`` runs ``python -m analyzer``; ``Workspace.run_api(...)`` runs
``sec_driver.py`` (``analyze_path`` with custom ``Limits``). Both return a :class:`ToolRun`
with the exit code, output, wall-clock time and the peak RSS of the process *and its reaped
descendants* (``os.wait4`` in ``sec_measure.py``: the forked reader included), and check
afterwards that nothing was written outside the temp area.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
if str(REPO) not in sys.path:  # plain `pytest` from a checkout
    sys.path.insert(0, str(REPO))
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

MiB = 1 << 20
MEMORY_BOUND = 400 * MiB
"""Peak RSS allowed for one run of the tool (parent + forked reader)."""

# Places an extracting tool would have written archive-named files to; checked for new entries
# whose name comes from the archive. All cheap listings (no recursion).
WATCHED_DIRS = (Path("/tmp"), Path("/"), Path("/etc/cron.d"), Path("/var/tmp"), Path.home(), REPO)


@dataclass
class ToolRun:
    argv: list[str]
    rc: int
    stdout: str
    stderr: str
    wall: float
    maxrss: int
    """Peak resident set size in bytes (max over the process and its reaped children)."""
    timed_out: bool = False

    @property
    def report(self) -> dict[str, Any]:
        try:
            return json.loads(self.stdout)
        except ValueError as exc:  # pragma: no cover - diagnostic
            raise AssertionError(f"no JSON report: {exc}\n{self}") from None

    @property
    def problems(self) -> list[tuple[str, str]]:
        return [(p["member"], p["message"]) for p in self.report["bundle"]["problems"]]

    @property
    def files(self) -> dict[str, dict[str, Any]]:
        return {f["member"]: f for f in self.report["bundle"]["files"]}

    def problem_for(self, member: str, *needles: str) -> str:
        """The message of the problem recorded for ``member`` containing every needle."""
        for where, message in self.problems:
            if where == member and all(n in message for n in needles):
                return message
        raise AssertionError(
            f"no problem for {member!r} containing {needles!r}; problems: {self.problems}"
        )

    def has_problem(self, *needles: str) -> bool:
        return any(all(n in f"{m}: {msg}" for n in needles) for m, msg in self.problems)

    def __str__(self) -> str:
        return (f"argv={self.argv}\nrc={self.rc} wall={self.wall:.2f}s "
                f"maxrss={self.maxrss / MiB:.0f} MiB timed_out={self.timed_out}\n"
                f"--- stderr ---\n{self.stderr[-3000:]}\n--- stdout ---\n{self.stdout[:3000]}")

    def assert_bounded(self, *, wall: float, memory: int = MEMORY_BOUND) -> None:
        assert not self.timed_out, f"still running after the test's timeout\n{self}"
        assert self.wall < wall, f"took {self.wall:.1f}s (bound {wall}s)\n{self}"
        assert self.maxrss < memory, (
            f"peak RSS {self.maxrss / MiB:.0f} MiB (bound {memory / MiB:.0f} MiB)\n{self}"
        )
        assert "Traceback" not in self.stderr, f"traceback on stderr\n{self}"


def _listing(directory: Path) -> set[str]:
    try:
        return set(os.listdir(directory))
    except OSError:
        return set()


def _tree(directory: Path) -> dict[str, int]:
    found: dict[str, int] = {}
    for base, dirs, files in os.walk(directory):
        for name in dirs + files:
            path = os.path.join(base, name)
            try:
                found[os.path.relpath(path, directory)] = os.lstat(path).st_size
            except OSError:
                found[os.path.relpath(path, directory)] = -1
    return found


@dataclass
class Workspace:
    """One test's private area: ``cwd`` (empty), ``tmp`` (the tool's TMPDIR), ``inputs``."""

    root: Path
    runs: int = 0
    forbidden: set[str] = field(default_factory=set)
    """Base names taken from archive members: no new file of that name may appear in
    ``WATCHED_DIRS`` during a run."""
    absent: set[Path] = field(default_factory=set)
    """Absolute paths named by hostile members that must not exist after a run."""

    def __post_init__(self) -> None:
        self.cwd = self.root / "cwd"
        self.tmp = self.root / "tmp"
        self.inputs = self.root / "in"
        for directory in (self.cwd, self.tmp, self.inputs):
            directory.mkdir()

    # -- inputs ------------------------------------------------------------------------------
    def write(self, name: str, data: bytes) -> Path:
        path = self.inputs / name
        path.write_bytes(data)
        return path

    def watch_names(self, names: Iterable[str | bytes]) -> None:
        """Remember archive member names (their base names must never appear on disk)."""
        for name in names:
            text = name.decode("utf-8", "surrogateescape") if isinstance(name, bytes) else name
            for piece in text.replace("\\", "/").split("/"):
                if piece and piece not in (".", "..") and "\0" not in piece:
                    self.forbidden.add(piece)
            if "\0" in text:
                continue
            if text.startswith("/"):
                self.absent.add(Path(text))
            elif ".." in text.replace("\\", "/").split("/"):
                # Where an extracting tool running in our cwd would have written it.
                self.absent.add(Path(os.path.normpath(self.cwd / text.replace("\\", "/"))))

    # -- running -----------------------------------------------------------------------------
    def run_cli(self, *args: str | Path, timeout: float = 120,
                rlimits: dict[str, tuple[int, int]] | None = None) -> ToolRun:
        return self._run([sys.executable, "-m", "analyzer", *map(str, args)], timeout, rlimits)

    def run_api(self, path: Path, timeout: float = 120, rule_dirs: tuple[Path, ...] = (),
                **limits: Any) -> ToolRun:
        spec = json.dumps({"path": str(path), "limits": limits,
                           "rule_dirs": [str(d) for d in rule_dirs]})
        return self._run([sys.executable, str(HERE / "sec_driver.py"), spec], timeout)

    def analyze(self, path: Path, *extra: str, timeout: float = 120) -> ToolRun:
        return self.run_cli("analyze", path, "--format", "json", *extra, timeout=timeout)

    def _run(self, argv: list[str], timeout: float,
             rlimits: dict[str, tuple[int, int]] | None = None) -> ToolRun:
        self.runs += 1
        watched_before = {d: _listing(d) for d in WATCHED_DIRS}
        inputs_before = _tree(self.inputs)
        absent_before = {p for p in self.absent if os.path.lexists(p)}
        env = {k: v for k, v in os.environ.items() if k != "WAAGENT_ANALYZER_DEBUG"}
        env.update(PYTHONPATH=str(REPO), TMPDIR=str(self.tmp), NO_COLOR="1",
                   PYTHONDONTWRITEBYTECODE="1", COLUMNS="120")
        if rlimits:
            env["SEC_MEASURE_RLIMITS"] = json.dumps(rlimits)
        out_path = self.root / f"stdout-{self.runs}"
        err_path = self.root / f"stderr-{self.runs}"
        usage_path = self.root / f"usage-{self.runs}.json"
        measured = [sys.executable, "-S", str(HERE / "sec_measure.py"), str(usage_path), "--", *argv]
        timed_out = False
        with out_path.open("wb") as out, err_path.open("wb") as err:
            start = time.monotonic()
            proc = subprocess.Popen(measured, cwd=self.cwd, env=env, stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=err, start_new_session=True)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                os.killpg(proc.pid, signal.SIGKILL)  # the wrapper's own session only
                proc.wait()
            wall = time.monotonic() - start
        usage = json.loads(usage_path.read_text()) if usage_path.exists() else {}
        run = ToolRun(argv, usage.get("rc", proc.returncode),
                      out_path.read_bytes().decode("utf-8", "replace"),
                      err_path.read_bytes().decode("utf-8", "replace"),
                      wall, usage.get("maxrss", 1 << 62), timed_out)
        self._check_nothing_written(run, watched_before, inputs_before, absent_before)
        return run

    def _check_nothing_written(self, run: ToolRun, watched_before: dict[Path, set[str]],
                               inputs_before: dict[str, int], absent_before: set[Path]) -> None:
        assert _tree(self.cwd) == {}, f"files written to the working directory\n{run}"
        leftovers = _tree(self.tmp)
        assert leftovers == {}, f"temp area not cleaned up: {leftovers}\n{run}"
        assert _tree(self.inputs) == inputs_before, f"input directory changed\n{run}"
        for directory, before in watched_before.items():
            created = (_listing(directory) - before) & self.forbidden
            assert not created, f"archive-named files appeared in {directory}: {created}\n{run}"
        for path in self.absent - absent_before:
            assert not os.path.lexists(path), f"{path} was created\n{run}"
