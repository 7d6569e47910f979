"""Every check at a git revision and in the working tree, timed side by side.

    python bench/versus.py REV [--method saliency ...] [--reps 5] [--check lipschitz ...]
                               [--out bench/results/versus_<REV>.md]

A before/after measurement of a change in one run. Each tree runs in a worker process of
its own: REV's ``attrbench/`` comes from ``git archive`` and is imported ahead of the
installed package through PYTHONPATH. The driver asks the two workers in turn for one run
of a check (a short check repeated until the round lasts ``ROUND`` seconds), swapping who
goes first every round (as ``harness.interleaved_medians`` does in one process), so load
on the machine hits both alike, and reports medians per run, their ratio and whether the
two outcomes' values agree. The checks and subjects are those of
``check_efficiency.CHECKS`` (standard scale, seed 0), each run as the pytest plugin of
that tree runs it: inside ``Guard.scope`` where the tree has one.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import math
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Seconds a timed round of one check lasts at least (a short check is repeated).
ROUND = 0.25


def worker() -> None:
    """Answer one JSON line per request on stdin: run the check ``repeat`` times (default
    once), report its seconds per run and the last outcome's value."""
    import torch

    import attrbench
    from attrbench import methods, subjects
    from attrbench.checks.context import CheckContext
    from attrbench.guard import Guard
    from attrbench.scales import get_scale

    scale = get_scale("standard")
    print(json.dumps({"attrbench": attrbench.__file__}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        try:
            module, name = request["check"].split(":")
            check_fn = getattr(importlib.import_module(module), name)
            subject, method = subjects.get(request["subject"]), methods.get(request["method"])
        except Exception as exc:  # not in this tree (a check or method added since), or unknown
            print(json.dumps({"error": f"{type(exc).__name__}: {str(exc)[:200]}"}), flush=True)
            continue
        start = time.perf_counter()
        try:
            for _ in range(request.get("repeat", 1)):
                ctx = CheckContext(scale=scale, generator=torch.Generator().manual_seed(0), guard=Guard(seed=0))
                scope = getattr(ctx.guard, "scope", None)  # absent before Guard.scope existed
                with scope() if scope else contextlib.nullcontext():
                    outcome = check_fn(method, subject, ctx)
        except Exception as exc:  # the check failed in this tree: an error row, the run goes on
            print(json.dumps({"error": f"{type(exc).__name__}: {str(exc)[:200]}"}), flush=True)
            continue
        seconds = (time.perf_counter() - start) / request.get("repeat", 1)
        value = None if outcome.value is None else float(outcome.value)
        print(json.dumps({"seconds": seconds, "value": value}), flush=True)


class Worker:
    """A worker process importing ``attrbench`` from ``tree``."""

    def __init__(self, tree: Path) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(tree), os.environ.get("PYTHONPATH")])))
        self.process = subprocess.Popen([sys.executable, __file__, "--worker"], env=env, cwd=ROOT, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # fmt: skip
        found = Path(self.read()["attrbench"]).resolve()
        if tree.resolve() not in found.parents:
            self.close()
            raise SystemExit(f"the worker for {tree} imported attrbench from {found}; is PYTHONPATH honoured?")

    def read(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit("a worker exited; its traceback is above")
        return json.loads(line)

    def run(self, request: dict) -> dict:
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return self.read()

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def same(a: float | None, b: float | None) -> str:
    if a is None or b is None or (math.isnan(a) and math.isnan(b)) or a == b:
        return "equal" if (a is None) == (b is None) else "differs"
    return f"differs by {abs(a - b) / max(abs(a), abs(b), 1e-300):.1e} relative"


def main(argv=None) -> int:
    sys.path.insert(0, str(Path(__file__).parent))
    import check_efficiency
    import harness
    from tabulate import tabulate

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rev", help="the git revision to compare the working tree with (e.g. HEAD~1)")
    parser.add_argument("--method", action="append", help="methods to run the checks with (repeatable; "
                        "default saliency; a method REV lacks gives an error row)")
    parser.add_argument("--reps", type=int, default=7, help="timed rounds per check after one warm-up (median)")
    parser.add_argument("--check", action="append", help="only checks of this name (repeatable)")
    parser.add_argument("--out", type=Path)
    opts = parser.parse_args(argv)
    rev = subprocess.run(["git", "rev-parse", "--short", opts.rev], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.strip()  # fmt: skip
    out = opts.out or Path(__file__).parent / "results" / f"versus_{rev}.md"
    checks = [(fn, name) for fn, name in check_efficiency.CHECKS if not opts.check or fn.info.check in opts.check]
    method_names = opts.method or ["saliency"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "archive", rev, "attrbench"], cwd=ROOT, capture_output=True, check=True)
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(tmp, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
        workers = {rev: Worker(Path(tmp)), "working tree": Worker(ROOT)}
        names = list(workers)
        try:
            for method, (check_fn, subject) in ((m, c) for m in method_names for c in checks):
                request = {"check": f"{check_fn.__module__}:{check_fn.__name__}", "subject": subject,
                           "method": method}  # fmt: skip
                answers = {name: w.run(request) for name, w in workers.items()}  # warm-up: builds the subject
                errors = [a["error"] for a in answers.values() if "error" in a]
                times: dict[str, list[float]] = {name: [] for name in names}
                if not errors:
                    # a round repeats a short check until it takes ROUND seconds, so timer and
                    # scheduler noise stay small beside it
                    slowest = max(a["seconds"] for a in answers.values())
                    request["repeat"] = max(1, math.ceil(ROUND / max(slowest, 1e-6)))
                for rep in range(0 if errors else opts.reps):
                    for name in names if rep % 2 == 0 else names[::-1]:
                        answers[name] = workers[name].run(request)
                        if "error" in answers[name]:
                            errors.append(answers[name]["error"])
                        else:
                            times[name].append(answers[name]["seconds"])
                if errors:
                    rows.append([f"`{method}`", check_fn.info.check, f"`{subject}`", "—", "—", "—", errors[0]])
                    continue
                before, after = (statistics.median(times[name]) for name in names)
                rows.append([f"`{method}`", check_fn.info.check, f"`{subject}`", f"{before * 1e3:.1f}",
                             f"{after * 1e3:.1f}", f"{before / after:.2f}",
                             same(*(answers[name]["value"] for name in names))])  # fmt: skip
        finally:
            for w in workers.values():
                w.close()
    headers = ["method", "check", "subject", f"{rev} ms", "working tree ms", "speed-up ↑", "value"]
    table = tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)
    harness.publish(out, [
        f"# Checks at {rev} and in the working tree",
        f"Machine: {harness.machine()}.",
        f"Generated by `python bench/versus.py {' '.join(argv if argv is not None else sys.argv[1:])}`. Standard "
        "scale, seed 0; each tree "
        f"in its own worker process, medians of {opts.reps} alternating rounds (each at least {ROUND:g} s: a short "
        "check is repeated) after one warm-up round; speed-up = "
        f"{rev} time / working-tree time; value: whether the two outcomes agree.",
        table,
    ])  # fmt: skip
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--worker"]:
        worker()
    else:
        raise SystemExit(main())
