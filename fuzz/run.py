"""Run the fuzz harnesses: one command for all of them.

    python fuzz/run.py                      # every harness, 600 s each, 2 at a time
    python fuzz/run.py --time 60 walker     # one harness, one minute

Seeds are generated into ``fuzz/corpus/<harness>/`` (the fuzzer grows the corpus there),
crash/timeout/OOM reproducers land in ``fuzz/artifacts/<harness>/``, logs in
``fuzz/out/<harness>.log``. libFuzzer flags used: ``-max_total_time`` (the budget),
``-rss_limit_mb=2048`` (an allocation bomb becomes a finding), ``-timeout=20`` (a hang
becomes a finding), ``-max_len`` (input size). Already-reported bugs listed in
``KNOWN_BUGS`` are stepped over so a long run can find new ones; ``--strict`` disables that.
Exit status 1 when any harness reported a finding.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
HARNESSES = {
    "walker": ("fuzz_walker.py", 65536),
    "logparser": ("fuzz_logparser.py", 65536),
    "xml": ("fuzz_xml.py", 65536),
}
# Names of already-reported crashes the harnesses may step over (re2-surrogates: fixed).
KNOWN_BUGS = ""
_STATS = re.compile(
    r"^#(\d+)\s+(?:DONE|pulse|NEW|REDUCE|INITED)\s+cov: (\d+) ft: (\d+) corp: (\S+)"
)


def command(name: str, seconds: int, extra: list[str]) -> list[str]:
    script, max_len = HARNESSES[name]
    artifacts = HERE / "artifacts" / name
    artifacts.mkdir(parents=True, exist_ok=True)
    return [sys.executable, str(HERE / script), str(HERE / "corpus" / name),
            f"-max_total_time={seconds}", "-rss_limit_mb=2048", "-timeout=20",
            f"-max_len={max_len}", f"-artifact_prefix={artifacts}/", "-print_final_stats=1",
            *extra]


def summary(log: Path) -> str:
    last = ""
    for line in log.read_text(errors="replace").splitlines():
        match = _STATS.match(line)
        if match:
            last = f"{match.group(1)} execs, cov {match.group(2)}, ft {match.group(3)}, " \
                   f"corpus {match.group(4)}"
    crashed = "==ERROR" in log.read_text(errors="replace") or "Test unit written" in \
        log.read_text(errors="replace")
    return f"{last or 'no stats'}; {'FINDING (see log/artifacts)' if crashed else 'no findings'}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("harness", nargs="*", default=list(HARNESSES), choices=list(HARNESSES))
    parser.add_argument("--time", type=int, default=600, help="seconds per harness")
    parser.add_argument("--jobs", type=int, default=2, help="harnesses run at the same time")
    parser.add_argument("--strict", action="store_true", help="do not step over known bugs")
    parser.add_argument("libfuzzer_flags", nargs=argparse.REMAINDER)
    args = parser.parse_args()

    subprocess.run([sys.executable, str(HERE / "make_seeds.py"), str(HERE / "corpus")],
                   check=True)
    (HERE / "out").mkdir(exist_ok=True)
    env = dict(os.environ)
    if not args.strict:
        env["FUZZ_KNOWN_BUGS"] = KNOWN_BUGS
    pending = list(args.harness)
    running: list[tuple[str, subprocess.Popen[bytes], Path, float]] = []
    failed = False
    while pending or running:
        while pending and len(running) < args.jobs:
            name = pending.pop(0)
            log = HERE / "out" / f"{name}.log"
            argv = command(name, args.time, args.libfuzzer_flags)
            print(f"[{name}] {' '.join(argv)}", flush=True)
            with log.open("wb") as handle:
                proc = subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT, env=env,
                                        cwd=HERE)
            running.append((name, proc, log, time.monotonic()))
        time.sleep(1)
        for item in list(running):
            name, proc, log, start = item
            if proc.poll() is None:
                continue
            running.remove(item)
            failed |= proc.returncode != 0
            print(f"[{name}] exit {proc.returncode} after {time.monotonic() - start:.0f} s: "
                  f"{summary(log)}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
