"""A few forked workers that run one function on tasks; results come back in task order.

Used to plan the chunks of a large log on the other cores while this process reads and
applies them (:mod:`analyzer.engine.bulk`). Forked, not spawned: a worker starts with the
compiled rule pack, pattern sets and scan database already in memory, in a few milliseconds.

Safety of the protocol:

* a task goes only to a worker whose last result was read, so a worker never blocks writing a
  result while this process blocks writing it a task (no deadlock, whatever the pipe sizes);
* a worker exits on end of file, so one left behind by a killed parent (the sandbox's wall
  clock) ends as soon as its parent's pipes close;
* a worker that dies or raises makes :meth:`ForkPool.result` raise :class:`WorkerLost`; the
  caller does the work itself, where the real exception (or the memory limit) shows;
* a task's data goes through the worker's shared memory slot when it fits: the slot is
  written only when the worker's last result has been read, so the worker has done with it.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import mmap
import os
import pickle
import select
import signal
import struct
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from analyzer.heap import keep_freed_memory
from analyzer.wire import FrameError, filler, frame, read_frame, write_parts

_TASK_HEADER = struct.Struct("!QQB")
_IN_PIPE = 0
_IN_SLOT = 1
_FAILED = b"\x00"
_DONE = b"\x01"


class WorkerLost(Exception):
    """A worker died or raised before returning a result."""


@dataclass
class _Worker:
    pid: int
    tasks: int
    """Write end of the task pipe."""
    results: int
    """Read end of the result pipe."""
    busy: int | None = None
    """The ticket whose result is still to be read."""
    slot: mmap.mmap | None = None
    """Memory shared with the worker, where a task's data goes when it fits."""


@dataclass
class ForkPool:
    """``count`` forked workers running ``work``. :meth:`submit` returns a ticket;
    :meth:`result` gives its result (tickets are read in any order; results that arrive
    early are kept).

    A task goes to a free worker, or to the first one to finish when all are busy: a
    worker that finishes before the others is handed the next task at once, where handing
    tasks out in turn left it waiting for the slowest (a marker-heavy run's planners each
    waited ~255 ms between tasks, one core idle in ~12% of the run)."""

    work: Callable[[Any, Any], Any]
    """(task, data) -> result; ``data`` travels as raw bytes, not pickled (:class:`Lent`
    where :attr:`lend_slot` says so)."""
    count: int
    slot_bytes: int = 0
    """Size of each worker's shared memory slot (0: none). Data that fits is copied there
    and read back once, where a pipe costs two copies in the kernel, one to join the
    parts and a switch per pipe buffer (4 MiB chunks: about 0.2 s of CPU per 200 MB)."""
    pad_bytes: int = 0
    """Zero bytes ``work`` finds after the data, however it came: the worker's one copy of
    its slot takes them along (a planner that reads past the end of a chunk then needs no
    copy of its own)."""
    lend_slot: bool = False
    """``work`` gets data that came through the slot as :class:`Lent` (the slot itself, valid
    until ``work`` returns) instead of a copy of it."""
    _workers: list[_Worker] = field(default_factory=list)
    _early: dict[int, Any] = field(default_factory=dict)
    _next: int = 0
    _finalizer: Any = None

    def __post_init__(self) -> None:
        # Objects alive now are left out of the workers' garbage collections: a collection
        # would write to every one of them and so copy every page the fork shares.
        gc.freeze()
        try:
            for _ in range(self.count):
                self._workers.append(self._fork())
        finally:
            gc.unfreeze()
        # Workers of a pool nobody closed still end (and are reaped) with it.
        self._finalizer = weakref.finalize(self, _shutdown, self._workers, self._early)

    def _fork(self) -> _Worker:
        slot = mmap.mmap(-1, self.slot_bytes) if self.slot_bytes else None
        task_read, task_write = os.pipe()
        result_read, result_write = os.pipe()
        for pipe in (task_write, result_write):
            widen_pipe(pipe)
        pid = os.fork()
        if pid == 0:  # worker: never returns into the caller's code
            code = 1
            try:
                # Only its own two pipes stay open: a worker holding another pool's (or a
                # sibling's) pipe would keep that worker from ever seeing end of file.
                _close_all_but((task_read, result_write))
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent answers Ctrl-C
                keep_freed_memory()
                _serve(self.work, task_read, result_write, slot, self.pad_bytes,
                       self.lend_slot)
                code = 0
            finally:
                os._exit(code)
        os.close(task_read)
        os.close(result_write)
        return _Worker(pid, task_write, result_read, slot=slot)

    def submit(self, task: Any, data: bytes = b"") -> int:
        ticket = self._next
        self._next += 1
        if not self._workers:
            self._early[ticket] = WorkerLost("the pool was closed")
            return ticket
        worker = self._free_worker()
        payload = pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL)
        pad = self.pad_bytes
        in_slot = worker.slot is not None and len(data) + pad <= len(worker.slot)
        if in_slot:
            worker.slot[:len(data)] = data  # type: ignore[index]
            worker.slot[len(data):len(data) + pad] = bytes(pad)  # type: ignore[index]
        header = _TASK_HEADER.pack(len(payload), len(data), _IN_SLOT if in_slot else _IN_PIPE)
        try:
            write_parts(worker.tasks, [header, payload] if in_slot else [header, payload, data])
        except OSError:
            self._early[ticket] = WorkerLost("the worker is gone")
        else:
            worker.busy = ticket
        return ticket

    def _free_worker(self) -> _Worker:
        """A worker with no task in hand: the first idle one, else the first of the busy
        ones to finish (its result is read and kept for :meth:`result`)."""
        for worker in self._workers:
            if worker.busy is None:
                return worker
        poller = select.poll()
        for worker in self._workers:
            poller.register(worker.results, select.POLLIN)
        ready = {fd for fd, _ in poller.poll()}  # a result, or a dead worker's end of file
        finished = next(worker for worker in self._workers if worker.results in ready)
        waiting = finished.busy  # read first: _read clears it
        if waiting is not None:
            self._early[waiting] = self._read(finished)
        return finished

    def result(self, ticket: int) -> Any:
        if ticket in self._early:
            found = self._early.pop(ticket)
        elif not self._workers:
            raise WorkerLost("the pool was closed")
        else:
            holder = next((worker for worker in self._workers if worker.busy == ticket),
                          None)
            if holder is None:
                raise KeyError(ticket)
            found = self._read(holder)
        if isinstance(found, WorkerLost):
            raise found
        return found

    def _read(self, worker: _Worker) -> Any:
        worker.busy = None
        fill = filler(worker.results)
        try:
            status = bytearray(1)
            fill(memoryview(status))
            found = read_frame(fill)
        except (OSError, EOFError, FrameError):
            return WorkerLost("the worker ended without a result")
        if status != _DONE:
            return WorkerLost(str(found))
        return found

    def close(self) -> None:
        """Ends the workers (they exit on end of file) and reaps them."""
        self._finalizer()


