"""Test harnesses that drive the whole tool (they may import the pipeline; the engine may not)."""
