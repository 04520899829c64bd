"""How each kind of process uses memory (analyzer/heap.py): the merging parent gives freed
arrays back to the kernel, a planner keeps them, a heap kept that way fills in huge pages, and
the command collects cyclic garbage rarely.

glibc raises its mmap threshold each time a mapped block is freed, so the arrays of the next
member's merge came from the heap and stayed in the parent's RSS: a hit-heavy 600 MB bundle
left the parent at 141 MB. Each case runs in its own interpreter (the setting is per process).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

_PROBE = """
import sys
from analyzer import heap
if sys.argv[1] == "return":
    heap.return_freed_memory()
elif sys.argv[1] == "keep":
    heap.keep_freed_memory()

def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) // 1024

big = b"x" * (24 << 20)  # freed: glibc would now serve blocks under 24 MiB from its heap
del big
blocks = [b"%d" % i * (4 << 20) for i in range(16)]  # a member's merge: 64 MiB of arrays
pin = bytearray(1024)  # a live block allocated after them
before = rss_mb()
del blocks
print(before, rss_mb())
"""

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="glibc and /proc are Linux's")


def _rss_before_and_after_free(mode: str) -> tuple[int, int]:
    done = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, check=True, timeout=60)
    before, after = (int(x) for x in done.stdout.split())
    return before, after


def test_the_merging_parent_gives_freed_arrays_back() -> None:
    before, after = _rss_before_and_after_free("return")
    assert before - after >= 60, (before, after)


def test_a_planner_keeps_freed_buffers_for_its_next_task() -> None:
    before, after = _rss_before_and_after_free("keep")
    assert before - after < 8, (before, after)


_COUNT_COLLECTIONS = """
import atexit, gc, sys
import analyzer.cli
collections = []
gc.callbacks.append(lambda phase, info: collections.append(info) if phase == "stop" else None)
atexit.register(lambda: print("collections", len(collections), file=sys.stderr))
sys.argv = ["waagent-analyzer", "analyze", sys.argv[1], "--format", "json"]
analyzer.cli.run()
"""


def test_an_analysis_spends_no_time_collecting_garbage_it_never_makes() -> None:
    """The command's own process imports ~55,000 long-lived objects and merges what its
    children read: with Python's default of a collection per 700 new objects that was ~90
    collections (and one full one) that freed nothing. The bundle's findings still come."""
    bundle = REPO / "fixtures" / "bundles" / "exthandler-crash.tgz"
    done = subprocess.run([sys.executable, "-c", _COUNT_COLLECTIONS, str(bundle)],
                          capture_output=True, text=True, timeout=120, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, check=False)
    assert done.returncode == 1, done.stderr  # the bundle's findings
    assert json.loads(done.stdout)["findings"], "the bundle's findings are reported"
    counted = [line for line in done.stderr.splitlines() if line.startswith("collections ")]
    assert counted, done.stderr
    assert int(counted[-1].split()[1]) <= 2, counted


_TOUCH_40_MB = """
import resource, sys
from analyzer import heap
if sys.argv[1] == "huge":
    heap.keep_freed_memory()
else:  # the same allocator settings, without the huge-page heap
    heap._mallopt(heap._M_TRIM_THRESHOLD, heap._PLANNER_TRIM_BYTES)
    heap._mallopt(heap._M_MMAP_THRESHOLD, heap._PLANNER_MMAP_BYTES)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
chunks = [bytes([65 + i]) * (4 << 20) for i in range(10)]  # a reader's chunks in flight
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _transparent_huge_pages() -> str:
    try:
        text = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
    except OSError:
        return "never"
    return text[text.index("[") + 1:text.index("]")] if "[" in text else "never"


def _faults_touching_40_mb(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", _TOUCH_40_MB, mode], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, check=True,
                          timeout=60)
    return int(done.stdout)


def test_a_reader_or_planner_heap_fills_in_huge_pages() -> None:
    """40 MB of chunks in a process that keeps its freed memory: 10,000 faults of 4 KiB
    pages (~3 µs each here) without huge pages, 800 to 1,000 with them (the heap's top up to
    its first 2 MiB boundary stays in small pages). Where the kernel offers none, or gives
    them to every process anyway, the process still works and faults as it would have."""
    mode = _transparent_huge_pages()
    plain = _faults_touching_40_mb("plain")
    huge = _faults_touching_40_mb("huge")
    if mode == "madvise":  # huge pages only where asked for: this machine
        assert plain >= 9000, plain
        assert huge * 4 < plain, (plain, huge)
    elif mode == "never":
        assert huge >= 9000, (plain, huge)
    else:  # "always": the heap had them already
        assert huge <= plain + 500, (plain, huge)
