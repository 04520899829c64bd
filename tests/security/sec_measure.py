"""Run a command and record its peak RSS, measured cleanly.

``ru_maxrss`` survives ``fork``/``vfork`` + ``exec``: a child started straight from the test
process would report the *test process's* peak as its own. This small wrapper is that fresh
parent instead: the command is started from it, and ``os.wait4`` reports the command's peak
(the forked archive reader included, since the command waits for it).

    python sec_measure.py RESULT.json -- argv...

Writes ``{"rc": ..., "maxrss": <bytes>}`` to RESULT.json and exits with the command's code.
``SEC_MEASURE_RLIMITS='{"RLIMIT_CPU": [soft, hard]}'`` sets resource limits for the command
first (what ``ulimit`` or a systemd ``LimitCPU=`` would impose on the tool).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys


def main() -> int:
    result_path = sys.argv[1]
    if sys.argv[2] != "--":
        raise SystemExit("usage: sec_measure.py RESULT.json -- argv...")
    for name, (soft, hard) in json.loads(os.environ.pop("SEC_MEASURE_RLIMITS", "{}")).items():
        resource.setrlimit(getattr(resource, name), (soft, hard))
    proc = subprocess.Popen(sys.argv[3:])
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = code = os.waitstatus_to_exitcode(status)
    with open(result_path, "w", encoding="utf-8") as handle:
        json.dump({"rc": code, "maxrss": usage.ru_maxrss * 1024}, handle)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
