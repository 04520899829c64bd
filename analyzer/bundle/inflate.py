"""The inflater used for gzip data: ISA-L when installed, zlib otherwise."""

from __future__ import annotations

import types
import zlib

inflate_module: types.ModuleType
INFLATE_ERRORS: tuple[type[BaseException], ...]
try:  # ISA-L inflates about twice as fast as zlib: the biggest single cost of a big bundle.
    from isal import isal_zlib as inflate_module

    INFLATE_ERRORS = (zlib.error, inflate_module.error)
except ImportError:  # pragma: no cover - isal is a dependency; zlib is the fallback
    inflate_module = zlib
    INFLATE_ERRORS = (zlib.error,)

