"""How each kind of process uses memory: glibc's large freed blocks, huge pages, and how
often Python's cyclic garbage collector runs.

glibc serves a block of at least ``M_MMAP_THRESHOLD`` bytes with its own mapping and unmaps
it on free; but each such free raises the threshold to the block's size (up to 32 MiB), so
later blocks of that size come from the heap, where a freed block below a live one is never
given back. Our two kinds of process want opposite things:

* a chunk planner frees and allocates the same few 4 MB buffers for every task, and so does
  the isolated reader (it joins each chunk from the decompressor's pieces and frees it once
  its plan is applied): they should stay in the heap (:func:`keep_freed_memory`);
* the parent that merges each member's match store frees tens of MB of arrays per member:
  they should go back to the kernel (:func:`return_freed_memory`), or its RSS keeps the
  largest merge of the run.

A heap kept that way is also backed by transparent huge pages (:func:`_huge_page_heap`). Not
glibc (or not Linux): nothing to do. The command's processes run the garbage collector
rarely (:func:`collect_garbage_rarely`), whatever their kind.
"""

from __future__ import annotations

import contextlib
import gc
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_PLANNER_TRIM_BYTES = 256 << 20
_PLANNER_MMAP_BYTES = 32 << 20
"""glibc's largest mmap threshold on 64 bits (a larger value is refused)."""
_MERGER_MMAP_BYTES = 256 << 10
"""Fixed (a set threshold no longer moves): every array of 256 KiB or more is a mapping of
its own, unmapped when freed."""


def _mallopt(option: int, value: int) -> None:
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).mallopt(option, value)  # the C library the interpreter runs on


def keep_freed_memory() -> None:
    """Large freed blocks stay in this process's heap (measured on 200 MB of logs: 0.13 s
    less system time over two planners, their peak RSS unchanged; in the reader too, 4-10%
    less wall time, its peak RSS +6 MB on the marker-heavy mix, unchanged at 611 MB of
    hit-heavy logs), and the heap is backed by huge pages (:func:`_huge_page_heap`)."""
    _mallopt(_M_TRIM_THRESHOLD, _PLANNER_TRIM_BYTES)
    _mallopt(_M_MMAP_THRESHOLD, _PLANNER_MMAP_BYTES)
    _huge_page_heap()


HUGE_HEAP_BYTES = 90 << 20
"""The heap grown (and madvised) up front: the reader's grows by ~45 MB on the hit-heavy
mix; a planner's and the evaluation child's by less."""
_HUGE_HEAP_BLOCK = 30 << 20
"""Below the mmap threshold :func:`keep_freed_memory` sets, so glibc serves it from the
heap."""
_HUGE_PAGE = 2 << 20


def _huge_page_heap() -> None:
    """Grows the heap by :data:`HUGE_HEAP_BYTES` and asks the kernel for transparent huge
    pages there (``madvise(MADV_HUGEPAGE)``); the blocks are freed again at once and, the
    trim threshold being high, stay in the heap, where the process's own large buffers then
    come from.

    Each first touch of a 4 KiB page is a fault, ~3 µs on this VM: the reader took 20,000
    on the hit-heavy mix (15,700 in its first member, while the planners wait for it), a
    planner 7,000 to 8,000. A 2 MiB page is one fault. With this the reader takes 11,000
    (the rest: pages it shares with its parent, written for the first time). The process's
    peak RSS did not change (the buffers fill their pages). Only the address space is
    reserved up front (the memory limit counts it; the buffers would have taken it anyway).

    Where the kernel has no transparent huge pages (``never``), the C library is not glibc
    or an allocation fails, nothing changes but that."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import mmap

    advice = getattr(mmap, "MADV_HUGEPAGE", None)
    if advice is None:
        return
    try:
        libc = ctypes.CDLL(None)
        malloc, free, madvise = libc.malloc, libc.free, libc.madvise
    except (OSError, AttributeError):
        return
    malloc.restype = ctypes.c_void_p
    malloc.argtypes = [ctypes.c_size_t]
    free.argtypes = [ctypes.c_void_p]
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    blocks = [malloc(_HUGE_HEAP_BLOCK) for _ in range(HUGE_HEAP_BYTES // _HUGE_HEAP_BLOCK)]
    try:
        held = [block for block in blocks if block]
        if not held:
            return
        # Whole 2 MiB pages inside the span: one block after the other at the heap's top.
        start = -(-min(held) // _HUGE_PAGE) * _HUGE_PAGE
        end = (max(held) + _HUGE_HEAP_BLOCK) // _HUGE_PAGE * _HUGE_PAGE
        if end - start <= (len(held) + 1) * _HUGE_HEAP_BLOCK:  # contiguous, not scattered
            madvise(start, end - start, advice)  # an error (no THP) changes nothing
    finally:
        for block in reversed(blocks):
            if block:
                free(block)


def return_freed_memory() -> None:
    """Large freed blocks go back to the kernel at once."""
    _mallopt(_M_MMAP_THRESHOLD, _MERGER_MMAP_BYTES)


YOUNG_OBJECTS_BEFORE_COLLECTING = 100_000
"""Python's default is 700."""


def collect_garbage_rarely() -> None:
    """The cyclic garbage collector looks at the youngest objects once 100,000 container
    objects more are alive (not 700); the older generations follow at Python's ratios.

    Our objects are almost never cyclic (refcounting frees them), so each collection found
    nothing and cost its traversal: on the marker-heavy mix ~77 ms of CPU over the run's
    processes (~15 ms of it while the interpreter imports, before any work; one full
    collection of ~25 ms in the parent), ~61 ms on the standard mix, 0 with this. The
    processes forked later keep the setting. A cycle that does become garbage is freed
    once 100,000 more objects have come instead of 700 (peak RSS did not change)."""
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_OBJECTS_BEFORE_COLLECTING, older, oldest)
