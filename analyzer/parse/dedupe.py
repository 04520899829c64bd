"""One record, counted once: the same log line read again from a rotated copy
(``waagent.log`` and ``waagent.log.1``) or a second collection of the same log.

A record is a repeat when a *different member* already had a record with the same timestamp
and message. Repeats inside one member are real (an agent can log the same line twice within
one timestamp) and always count; undated records cannot be matched and always count.

Whether a line copied into another *kind* of log is a repeat depends on the question:

* ``analyze`` counts events: ``CommandExecution.log`` copies the agent's lines about one
  extension, and the rules that read both logs must count such an event once
  (``per_kind=False``);
* ``parse --table records`` lists what each file holds: the copy is a record of its own log
  (``per_kind=True``).
"""

from __future__ import annotations

from array import array
from datetime import datetime
from typing import Any

from analyzer.parse.timeutil import micros_of
from analyzer.settings import DEFAULT_LIMITS

_MASK = (1 << 64) - 1
_MESSAGE_MULTIPLIER = 0x9E3779B97F4A7C15
_TIME_MULTIPLIER = 0xBF58476D1CE4E5B9
_KIND_MULTIPLIER = 0x94D049BB133111EB
MERGED_KEYS = 1 << 19
"""Earlier members' keys are merged into one sorted array up to this many (4 MiB)."""


def record_key(kind_hash: int, micros: int, message_hash: int) -> int:
    """The 64-bit key of a dated record: its time, the hash of its message bytes and (for
    ``per_kind``) of its kind, combined with odd multipliers modulo 2**64. The same
    arithmetic as :func:`record_keys`, one record at a time."""
    key = ((message_hash & _MASK) * _MESSAGE_MULTIPLIER + (micros & _MASK) * _TIME_MULTIPLIER
           + (kind_hash & _MASK) * _KIND_MULTIPLIER) & _MASK
    return key - (1 << 64) if key >> 63 else key


def record_keys(kind_hash: int, micros: Any, message_hashes: Any) -> Any:
    """:func:`record_key` of many records (numpy int64 arrays in, int64 keys out)."""
    import numpy as np

    kind_term = np.uint64((kind_hash & _MASK) * _KIND_MULTIPLIER & _MASK)
    keys = (np.asarray(message_hashes, dtype=np.int64).view(np.uint64)
            * np.uint64(_MESSAGE_MULTIPLIER)
            + np.asarray(micros, dtype=np.int64).view(np.uint64) * np.uint64(_TIME_MULTIPLIER)
            + kind_term)
    return keys.view(np.int64)


