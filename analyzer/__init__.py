"""waagent-analyzer: reads Azure Linux VM agent log bundles and says what is wrong."""

from __future__ import annotations

__version__ = "0.1.0"
