"""Batch runs over many bundles (local process pool or Dask) into Parquet, and the fleet view.

The names below are imported lazily: a worker process imports ``analyzer.batch.worker``, and
through this package, for every bundle; it must not pay for pyarrow or the runners.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BatchSummary", "expand_inputs", "run_batch", "summary"]

_LAZY = {
    "BatchSummary": "analyzer.batch.model",
    "expand_inputs": "analyzer.batch.inputs",
    "run_batch": "analyzer.batch.run",
    "summary": "analyzer.batch.view",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'analyzer.batch' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)
