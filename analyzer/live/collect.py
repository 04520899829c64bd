"""Build a redacted ``bundle.tar.gz`` from a live VM, safe to attach to a support ticket.

It takes the same files the agent's own log collector takes in its *normal* mode (see
``NORMAL_MANIFEST``), adds ``self-check.json`` at the archive root, and never lets a secret in:

* certificate and key files, ``ovf-env.xml``, ``CustomData`` and RemoteAccess documents are
  never read, whatever pattern matched them (``secret_file_reason``);
* ``protectedSettings`` is deleted from JSON settings and masked in XML/text;
* every text file goes through ``analyzer.redact`` (SAS tokens, passwords, PEM blocks);
* the result is scanned again (``surviving_secret``); a file in which anything still looks
  like a secret is dropped instead of shipped (fail closed);
* files that cannot be redacted (binary, unknown archives) are skipped.

Reading is defensive too: paths are opened component by component with ``O_NOFOLLOW`` from a
directory descriptor of ``root``, so no symbolic link is ever followed (not even one swapped in
while we run), only regular files are read (FIFOs and devices are skipped, never opened for
blocking reads), and sizes are capped like the agent's collector does (30 MB per file, logs
keep their tail; 150 MB in total).

The tarball is deterministic for the same input: sorted names without a leading ``/``,
uid/gid 0, no user names, mode 0644, gzip header without name or time.

The collector is ``analyzer/onvm/collect.py``, the one implementation, which the on-VM zipapp
runs on the VM's own Python 3.6+ too. This module gives it the full tool's redactor
(``analyzer.redact``) and its history-zip reader, which reads the zip with every check of the
bundle walker; the zipapp, without the walker, reads history zips with ``zipfile`` and its own
entry checks. It also types the limits and the summary.
"""

from __future__ import annotations

import io
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from analyzer import redact
from analyzer.onvm import collect as onvm_collect
from analyzer.onvm.collect import (
    ARCHIVE_SUFFIXES,
    DEFAULT_BUNDLE_NAME,
    MANIFEST,
    SELF_CHECK_NAME,
    Unsafe,
    secret_file_reason,
    surviving_secret,
)
from analyzer.onvm.specs import secret_reason

__all__ = [
    "ARCHIVE_SUFFIXES",
    "DEFAULT_BUNDLE_NAME",
    "DEFAULT_COLLECT_LIMITS",
    "MANIFEST",
    "SELF_CHECK_NAME",
    "CollectEntry",
    "CollectLimits",
    "CollectSummary",
    "archive_format",
    "collect",
    "iter_archive_names",
    "secret_file_reason",
    "surviving_secret",
]

MiB = onvm_collect.MiB


@dataclass(frozen=True)
class CollectLimits:
    max_file_bytes: int = 30 * MiB
    """Per file, like the agent's collector: bigger logs keep their tail, others are skipped."""
    max_total_bytes: int = 150 * MiB
    """Uncompressed bytes in the archive; files past it are skipped (lowest priority last)."""
    max_files: int = 5000
    max_gzip_bytes: int = 512 * MiB
    """Decompressed bytes read from one rotated ``.gz`` log before it is given up on."""
    max_zip_entries: int = 500
    max_zip_bytes: int = 64 * MiB
    """Decompressed bytes read from one goal-state history zip."""


DEFAULT_COLLECT_LIMITS = CollectLimits()


@dataclass
class CollectEntry:
    path: str
    detail: str


@dataclass
class CollectSummary:
    output: Path
    included: list[CollectEntry] = field(default_factory=list)
    skipped: list[CollectEntry] = field(default_factory=list)
    redacted: list[CollectEntry] = field(default_factory=list)
    total_bytes: int = 0
    """Uncompressed bytes stored in the archive."""


def archive_format(output: Path) -> str:
    """``tar.gz`` or ``zip`` as the output's name says (a folder gets ``bundle.tar.gz``);
    ValueError for a name whose format we cannot write, before any work."""
    fmt: str = onvm_collect.archive_format(str(output))
    return fmt


