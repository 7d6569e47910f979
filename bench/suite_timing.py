"""Wall time of `pytest suites/` per suite, per check and per test; -n speed-up; peak memory.

    python bench/suite_timing.py [--scale quick] [--workers 1 2] [--leaderboard-dir DIR]
                                 [--out bench/results/suite_timing_<scale>.md] [-- PYTEST ARGS]

Runs the suites once per ``--workers`` value (1 = serial, else pytest-xdist ``-n``), each
in a fresh interpreter, with bench/timing_plugin.py recording every test's duration
(setup + call + teardown) and every process's peak resident memory. The table gives each
run's wall time, its speed-up over the first run, and the peak memory of the largest
process; then, from the first run, the time per suite and per check and the ten slowest
tests. Only the first run writes leaderboards, and only with ``--leaderboard-dir``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from tabulate import tabulate

import harness

BENCH = Path(__file__).resolve().parent
SUITES = BENCH.parent / "suites"


def run_suites(scale: str, workers: int, leaderboard_dir: str | None, extra: list[str]) -> tuple[float, dict]:
    """(wall seconds, the timing plugin's JSON) of one run of the suites."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "timing.json"
        args = [sys.executable, "-m", "pytest", str(SUITES), "--attrbench-scale", scale, "-q",
                "-p", "no:cacheprovider", "-p", "timing_plugin"]  # fmt: skip
        args += ["--leaderboard-dir", leaderboard_dir] if leaderboard_dir else ["--no-leaderboard"]
        if workers > 1:
            args += ["-n", str(workers)]
        env = {**os.environ, "ATTRBENCH_TIMING_OUT": str(out),
               "PYTHONPATH": os.pathsep.join(filter(None, [str(BENCH), os.environ.get("PYTHONPATH")]))}  # fmt: skip
        print(f"running: {' '.join(args[1:])}", flush=True)
        start = time.perf_counter()
        done = subprocess.run([*args, *extra], env=env, check=False)
        wall = time.perf_counter() - start
        if done.returncode not in (0, 1) or not out.exists():
            sys.exit(f"the run failed (pytest exit code {done.returncode})")
        return wall, json.loads(out.read_text(encoding="utf-8"))


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.1f} s"


def tables(runs: list[tuple[int, float, dict]]) -> list[str]:
    """Markdown tables: the runs, then per suite, per check and slowest tests of the first run."""
    first_wall = runs[0][1]
    rows = []
    for workers, wall, data in runs:
        peaks = data["peak_rss_mib"]
        rows.append([
            "serial" if workers == 1 else f"-n {workers}", _minutes(wall), f"{first_wall / wall:.2f}",
            len(data["tests"]), f"{max(peaks.values()):.0f}", f"{sum(peaks.values()):.0f}",
        ])  # fmt: skip
    parts = [tabulate(rows, headers=["run", "wall", "speed-up ↑", "tests", "peak MiB (largest process)",
                                     "peak MiB (all processes)"], tablefmt="github")]  # fmt: skip
    tests = runs[0][2]["tests"]
    total = sum(t["duration"] for t in tests.values())
    by_suite, by_check = defaultdict(list), defaultdict(list)
    for t in tests.values():
        by_suite[t["suite"]].append(t["duration"])
        by_check[(t["suite"], t["check"])].append(t["duration"])
    parts.append(tabulate(
        [[s or "(other)", len(d), _minutes(sum(d)), f"{100 * sum(d) / total:.0f} %"] for s, d in
         sorted(by_suite.items(), key=lambda kv: -sum(kv[1]))],
        headers=["suite", "tests", "time", "share"], tablefmt="github"))  # fmt: skip
    parts.append(tabulate(
        [[s, c, len(d), _minutes(sum(d)), f"{sum(d) / len(d):.2f}", f"{max(d):.2f}"] for (s, c), d in
         sorted(by_check.items(), key=lambda kv: -sum(kv[1]))],
        headers=["suite", "check", "tests", "time", "mean s", "max s"], tablefmt="github"))  # fmt: skip
    slowest = sorted(tests.items(), key=lambda kv: -kv[1]["duration"])[:10]
    parts.append(tabulate([[f"`{nodeid.split('::', 1)[1]}`", f"{t['duration']:.2f}"] for nodeid, t in slowest],
                          headers=["slowest tests", "s"], tablefmt="github"))  # fmt: skip
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="quick", choices=("quick", "standard", "paper"))
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="one run per value (1 = serial)")
    parser.add_argument("--leaderboard-dir", help="the first run writes its leaderboard here (default: none)")
    parser.add_argument("--out", type=Path, help="default bench/results/suite_timing_<scale>.md")
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    runs = []
    for i, workers in enumerate(args.workers):
        wall, data = run_suites(args.scale, workers, args.leaderboard_dir if i == 0 else None, extra)
        runs.append((workers, wall, data))
    out = args.out or BENCH / "results" / f"suite_timing_{args.scale}.md"
    command = " ".join(["python bench/suite_timing.py", "--scale", args.scale, "--workers", *map(str, args.workers),
                        *(["--", *extra] if extra else [])])  # fmt: skip
    harness.publish(out, [
        f"# `pytest suites/` at the {args.scale} scale: wall time, speed-up, memory",
        f"Machine: {harness.machine()}.",
        f"Generated by `{command}`. Time per suite, check and test "
        "is the sum of setup, call and teardown of the first run's tests (under -n, tests run side by "
        "side, so their sum exceeds the wall time).",
        *tables(runs),
    ])  # fmt: skip


if __name__ == "__main__":
    main()
