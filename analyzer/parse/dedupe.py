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


class FirstSighting:
    """Remembers which dated records earlier members held (8 bytes per record)."""

    def __init__(self, per_kind: bool = False) -> None:
        self.per_kind = per_kind
        self._member = ""
        self._current = array("q")
        """Keys of the member being read: 8 bytes each, no lookup needed (repeats inside one
        member count)."""
        self._earlier: Any = None
        """Sorted numpy array of the keys of every earlier member."""

    def is_first(self, source_kind: str, timestamp: datetime | None, message: str,
                 member: str) -> bool:
        if timestamp is None:
            return True
        return self.is_first_raw(source_kind, timestamp.timestamp(),
                                 message.encode("utf-8", "surrogateescape"), member)

    def is_first_raw(self, source_kind: str, time: float, message: bytes, member: str) -> bool:
        """:meth:`is_first` from POSIX seconds and the message's bytes (the bulk path has
        those, not a datetime and a str; both paths give the same key)."""
        key = hash((source_kind if self.per_kind else "", time, message))
        if member != self._member:
            self._close_member(member)
        earlier = self._earlier
        if earlier is not None and len(earlier):
            at = int(earlier.searchsorted(key))
            if at < len(earlier) and earlier[at] == key:
                return False
        self._current.append(key)
        return True

    def first_of_many(self, source_kind: str, times: list[float], messages: list[bytes],
                      member: str) -> list[bool]:
        """:meth:`is_first_raw` of many records of one member at once (one numpy lookup
        instead of one per record; the same keys and the same answers)."""
        import numpy as np

        kind = source_kind if self.per_kind else ""
        keys = [hash((kind, time, message)) for time, message in zip(times, messages,
                                                                     strict=True)]
        if member != self._member:
            self._close_member(member)
        self._current.extend(keys)
        earlier = self._earlier
        if earlier is None or not len(earlier) or not keys:
            return [True] * len(keys)
        found = np.asarray(keys, dtype=np.int64)
        at = np.minimum(earlier.searchsorted(found), len(earlier) - 1)
        return (earlier[at] != found).tolist()  # type: ignore[no-any-return]

    def _close_member(self, member: str) -> None:
        """The member changed: its keys join the sorted earlier keys (the compact form keeps
        memory at 8 bytes per dated candidate record, whatever the mix)."""
        import numpy as np

        if self._current:
            keys = np.unique(np.frombuffer(self._current, dtype=np.int64))
            self._earlier = keys if self._earlier is None else np.union1d(self._earlier, keys)
        self._member = member
        self._current = array("q")
