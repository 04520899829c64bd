"""Run untrusted-input work in a forked child with memory, CPU and wall-clock limits.

Archive libraries can allocate or loop *before* our own byte counters see a member (a 1 GiB
GNU long-name header makes tarfile allocate gigabytes inside ``next()``). So the walk and the
scan run in a child process: the child streams pickled results back message by message, and
whatever arrived before a crash, a kill or a timeout is kept by the parent.

Fork (not spawn) is deliberate: the parent has already imported everything, so the child
starts in about a millisecond and the tool still answers a small bundle well under a second.
"""

from __future__ import annotations

import atexit
import os
import resource
import select
import shutil
import signal
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from analyzer.forkpool import widen_pipe
from analyzer.heap import return_freed_memory
from analyzer.wire import FrameError, filler, read_frame, write_frame


@dataclass(frozen=True)
class SandboxLimits:
    memory_bytes: int
    cpu_seconds: int
    wall_seconds: float


@dataclass
class SandboxEnd:
    """How the child ended: ``ok``, ``error`` (an exception with its message), ``memory``,
    ``timeout``, ``killed`` (signal) or ``crashed`` (non-zero exit without a message)."""

    status: str
    detail: str = ""


@dataclass(frozen=True)
class ChildError:
    """The child's last word when its work raised: the exception and its traceback."""

    summary: str
    traceback: str


@dataclass(frozen=True)
class Finished:
    """The child's last message: its work returned and every message it had is sent. The
    parent goes on at once; the child's own ending (closing its planners, giving its memory
    back: 3 to 8 ms) overlaps the parent's next step, and it is reaped later
    (:func:`reap_finished_children`)."""


class _Emitter:
    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.finished = False

    def __call__(self, message: Any) -> None:
        if self.finished:
            raise BrokenPipeError("the child already said it had finished")
        # A member's delta's arrays go from their own memory into the pipe (analyzer.wire).
        write_frame(self.fd, message)

    def finish(self) -> None:
        """Sends :class:`Finished` and closes the pipe; nothing can be sent after it."""
        if not self.finished:
            write_frame(self.fd, Finished())
            self.finished = True
            os.close(self.fd)


def finish(emit: Callable[[Any], None]) -> None:
    """Tells the parent that ``emit`` has sent everything (a sandbox's emitter; any other
    callable, as in-process runs pass, has nothing to tell)."""
    if isinstance(emit, _Emitter):
        emit.finish()


def run_in_sandbox(
    work: Callable[[Callable[[Any], None]], None],
    limits: SandboxLimits,
    on_message: Callable[[Any], None],
    while_child_runs: Callable[[], None] | None = None,
) -> SandboxEnd:
    """Fork, apply the limits in the child, run ``work(emit)`` there; call ``on_message``
    in the parent for every message, in order. Returns how the child ended.

    ``while_child_runs`` is called in the parent right after the fork, before any message
    is read; if it raises, the child is killed and reaped first."""
    # The child's spool files live in a directory the parent owns and removes, so a child
    # killed by a limit leaves nothing behind.
    private = tempfile.mkdtemp(prefix="waagent-analyzer-")
    read_fd, write_fd = os.pipe()
    # A member's delta can be tens of MB: through the default 64 KiB pipe buffer that is a
    # wake-up of each side per 64 KiB (an 18.7 MB delta took ~60 ms to arrive).
    widen_pipe(write_fd)
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_fd)
        tempfile.tempdir = private
        _child(work, limits, write_fd)
    os.close(write_fd)
    reap_finished_children()  # the previous child's ending overlapped this one's start
    # The parent merges each member's store: the arrays it frees go back to the kernel
    # (a hit-heavy 600 MB bundle left the parent at 144 MB, 129 MB with this).
    return_freed_memory()
    try:
        if while_child_runs is not None:
            _run_beside(pid, while_child_runs)
        end = _parent(pid, read_fd, limits, on_message)
    finally:
        os.close(read_fd)
        shutil.rmtree(private, ignore_errors=True)
    return end


def _run_beside(pid: int, task: Callable[[], None]) -> None:
    try:
        task()
    except BaseException:
        _kill(pid)
        os.waitpid(pid, 0)
        raise


def _child(
    work: Callable[[Callable[[Any], None]], None], limits: SandboxLimits, write_fd: int
) -> None:
    code = 0
    emit = _Emitter(write_fd)
    try:
        _apply_limits(limits)
        work(emit)
        emit.finish()
    except MemoryError:
        code = 3
    except BaseException as error:  # report, never let the child fall back into the parent's code
        try:
            emit(ChildError(f"{type(error).__name__}: {error}",
                            "".join(traceback.format_exception(error))[-4000:]))
        except BaseException:
            pass
        code = 2
    finally:
        try:
            if not emit.finished:
                os.close(write_fd)
        finally:
            os._exit(code)