class FirstSighting:
    """Remembers which dated records earlier members held (8 bytes per record, for at most
    ``max_keys`` records: past them a record is still looked up but not remembered, and
    :attr:`unrecorded` counts it)."""

    def __init__(self, per_kind: bool = False,
                 max_keys: int = DEFAULT_LIMITS.max_dedupe_keys) -> None:
        self.per_kind = per_kind
        self.max_keys = max_keys
        self.kept = 0
        self.unrecorded = 0
        """Dated records read after the key cap was reached: a later copy of them counts."""
        self._member = ""
        self._current = array("q")
        """Keys of the member being read: 8 bytes each, no lookup needed (repeats inside one
        member count)."""
        self._current_span = _NO_SPAN
        """The earliest and latest POSIX microseconds among those keys."""
        self._earlier: list[Any] = []
        """Sorted numpy arrays of the keys of earlier members, each at least twice the size
        of the next up to :data:`MERGED_KEYS` (merging all of them at every member would sort
        everything read so far again and again)."""
        self._ordered: list[bool] = []
        """Per earlier array, whether it is sorted yet (:meth:`_searchable`)."""
        self._spans: list[tuple[int, int]] = []
        """Per earlier array, the earliest and latest time of its keys: a record outside
        that span cannot repeat one of them (its key holds its time), so rotated logs, which
        follow each other in time, are not searched at all."""
        self._scans: list[int] = []
        """Per earlier array: the passes over it while unsorted (:meth:`_scan_instead`)."""

    def _kind_hash(self, source_kind: str) -> int:
        return hash(source_kind) if self.per_kind else 0

    def is_first(self, source_kind: str, timestamp: datetime | None, message: str,
                 member: str) -> bool:
        if timestamp is None:
            return True
        return self.is_first_raw(source_kind, micros_of(timestamp),
                                 message.encode("utf-8", "surrogateescape"), member)

    def is_first_raw(self, source_kind: str, micros: int, message: bytes, member: str) -> bool:
        """:meth:`is_first` from POSIX microseconds and the message's bytes (the bulk path
        has those, not a datetime and a str; both give the same key)."""
        key = record_key(self._kind_hash(source_kind), micros, hash(message))
        if member != self._member:
            self._close_member(member)
        for index, (earliest, latest) in enumerate(self._spans):
            if not earliest <= micros <= latest:
                continue
            if self._scan_instead(index, 1):
                if bool((self._earlier[index] == key).any()):
                    return False
                continue
            earlier = self._searchable(index)
            at = int(earlier.searchsorted(key))
            if at < len(earlier) and earlier[at] == key:
                return False
        if self.kept < self.max_keys:
            self._current.append(key)
            self.kept += 1
            self._current_span = _widened(self._current_span, micros, micros)
        else:
            self.unrecorded += 1
        return True

    def first_of_many(self, source_kind: str, micros: Any, message_hashes: Any,
                      member: str) -> Any:
        """:meth:`is_first_raw` of many records of one member at once, from their times
        and the ``hash`` of their message bytes (numpy arrays): the same keys and answers,
        with no Python step per record."""
        import numpy as np

        micros = np.asarray(micros, dtype=np.int64)
        keys = record_keys(self._kind_hash(source_kind), micros, message_hashes)
        if member != self._member:
            self._close_member(member)
        first = np.ones(len(keys), dtype=bool)
        if self._earlier and len(keys):
            earliest, latest = int(micros.min()), int(micros.max())
            seen = np.zeros(len(keys), dtype=bool)
            for index, (low, high) in enumerate(self._spans):
                if latest < low or earliest > high:
                    continue  # no record of this chunk is as old as any of these keys
                inside = np.flatnonzero((micros >= low) & (micros <= high))
                # Searched in sorted order: numpy's binary search starts from the previous
                # answer, so the lookups walk the array once instead of jumping about it.
                ordered_at = inside[np.argsort(keys[inside])]
                ordered = keys[ordered_at]
                if self._scan_instead(index, len(ordered)):
                    seen[ordered_at] |= _held(self._earlier[index], ordered)
                    continue
                earlier = self._searchable(index)
                at = np.minimum(earlier.searchsorted(ordered), len(earlier) - 1)
                seen[ordered_at] |= earlier[at] == ordered
            first = ~seen
        # Remembered as one by one: the first sightings only (a repeat's key is known).
        new = keys[first]
        room = max(0, min(len(new), self.max_keys - self.kept))
        self._current.frombytes(new[:room].tobytes())
        if room:
            kept_times = micros[first][:room]
            self._current_span = _widened(self._current_span, int(kept_times.min()),
                                          int(kept_times.max()))
        self.kept += room
        self.unrecorded += len(new) - room
        return first

    def _close_member(self, member: str) -> None:
        """The member changed: its keys join the earlier keys (the compact form keeps
        memory at 8 bytes per dated candidate record, whatever the mix).

        A member whose times overlap no earlier member's (the next rotated log) is kept
        as it is, unsorted: it is sorted only if a later member's records fall in its span
        and search it. The others are sorted and merged."""
        import numpy as np

        if self._current:
            keys = np.frombuffer(self._current, dtype=np.int64)
            span = self._current_span
            self._current = array("q")  # freed before the merges below, not after
            earlier, spans, ordered = self._earlier, self._spans, self._ordered
            apart = all(span[1] < low or span[0] > high for low, high in spans)
            if apart and len(earlier) < _APART_ARRAYS:
                earlier.append(keys)
                spans.append(span)
                ordered.append(False)
                self._scans.append(0)
            else:
                keys = np.sort(keys)
                # A member no larger than the one before joins it: at most log2(members)
                # arrays to search, and each key is merged again only when its array
                # doubles. Arrays past MERGED_KEYS stay apart (about 2 * max_keys /
                # MERGED_KEYS of them): merging two of 2 million keys took 70 MB of
                # temporaries, the reader's peak.
                while (earlier and len(earlier[-1]) <= 2 * len(keys)
                       and len(earlier[-1]) + len(keys) <= MERGED_KEYS):
                    keys = _merged(self._searchable(len(earlier) - 1), keys)
                    earlier.pop()
                    ordered.pop()
                    self._scans.pop()
                    span = _widened(spans.pop(), *span)
                earlier.append(keys)
                spans.append(span)
                ordered.append(True)
                self._scans.append(0)
        self._member = member
        self._current = array("q")
        self._current_span = _NO_SPAN

    def _searchable(self, index: int) -> Any:
        """Earlier array ``index``, sorted (now, when it was kept unsorted)."""
        if not self._ordered[index]:
            self._earlier[index].sort()
            self._ordered[index] = True
        return self._earlier[index]

    def _scan_instead(self, index: int, wanted: int) -> bool:
        """Whether to look ``wanted`` keys up in earlier array ``index`` by one pass over
        it (:func:`_held`) rather than by sorting it. A small member (a backup extension's
        log of a few KB, read after 800,000 keys of agent logs in its time span) asked for a
        sort of every earlier array: 35 ms for 70 keys, where a pass over them took 2 ms. A
        pass is paid at every asking and a sort once, so an array that keeps being asked, or
        asked for many keys, is sorted."""
        if self._ordered[index]:
            return False
        size = len(self._earlier[index])
        if wanted * _SCAN_SHARE > size or self._scans[index] >= _MAX_SCANS:
            return False
        self._scans[index] += 1
        return True


