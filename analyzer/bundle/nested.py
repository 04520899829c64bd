"""Nested archives (``logs.zip`` inside the bundle): spooled to memory or a private temp dir,
checked for self-containment, then walked like the input."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator

from analyzer.errors import BudgetExceeded, BundleError

from . import names
from .budget import WalkStopped, format_bytes
from .classify import strip_archive_suffix
from .model import PROVENANCE_SEPARATOR, Member
from .read_errors import describe_read_error
from .sniff import SNIFF_BYTES, InputFormat, sniff_head
from .sources import Source
from .streams import CHUNK, BoundedReader
from .walk_base import MEMBER_ERRORS, ArchiveError, Ctx, WalkerBase, add_member_problem

SPOOL_MEMORY_BYTES = 4 * 1024 * 1024
"""Nested archives up to this size stay in memory; bigger ones spill to the private temp dir."""


class NestedReading(WalkerBase):
    """The nested-archive part of the walker."""

    _tmpdir: tempfile.TemporaryDirectory[str] | None = None

    def _spool_dir(self) -> str:
        if self._tmpdir is None:
            # Private (0700) directory; files in it get generated names only.
            self._tmpdir = tempfile.TemporaryDirectory(prefix="waagent-analyzer-")
        return self._tmpdir.name

    def walk_nested(self, ctx: Ctx, member: Member, source: Source) -> Iterator[Member]:
        prov = member.provenance
        level = ctx.level + 1
        if not self.budget.check_depth(level, prov):
            return
        self.budget.count_member_read(prov)
        try:
            raw = source.open_raw()
        except (WalkStopped, BudgetExceeded):
            raise
        except MEMBER_ERRORS as exc:
            self.member_problem(member, describe_read_error(exc))
            return
        limit = self.limits.max_nested_bytes
        reader = BoundedReader(
            raw,
            limit,
            self.budget,
            prov,
            cap_message=f"skipped: nested archive larger than limit {format_bytes(limit)}",
            on_problem=lambda message: add_member_problem(member, message),
        )
        digest = hashlib.sha256()
        try:
            # Entered as a context manager right below, once creation has succeeded.
            spool = tempfile.SpooledTemporaryFile(  # noqa: SIM115
                max_size=SPOOL_MEMORY_BYTES, dir=self._spool_dir()
            )
        except OSError as exc:
            reader.close()
            self.member_problem(member, f"skipped: cannot spool nested archive ({exc.strerror})")
            return
        with spool:
            try:
                while True:
                    chunk = reader.read(CHUNK)
                    if not chunk:
                        break
                    digest.update(chunk)
                    spool.write(chunk)
            except WalkStopped:
                raise
            except BudgetExceeded:
                return  # over the nested-archive cap: recorded by the reader
            except BundleError as exc:
                self.member_problem(member, names.escape_text(str(exc)))
                return
            except OSError as exc:  # writing the spool (disk full)
                message = names.escape_text(exc.strerror or str(exc))
                self.member_problem(member, f"skipped: cannot spool nested archive ({message})")
                return
            finally:
                reader.close()
            hashed = digest.digest()
            if hashed in ctx.ancestors:
                self.member_problem(
                    member, "skipped: recursive archive (same content as an enclosing archive)"
                )
                return
            spool.seek(0)
            head = spool.read(SNIFF_BYTES)
            spool.seek(0)
            try:
                fmt = sniff_head(head, self.limits).format
            except BudgetExceeded as exc:
                self.member_problem(member, f"skipped: {exc}")
                return
            if fmt == InputFormat.BZIP2:
                self.member_problem(member, "skipped: unsupported compression (bzip2)")
                return
            if fmt not in InputFormat.ARCHIVES:
                self.member_problem(member, "skipped: not a recognised archive")
                return
            child = Ctx(
                prov,
                level,
                PROVENANCE_SEPARATOR,
                strip_archive_suffix(member.logical_path),
                (*ctx.ancestors, hashed),
                backslash_separator=fmt == InputFormat.ZIP,
            )
            try:
                yield from self.walk_archive(spool, fmt, child)
            except ArchiveError as exc:
                self.member_problem(member, exc.message)
