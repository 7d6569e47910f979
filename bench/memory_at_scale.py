"""Peak memory of each suite's main check at each input size, at two chunk sizes and two
workloads (issue 22): the peak follows the chunk size, not the number of subsets/steps.

    python bench/memory_at_scale.py [--out bench/results/memory_at_scale.md]

``tracemalloc`` does not see torch's CPU allocations, so the peak is the process's
resident set: one fresh subprocess per (suite, subject) imports everything, builds the
subject and the method, runs the smallest configuration once unmeasured (one-time
allocations), then for each (chunk, workload) resets the kernel's high-water
mark (``/proc/self/clear_refs`` ← 5: VmHWM := VmRSS), runs the check once and reads
``VmHWM`` − the ``VmRSS`` before the run: the memory the check added at its peak. The
child runs with ``MALLOC_MMAP_THRESHOLD_=65536`` so freed tensor memory goes back to the
system at once (glibc's adaptive threshold would otherwise keep it on the heap and hide a
later peak), and the largest configuration runs first, so memory kept from an earlier run
can only raise a later, smaller one, never hide a growth.

- **chunk**: every ``batch_size`` / ``internal_batch_size`` default in attrbench (the
  points per forward pass of every check's stream and method: :func:`set_chunk`) set to
  256 or 1024 (``DEFAULT_BATCH_SIZE``);
- **workload**: Sensitivity-n 50 or 200 subsets per size (4 samples × 6 sizes: 1200 or
  4800 points); deletion/insertion 64 or 256 steps (8 samples × 2 curves: 1040 or 4112
  points); fragility 4 or 16 attack iterations (sequential steps on the same batch).
  Both workloads fill the chunks of either size, so only the number of chunks differs;
  sanity's model randomisation 4 or 16 samples: it is not a chunked stream (one
  attribution call per cascade stage over all its samples, and a copy of the model per
  stage), so its peak grows with the samples whatever the chunk.

Method: ``gradient`` (the check's own stream dominates).
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tabulate import tabulate

CHUNKS = (1024, 256)
#: suite -> (main check, the scale field of its workload, small and large value)
SUITES = {
    "sensitivity_n": ("sensitivity_n_curve", "n_subsets", 50, 200),
    "faithfulness": ("deletion_insertion_auc", "faithfulness_steps", 64, 256),
    "fragility": ("fragility", "fragility_steps", 4, 16),
    # not a chunked stream: one attribution call per stage over all samples, so the
    # workload is the sample count and the peak follows it (shown, not hidden)
    "sanity": ("model_randomization", "sanity_samples", 4, 16),
}
SUBJECTS = ("digits/cnn_relu", "digits28/cnn_relu", "shapes/cnn")


def status_kib(text: str, field: str) -> int:
    """The value in KiB of ``field`` (e.g. "VmHWM") in the text of /proc/PID/status."""
    match = re.search(rf"^{field}:\s+(\d+)\s+kB", text, re.MULTILINE)
    if match is None:
        raise ValueError(f"no {field} line in the status text")
    return int(match.group(1))


def set_chunk(size: int) -> int:
    """Set every non-None ``batch_size`` / ``internal_batch_size`` default of the functions
    in the loaded attrbench modules to ``size``; returns how many were set."""
    changed = 0
    for name, module in list(sys.modules.items()):
        if not name.startswith("attrbench") or module is None:
            continue
        for obj in list(vars(module).values()):
            fn = inspect.unwrap(obj) if callable(obj) else None
            if not inspect.isfunction(fn) or not fn.__module__.startswith("attrbench"):
                continue
            for key in ("batch_size", "internal_batch_size"):
                if fn.__kwdefaults__ and fn.__kwdefaults__.get(key) is not None:
                    fn.__kwdefaults__[key] = size
                    changed += 1
            if fn.__defaults__:
                names = fn.__code__.co_varnames[: fn.__code__.co_argcount][-len(fn.__defaults__):]
                values = [size if n in ("batch_size", "internal_batch_size") and v is not None else v
                          for n, v in zip(names, fn.__defaults__)]  # fmt: skip
                changed += sum(a is not b for a, b in zip(values, fn.__defaults__))
                fn.__defaults__ = tuple(values)
    return changed


def child(suite: str, subject_name: str) -> None:
    """Measure every (chunk, workload) of one suite on one subject; print JSON lines."""
    import torch

    import scale_subjects
    from attrbench import methods
    from attrbench.checks import faithfulness, fragility, sanity, sensitivity_n
    from attrbench.checks.context import CheckContext
    from attrbench.guard import Guard
    from attrbench.scales import get_scale

    torch.set_num_threads(1)
    check_name, field, small, large = SUITES[suite]
    check_fn = getattr({"sensitivity_n": sensitivity_n, "faithfulness": faithfulness, "fragility": fragility,
                        "sanity": sanity}[suite], check_name)  # fmt: skip
    subject = scale_subjects.get(subject_name)
    base = dataclasses.replace(get_scale("quick"), sensitivity_n_samples=4, faithfulness_samples=8,
                               fragility_samples=2)  # fmt: skip
    status = Path("/proc/self/status")

    def run(chunk: int, work: int) -> None:
        set_chunk(chunk)
        ctx = CheckContext(scale=dataclasses.replace(base, **{field: work}), generator=torch.Generator().manual_seed(0),
                           guard=Guard(seed=0))  # fmt: skip
        with ctx.guard.scope():
            check_fn(methods.get("gradient"), subject, ctx)

    run(CHUNKS[-1], small)  # untimed: one-time allocations (lazy imports, caches, surrogates) happen here
    for chunk in CHUNKS:
        for work in (large, small):
            Path("/proc/self/clear_refs").write_text("5")
            before = status_kib(status.read_text(), "VmRSS")
            run(chunk, work)
            peak = status_kib(status.read_text(), "VmHWM")
            print(json.dumps({"chunk": chunk, field: work, "added_mib": (peak - before) / 1024,
                              "rss_mib": before / 1024}), flush=True)  # fmt: skip


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=2, metavar=("SUITE", "SUBJECT"), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "memory_at_scale.md")
    opts = parser.parse_args(argv)
    if opts.child:
        child(*opts.child)
        return 0
    import harness
    import scale_subjects

    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", OMP_NUM_THREADS="1")
    rows = []
    for suite, (_, field, small, large) in SUITES.items():
        for name in SUBJECTS:
            done = subprocess.run([sys.executable, __file__, "--child", suite, name], env=env, capture_output=True,
                                  text=True, check=False)  # fmt: skip
            if done.returncode:
                rows.append([suite, f"`{name}`", "failed: " + done.stderr.strip().splitlines()[-1][:80]])
                continue
            got = {(r["chunk"], r[field]): r for r in map(json.loads, done.stdout.splitlines())}
            cells = [f"{got[c, w]['added_mib']:.1f}" for c in CHUNKS for w in (small, large)]
            before = f"{got[CHUNKS[0], large]['rss_mib']:.0f}"
            rows.append([suite, f"`{name}`", scale_subjects.FEATURES[name], before, *cells])
            print(" | ".join(map(str, rows[-1])), flush=True)
    workloads = "; ".join(f"{s}: `{f}` {a} / {b}" for s, (_, f, a, b) in SUITES.items())
    headers = ["suite", "subject", "features", "RSS before MiB",
               *(f"chunk {c}, {w} work MiB" for c in CHUNKS for w in ("small", "4× / large"))]  # fmt: skip
    harness.publish(opts.out, [
        "# Peak memory of each suite's main check, by input size, chunk size and workload",
        f"Machine: {harness.machine()}; {harness.load()} at the end of the run.",
        f"Subjects: {scale_subjects.describe(SUBJECTS)}",
        "Peak resident memory the check added over the process's resident set before it (VmHWM − VmRSS, "
        "MiB), one fresh subprocess per (suite, subject), method `gradient`, one torch thread, scale `quick` with "
        f"4 samples (8 for faithfulness, 2 for fragility). Workload small / large: {workloads}. Generated by "
        "`python bench/memory_at_scale.py` (its docstring says how the peak is isolated).",
        tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True),
    ])  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
