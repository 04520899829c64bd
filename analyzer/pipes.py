"""What to do when the reader of our standard output goes away (``analyze ... | head``)."""

from __future__ import annotations

import os
import sys


def silence_stdout() -> None:
    """After a closed pipe: point stdout at /dev/null so the interpreter's final flush does
    not raise again, and let the command end with its normal exit code."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
