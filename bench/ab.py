"""Two versions of the analyzer, run in turn on the benchmark's inputs (a contributor tool).

This VM's speed drifts by 15 to 40% within an hour, so comparing two runs of
``bench/run.py`` says little about a change of a few percent. Here the two versions take
turns on the same inputs, round after round, and the floor (``tar -xzOf`` plus ``gzip -dc``
of the rotated members) is measured between them::

    python bench/ab.py HEAD~3                      # HEAD~3 against the working tree
    python bench/ab.py v1 v2 --mixes hit-heavy --rounds 7

A revision is checked out into a temporary ``git worktree`` (removed afterwards); ``.``
stands for the working tree as it is. The bundles are those of ``bench/run.py`` (built into
its cache when missing). Printed per mix and version: best and median wall time, best and
median CPU of the whole process tree, and the best wall time over the floor.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench

WORKING_TREE = "."


@contextlib.contextmanager
def checked_out(revision: str) -> Iterator[Path]:
    """A tree holding ``revision`` (the working tree itself for ``.``), byte-compiled."""
    if revision == WORKING_TREE:
        compileall.compile_dir(bench.REPO / "analyzer", quiet=1)
        build_native(bench.REPO)
        yield bench.REPO
        return
    with tempfile.TemporaryDirectory(prefix="waagent-ab-") as scratch:
        tree = Path(scratch) / "tree"
        subprocess.run(["git", "-C", str(bench.REPO), "worktree", "add", "--detach", "-q",
                        str(tree), revision], check=True)
        try:
            compileall.compile_dir(tree / "analyzer", quiet=1)
            build_native(tree)
            yield tree
        finally:
            subprocess.run(["git", "-C", str(bench.REPO), "worktree", "remove", "--force",
                            str(tree)], check=False)


def build_native(tree: Path) -> None:
    """Compiles the tree's C module as installing it would (``hatch_build.py``); a revision
    from before there was one has none to build."""
    if not (tree / "analyzer" / "engine" / "_distinct.c").exists():
        return
    script = ("import pathlib, sys; sys.path.insert(0, sys.argv[1]); import hatch_build as h; "
              "root = pathlib.Path(sys.argv[1]); "
              "sys.exit(h.compile_native(root / h.NATIVE_SOURCE, root / h.native_target()))")
    subprocess.run([sys.executable, "-c", script, str(tree)], check=True)


def timed(command: list[str], tree: Path | None = None) -> tuple[float, float]:
    """Wall and CPU seconds (the whole process tree) of one run of ``command``, which must
    end with 0 or 1 (a verdict): anything else is no measurement."""
    environment = dict(os.environ)
    if tree is not None:
        environment["PYTHONPATH"] = str(tree)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    ended = subprocess.run(command, cwd=tree or bench.REPO, env=environment, check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - started
    if ended.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(command)} (in {tree or bench.REPO}) ended with "
                         f"{ended.returncode}: {ended.stderr.decode(errors='replace')[-500:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def floor_command(bundle: bench.BigBundle) -> list[str]:
    inner = " ".join(f"'{bench.REPO / path}'" for path in bundle.inner_gz)
    return ["/bin/sh", "-c", f"tar -xzOf '{bench.REPO / bundle.path}' > /dev/null"
            + (f" && gzip -dc {inner} > /dev/null" if inner else "")]


def compare(bundle: bench.BigBundle, trees: dict[str, Path], rounds: int
            ) -> dict[str, list[tuple[float, float]]]:
    """Every version once per round, in turn; the floor between rounds."""
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in trees}
    runs["floor"] = []
    for _ in range(rounds):
        for name, tree in trees.items():
            command = [sys.executable, "-m", "analyzer", "analyze", "--format", "json",
                       str(bench.REPO / bundle.path)]
            runs[name].append(timed(command, tree))
        runs["floor"].append(timed(floor_command(bundle)))
    return runs


def summary(mix: str, runs: dict[str, list[tuple[float, float]]]) -> list[str]:
    floor = min(wall for wall, _ in runs["floor"])
    lines = []
    for name, measured in runs.items():
        if name == "floor":
            continue
        walls = [wall for wall, _ in measured]
        cpus = [cpu for _, cpu in measured]
        lines.append(f"{mix:20s} {name:12s} wall best {min(walls):.3f} median "
                     f"{statistics.median(walls):.3f}  cpu best {min(cpus):.2f} median "
                     f"{statistics.median(cpus):.2f}  floor {floor:.3f}  ratio(best) "
                     f"{min(walls) / floor:.2f}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", help="a git revision, or . for the working tree")
    parser.add_argument("after", nargs="?", default=WORKING_TREE,
                        help="a git revision, or . for the working tree (the default)")
    parser.add_argument("--mixes", default=",".join(bench.MIXES),
                        help=f"comma-separated, of {', '.join(bench.MIXES)}")
    parser.add_argument("--rounds", type=int, default=5, help="runs of each version per mix")
    parser.add_argument("--cache", type=Path, default=bench.REPO / "bench" / ".cache")
    args = parser.parse_args(argv)
    mixes = [mix.strip() for mix in args.mixes.split(",") if mix.strip()]
    unknown = sorted(set(mixes) - set(bench.MIXES))
    if unknown or args.rounds < 1 or args.before == args.after:
        parser.error(f"unknown mix {unknown[0]}" if unknown else
                     "--rounds must be at least 1" if args.rounds < 1 else
                     "the two versions are the same")
    with checked_out(args.before) as before, checked_out(args.after) as after:
        trees = {"before": before, "after": after}
        print(f"# before: {args.before}, after: {args.after}", flush=True)
        for mix in mixes:
            megabytes = bench.MIX_MEGABYTES.get(mix, 200)
            bundle = bench.generate_big(args.cache, megabytes, mix)
            print(f"# {mix}: load {bench.load():.2f}", flush=True)
            for line in summary(mix, compare(bundle, trees, args.rounds)):
                print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