def _shutdown(workers: list[_Worker], early: dict[int, Any]) -> None:
    for worker in workers:
        with contextlib.suppress(OSError):
            os.close(worker.tasks)
    for worker in workers:
        with contextlib.suppress(OSError):
            os.close(worker.results)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(worker.pid, 0)
        if worker.slot is not None:
            worker.slot.close()
    workers.clear()
    early.clear()


_PIPE_BYTES = 1 << 20


def widen_pipe(fd: int) -> None:
    """A 1 MiB pipe buffer (Linux; the default 64 KiB takes 64 switches per 4 MiB chunk, and
    as many per 4 MB of a delta the isolated reader sends)."""
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    if set_size is None:  # pragma: no cover - not Linux
        return
    with contextlib.suppress(OSError):  # above /proc/sys/fs/pipe-max-size: keep the default
        fcntl.fcntl(fd, set_size, _PIPE_BYTES)


def _close_all_but(keep: tuple[int, ...]) -> None:
    low = 3  # standard streams stay
    for fd in sorted(keep):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, _max_fd())


def _max_fd() -> int:
    try:
        return int(os.sysconf("SC_OPEN_MAX"))
    except (ValueError, OSError):  # pragma: no cover - every Linux has it
        return 65536


@dataclass(frozen=True)
class Lent:
    """A task's data where it lies in the worker's shared slot: ``buffer[:size]``, then the
    pool's zero padding. Slicing the slot gives bytes; it is rewritten only once the worker's
    result was read, so it is the task's while ``work`` runs, and no longer."""

    buffer: mmap.mmap
    size: int


def _serve(work: Callable[[Any, Any], Any], tasks: int, results: int,
           slot: mmap.mmap | None = None, pad: int = 0, lend: bool = False) -> None:
    while True:
        try:
            size, data_size, where = _TASK_HEADER.unpack(_read_exact(tasks, _TASK_HEADER.size))
        except EOFError:
            return
        task = pickle.loads(_read_exact(tasks, size))
        data: Any
        if where == _IN_SLOT and slot is not None:
            # The task's bytes and the zeros written after them, lent or copied.
            data = Lent(slot, data_size) if lend else slot[:data_size + pad]
        else:
            data = _read_exact(tasks, data_size) + bytes(pad)
        try:
            # A result's arrays go from their own memory into the pipe (analyzer.wire).
            parts, status = frame(work(task, data)), _DONE
        except Exception as error:  # the caller redoes the task and sees the real error
            parts, status = frame(f"{type(error).__name__}: {error}"), _FAILED
        write_parts(results, [status, *parts])


def _read_exact(fd: int, size: int) -> bytes:
    buffer = bytearray(size)
    filler(fd)(memoryview(buffer))
    return bytes(buffer)


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask, as containers set it)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1
