"""One frozen settings object with every limit the tool enforces on untrusted input.

The walker, the parsers and the reporters all read their caps from here, so tests can set
tiny limits and make bombs tiny and fast.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB


@dataclass(frozen=True)
class Limits:
    """Caps for reading one bundle. Every byte count is counted on real data, not header claims."""

    max_input_bytes: int = 1 * GiB
    """Size of the uploaded file itself (compressed)."""
    max_total_bytes: int = 2 * GiB
    """Decompressed bytes read from all members at all nesting levels."""
    max_member_bytes: int = 256 * MiB
    """Decompressed bytes of one log member."""
    max_xml_bytes: int = 16 * MiB
    """Bytes of one XML or JSON document."""
    max_nested_bytes: int = 200 * MiB
    """Bytes of one nested archive spooled for reading."""
    max_entries: int = 100_000
    """Archive headers / zip entries looked at, over the whole bundle."""
    max_members_read: int = 5_000
    """Members whose content is actually read."""
    max_depth: int = 3
    """Nesting depth: bundle -> logs.zip -> history/*.zip."""
    max_name_bytes: int = 4096
    max_name_components: int = 64
    max_line_bytes: int = 64 * KiB
    """Longer lines keep their first max_line_bytes bytes and are flagged truncated_line."""
    max_continuation_lines: int = 10_000
    """Continuation lines folded into one log record before it is cut."""
    max_record_bytes: int = 1 * MiB
    ratio_limit: int = 200
    """Archive-level expansion ratio (bytes out / bytes in) that marks a decompression bomb..."""
    ratio_floor_bytes: int = 64 * MiB
    """...once more than this many bytes came out."""
    xz_memlimit: int = 64 * MiB
    wall_seconds: float = 300.0
    """Wall-clock budget for reading one bundle (enforced by the isolating child process)."""
    worker_memory_bytes: int = 2 * GiB
    """Address-space limit of the child process that reads archives."""
    worker_cpu_seconds: int = 300
    max_table_rows: int = 50_000
    """Rows kept per table (files, extensions, goal_states, agent, config, snapshot_runs); a
    bomb of identical elements is cut here, and the report says how many rows were dropped."""
    max_timeline_events: int = 10_000
    """Dated events kept for the timeline and the backup-run pairing."""
    max_problems_per_kind: int = 100
    """Problem lines listed per kind (the text before the first ``:``); the rest are counted."""
    max_sequence_starts: int = 200_000
    """Starts a sequence check keeps as time/group/line (12 bytes each) per check."""
    max_dedupe_keys: int = 4_194_304
    """Dated records whose key (8 bytes each) record de-duplication keeps to recognise their
    repeats in a rotated copy read later; the records past it still find their own earlier
    copies, but their repeats count again (more hits, never fewer), and the report says so."""
    max_exact_hits: int = 262_144
    """Hits a log check keeps with their own time (12 bytes each); past it, they are counted
    per minute and group (a window then counts the minute it starts in whole). Checks with a
    ``near`` join, and the records of a guard shorter than a minute, keep every hit."""
    max_group_samples: int = 200
    """Full records a grouped log check keeps, one per group, as evidence."""
    sequence_samples: int = 20
    """Full records a sequence check keeps as evidence: this many first, last and sampled."""

    def with_overrides(self, **changes: Any) -> Limits:
        return replace(self, **changes)

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


DEFAULT_LIMITS = Limits()
