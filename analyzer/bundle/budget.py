"""``Budget``: the counters shared by every reader of one walk, and the one place where the
bundle-wide limits (entries, members read, total bytes, expansion ratio, depth) are decided."""

from __future__ import annotations

from analyzer.errors import BudgetExceeded, Problem
from analyzer.settings import Limits


class WalkStopped(BudgetExceeded):
    """A bundle-wide budget was hit: the walk stops (the problem is already recorded)."""



def format_bytes(count: int) -> str:
    """Human-readable byte count.

    >>> format_bytes(1000), format_bytes(256 * 1024 * 1024), format_bytes(1536)
    ('1000 B', '256 MiB', '1.5 KiB')
    """
    if count < 1024:
        return f"{count} B"
    value = float(count)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            text = f"{value:.1f}".removesuffix(".0")
            return f"{text} {unit}"
    raise AssertionError("unreachable")


class Budget:
    """Counters shared by every reader of one walk.

    Bytes are counted where they are produced, never taken from headers:

    * ``bytes_in``: raw bytes read from the input (file, directory files, ``walk_bytes`` data);
    * ``expanded``: bytes produced by any decompressor (outer tar.gz/xz stream, gzip members,
      deflated zip entries); ``expanded / bytes_in`` is the archive-level expansion ratio;
    * ``total_out``: member bytes delivered to consumers or spooled for nested archives
      (``max_total_bytes``).
    """

    def __init__(self, limits: Limits, problems: list[Problem], root: str) -> None:
        self.limits = limits
        self.problems = problems
        self.root = root
        self.bytes_in = 0
        self.expanded = 0
        self.total_out = 0
        self.entries = 0
        self.members_read = 0
        self.stop_reason: str | None = None
        self.input_size = 0
        """Size of the input file (0 for a directory), set by the walker once it is checked."""
        self._recorded: set[tuple[str, str]] = set()

    # -- problems ------------------------------------------------------------------------
    def problem(self, member: str, message: str) -> bool:
        """Record a problem once; returns False when the same one was already recorded."""
        key = (member, message)
        if key in self._recorded:
            return False
        self._recorded.add(key)
        self.problems.append(Problem(member, message))
        return True

    def stop(self, member: str, message: str) -> WalkStopped:
        """Record a bundle-wide stop and return the exception to raise."""
        if self.stop_reason is None:
            self.stop_reason = message
            self.problem(member, message)
        return WalkStopped(f"{member}: {self.stop_reason}")

    def check_running(self) -> None:
        if self.stop_reason is not None:
            raise WalkStopped(f"{self.root}: {self.stop_reason}")

    # -- counters ------------------------------------------------------------------------
    def count_entry(self, where: str) -> None:
        """One more archive header / zip entry / directory entry looked at."""
        self.entries += 1
        if self.entries > self.limits.max_entries:
            raise self.stop(where, f"stopped: more than {self.limits.max_entries} entries")

    def count_entries(self, count: int) -> None:
        self.entries += count

    def remaining_entries(self) -> int:
        return max(self.limits.max_entries - self.entries, 0)

    def count_member_read(self, where: str) -> None:
        """One more member whose content is read."""
        self.check_running()
        self.members_read += 1
        if self.members_read > self.limits.max_members_read:
            raise self.stop(
                where, f"stopped: more than {self.limits.max_members_read} members read"
            )

    def add_in(self, count: int) -> None:
        self.bytes_in += count

    def add_expanded(self, count: int, where: str) -> None:
        self.expanded += count
        limits = self.limits
        if self.expanded > limits.ratio_floor_bytes and self.expanded > limits.ratio_limit * max(
            self.bytes_in, 1
        ):
            raise self.stop(
                where,
                "stopped: possible decompression bomb "
                f"({format_bytes(self.expanded)} from {format_bytes(self.bytes_in)} of input, "
                f"ratio limit {limits.ratio_limit}:1)",
            )

    def expansion_room(self) -> int:
        """Bytes decompressors may still produce before the expansion-ratio stop must fire,
        even if every byte of the input were read: the most a compressed stream can still
        deliver to the walk."""
        limits = self.limits
        bytes_in = max(self.input_size, self.bytes_in, 1)
        return max(limits.ratio_floor_bytes, limits.ratio_limit * bytes_in) - self.expanded

    def remaining_total(self) -> int:
        return max(self.limits.max_total_bytes - self.total_out, 0)

    def add_out(self, count: int) -> None:
        self.total_out += count

    def total_exceeded(self, where: str) -> WalkStopped:
        return self.stop(
            where,
            f"stopped: total decompressed bytes reached the limit "
            f"{format_bytes(self.limits.max_total_bytes)}",
        )

    def check_depth(self, level: int, where: str) -> bool:
        """True when an archive at nesting ``level`` (input = 1) may be opened."""
        if level > self.limits.max_depth:
            self.problem(
                where, f"skipped: nested archive depth {level} exceeds {self.limits.max_depth}"
            )
            return False
        return True
