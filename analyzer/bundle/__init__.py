"""Untrusted input -> members with provenance. Imports neither pandas nor typer.

>>> from analyzer.bundle import walk, Member, SourceKind
"""

from __future__ import annotations

from .model import Member, SourceKind
from .walker import walk, walk_bytes, walk_root

__all__ = ["Member", "SourceKind", "walk", "walk_bytes", "walk_root"]
