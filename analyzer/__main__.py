from __future__ import annotations

from analyzer.cli import run

if __name__ == "__main__":
    run()