def _lower(kind: int, soft: int, hard: int) -> None:
    """Set a limit, never above what the process already may not exceed (``ulimit``)."""
    current_soft, current_hard = resource.getrlimit(kind)
    if current_hard != resource.RLIM_INFINITY:
        hard = min(hard, current_hard)
        soft = min(soft, hard)
    if current_soft != resource.RLIM_INFINITY:
        soft = min(soft, current_soft)
    resource.setrlimit(kind, (soft, hard))


def _apply_limits(limits: SandboxLimits) -> None:
    _lower(resource.RLIMIT_AS, limits.memory_bytes, limits.memory_bytes)
    cpu = max(1, limits.cpu_seconds)
    _lower(resource.RLIMIT_CPU, cpu, cpu + 5)
    # The child never writes files (nested archives spool to anonymous memory first); a
    # spill to the private temp area is bounded by the nested-archive cap.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _parent(
    pid: int, read_fd: int, limits: SandboxLimits, on_message: Callable[[Any], None]
) -> SandboxEnd:
    deadline = time.monotonic() + limits.wall_seconds
    error: ChildError | None = None
    timed_out = False
    for message in _messages(read_fd, deadline):
        if message is _TIMEOUT:
            timed_out = True
            break
        if isinstance(message, Finished):
            _finished.append(pid)  # reaped once it has ended, before the command exits
            return SandboxEnd("ok")
        if isinstance(message, _Unreadable):
            # Nothing more is read from it: a child left writing the rest would wait for ever.
            _kill(pid)
            os.waitpid(pid, 0)
            return SandboxEnd("error", f"unreadable message from the child: {message.reason}")
        if isinstance(message, ChildError):
            error = message
            continue
        on_message(message)
    if timed_out:
        _kill(pid)
    _, status = os.waitpid(pid, 0)
    return _end(status, timed_out, error, limits)


_TIMEOUT = object()
_finished: list[int] = []
"""Children that sent :class:`Finished` and are not reaped yet."""
FINISHED_CHILD_SECONDS = 10.0
"""A finished child still running after this long is killed (it only had to end)."""


def reap_finished_children() -> None:
    """Waits for the children that said they had finished: their resource use (peak RSS
    among it) then counts as this process's children's, as ``wait4`` reports it. Called
    before each new child starts reading and when the command ends."""
    while _finished:
        pid = _finished.pop()
        deadline = time.monotonic() + FINISHED_CHILD_SECONDS
        try:
            while os.waitpid(pid, os.WNOHANG) == (0, 0):
                if time.monotonic() > deadline:
                    _kill(pid)
                    os.waitpid(pid, 0)
                    break
                time.sleep(0.0005)
        except ChildProcessError:  # reaped already (a caller's own wait)
            continue


atexit.register(reap_finished_children)  # ``cli.run`` runs the exit functions, then ends


@dataclass(frozen=True)
class _Unreadable:
    """A frame out of bounds (:class:`~analyzer.wire.FrameError`): the stream ends there."""

    reason: str


class _PastDeadline(Exception):
    pass


def _messages(fd: int, deadline: float) -> Iterator[Any]:
    """The child's messages in order; :data:`_TIMEOUT` once the wall clock runs out. A
    message cut short (the child died writing it) ends the stream; one out of bounds ends it
    with an :class:`_Unreadable`."""
    fill = _filler(fd, deadline)
    while True:
        try:
            message = read_frame(fill)
        except _PastDeadline:
            yield _TIMEOUT
            return
        except EOFError:
            return
        except FrameError as error:
            yield _Unreadable(str(error))
            return
        yield message


def _filler(fd: int, deadline: float) -> Callable[[memoryview], None]:
    def readable() -> bool:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _PastDeadline
        ready, _, _ = select.select([fd], [], [], min(remaining, 1.0))
        return bool(ready)

    return filler(fd, readable)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _end(
    status: int, timed_out: bool, error: ChildError | None, limits: SandboxLimits
) -> SandboxEnd:
    if timed_out:
        return SandboxEnd("timeout", f"time limit {limits.wall_seconds:g} s reached")
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        if signum == signal.SIGXCPU:
            return SandboxEnd("timeout", f"CPU limit {limits.cpu_seconds} s reached")
        return SandboxEnd("killed", f"reader process killed by signal {signum}")
    code = os.WEXITSTATUS(status)
    if code == 0:
        return SandboxEnd("ok")
    if code == 3 or (error is not None and error.summary.startswith("MemoryError")):
        return SandboxEnd(
            "memory",
            f"memory limit {limits.memory_bytes // (1 << 20)} MiB "
            "exceeded while reading the archive",
        )
    if error is not None:
        return SandboxEnd("error", error.summary)
    return SandboxEnd("crashed", f"reader process exited with code {code}")
