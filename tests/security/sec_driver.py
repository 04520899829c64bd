"""Run ``analyzer.pipeline.analyze_path`` with custom ``Limits`` the way the CLI would.

The CLI has no limit flags, so rows that need a budget hit quickly (a 1-second wall clock, a
small worker memory limit) go through this driver, in a subprocess of its own: memory and time
are measured exactly as for the CLI, and isolation (the forked reader) stays on.

    python sec_driver.py '{"path": "...", "limits": {"wall_seconds": 1.0}}'

Prints the JSON report (``--format json`` shape) on stdout and exits like the CLI:
0 clean, 1 findings at or above ``high``, 3 input rejected, 4 internal error.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def main() -> int:
    from analyzer.errors import AnalyzerError
    from analyzer.pipeline import AnalyzeOptions, analyze_path
    from analyzer.report import get_renderer
    from analyzer.report.model import SEVERITY_RANK
    from analyzer.report.sanitize import for_terminal
    from analyzer.settings import Limits

    args = json.loads(sys.argv[1])
    limits = Limits(**args.get("limits", {}))
    options = AnalyzeOptions(limits=limits, isolate=args.get("isolate", True),
                             rule_dirs=[Path(p) for p in args.get("rule_dirs", [])])
    try:
        analysis = analyze_path(Path(args["path"]), options)
    except AnalyzerError as error:
        sys.stderr.write(for_terminal(f"error: {error}") + "\n")
        return error.exit_code
    except Exception:  # a bug: the CLI maps it to 4 as well
        import traceback

        sys.stderr.write(traceback.format_exc())
        return 4
    report = analysis.report
    sys.stdout.write(get_renderer(args.get("format", "json")).render(report))
    worst = report.worst_severity
    return 1 if worst is not None and SEVERITY_RANK[worst] >= SEVERITY_RANK["high"] else 0


if __name__ == "__main__":
    sys.exit(main())
