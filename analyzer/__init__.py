"""waagent-analyzer: reads Azure Linux VM agent log bundles and says what is wrong."""

from __future__ import annotations

import os

# numpy's OpenBLAS starts a thread per core when it is imported, and that thread spins: about
# 80 ms of a second core at every start (0.1 s of a large analysis's CPU, taken from the
# planners). Nothing here uses BLAS. A value the user set stays.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