def collect(
    root: Path,
    output: Path,
    *,
    since_days: int | None,
    self_check_json: bytes | None,
    limits: CollectLimits = DEFAULT_COLLECT_LIMITS,
    now: float | None = None,
) -> CollectSummary:
    """Write the redacted bundle to ``output`` (a ``.tar.gz`` or ``.zip`` path, or an existing
    directory, which gets ``bundle.tar.gz``) and say what went in, what was redacted and what
    was left out. ``since_days`` leaves out rotated logs and archived goal states not modified
    in that many days; current files are always taken."""
    done = onvm_collect.collect(
        str(root), str(output), since_days, self_check_json, now=now, limits=asdict(limits),
        redactor=redact, rebuild_zip=_rebuild_history_zip,
    )
    return CollectSummary(
        output=Path(done["output"]),
        included=[CollectEntry(p, d) for p, d in done["included"]],
        skipped=[CollectEntry(p, d) for p, d in done["skipped"]],
        redacted=[CollectEntry(p, d) for p, d in done["redacted"]],
        total_bytes=done["total_bytes"],
    )


Cleaner = Callable[[str, bytes], tuple[bytes, list[str]]]


def _rebuild_history_zip(
    data: bytes, path: str, limits: dict[str, int], clean: Cleaner
) -> tuple[bytes, list[str]]:
    """Copy a goal-state history zip member by member, dropping and redacting like files.

    The zip is read by the bundle walker, with every check ``analyze`` makes (structure,
    overlaps, prepended data, names, links, CRC, byte and entry budgets); no nested archive is
    opened. A zip the walker refuses, or one that does not fit the limits, is left out whole."""
    from analyzer.bundle.model import SourceKind
    from analyzer.bundle.walker import walk_bytes
    from analyzer.errors import BundleError, InputRejected, Problem
    from analyzer.settings import Limits

    walk_limits = Limits(
        max_input_bytes=max(len(data), 1),
        max_total_bytes=limits["max_zip_bytes"],
        max_member_bytes=limits["max_file_bytes"],
        max_xml_bytes=limits["max_file_bytes"],
        max_nested_bytes=limits["max_file_bytes"],
        max_entries=limits["max_zip_entries"],
        max_members_read=limits["max_zip_entries"],
        max_depth=1,
    )
    problems: list[Problem] = []
    notes: list[str] = []
    out = io.BytesIO()
    name = path.rsplit("/", 1)[-1]
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        try:
            for member in walk_bytes(data, name, walk_limits, problems):
                inner = member.provenance.split("!", 1)[-1]
                if member.kind == SourceKind.SECRET:
                    notes.append(f"{inner} left out: {secret_reason(inner)}")
                    continue
                if member.kind == SourceKind.ARCHIVE or member.opener is None:
                    notes.append(f"{inner} left out: nested archive")
                    continue
                try:
                    with member.open() as stream:
                        content = stream.read()
                except BundleError as exc:
                    notes.append(f"{inner} left out: unreadable ({exc})")
                    continue
                if member.problems:
                    notes.append(f"{inner} left out: {member.problems[0]}")
                    continue
                try:
                    clean_data, member_notes = clean(inner, content)
                except Unsafe as exc:
                    notes.append(f"{inner} left out: {exc}")
                    continue
                notes.extend(f"{inner}: {note}" for note in member_notes)
                stamp = onvm_collect.zip_time(member.mtime)
                target.writestr(onvm_collect.zip_info(member.logical_path, stamp), clean_data)
        except InputRejected as exc:
            raise Unsafe(f"bad zip file ({exc})") from None
    for problem in problems:
        if problem.message.startswith(("stopped:", "rejected:")):
            raise Unsafe(f"zip left out: {problem.message}")
        inner = problem.member.split("!", 1)[-1]
        note = f"{inner} left out: {problem.message}"
        if note not in notes and not any(n.startswith(f"{inner} left out") for n in notes):
            notes.append(note)
    return out.getvalue(), notes


def iter_archive_names(path: Path) -> Iterator[str]:
    """Names stored in a bundle written by ``collect`` (used by tests and the CLI listing)."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            yield from archive.namelist()
        return
    with tarfile.open(path, "r:gz") as tar:
        for member in tar:
            yield member.name