def _held(keys: Any, wanted: Any) -> Any:
    """For each of ``wanted`` (sorted), whether ``keys`` (in any order) holds it: one pass
    over ``keys`` through a table of the low bits of ``wanted`` (keys are mixed hashes, so
    few others pass), and the few that pass placed among ``wanted`` by binary search."""
    import numpy as np

    if not len(wanted) or not len(keys):
        return np.zeros(len(wanted), dtype=bool)
    low_bits = np.zeros(_LOW_BITS_MASK + 1, dtype=bool)
    low_bits[wanted & _LOW_BITS_MASK] = True
    passing = keys[low_bits[keys & _LOW_BITS_MASK]]
    at = np.minimum(wanted.searchsorted(passing), len(wanted) - 1)
    return np.isin(wanted, passing[wanted[at] == passing])  # every copy of a wanted key


_LOW_BITS_MASK = (1 << 16) - 1


_SCAN_SHARE = 64
"""An unsorted earlier array is passed over for at most one key in this many of its own."""
_MAX_SCANS = 4
"""Passes over one unsorted earlier array before it is sorted after all."""
_APART_ARRAYS = 32
"""Members apart in time kept unmerged, at most: past them, arrays are merged again (a
record-path record checks every array's span)."""
_NO_SPAN = (1 << 63, -(1 << 63))
"""The span of no time at all (every time widens it)."""


def _widened(span: tuple[int, int], earliest: int, latest: int) -> tuple[int, int]:
    return min(span[0], earliest), max(span[1], latest)


def _merged(first: Any, second: Any) -> Any:
    """Two sorted key arrays as one sorted array. The merged array is the only allocation
    of their size (sorting their concatenation took three: the concatenation, the sorted
    copy and the radix sort's buffer), which was the reader's peak on a large bundle."""
    import numpy as np

    merged = np.empty(len(first) + len(second), dtype=np.int64)
    at = np.searchsorted(first, second, side="right") + np.arange(len(second))
    merged[at] = second
    taken = np.ones(len(merged), dtype=bool)
    taken[at] = False
    merged[taken] = first
    return merged
