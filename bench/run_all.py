"""Every benchmark in one command; each writes its table to bench/results/.

    python bench/run_all.py [--quick]

Runs, one after the other (each times its contenders side by side in its own process):
ig_vs_captum.py, sensitivity_n_speed.py, faithfulness_speed.py, lipschitz_completeness.py, fragility_speed.py,
check_efficiency.py, batch_size.py, suite_timing.py (quick scale, serial and ``-n 2``),
interactions.py, and the at-scale scripts (issue 22): efficiency_at_scale.py, captum_resnet.py,
scaling.py and memory_at_scale.py.
``versus.py REV`` (a before/after comparison) needs a revision and is run on its own. ``--quick``
gives every script fewer repetitions (for a smoke run; the committed tables use the
defaults). Needs ``pip install -e ".[compare]"`` for the Captum and Quantus rows.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
SCRIPTS = {
    "ig_vs_captum.py": ["--reps", "3", "--warmup", "1"],
    "sensitivity_n_speed.py": ["--reps", "2"],
    "faithfulness_speed.py": ["--reps", "2"],
    "lipschitz_completeness.py": ["--reps", "2"],
    "fragility_speed.py": ["--reps", "2"],
    "check_efficiency.py": ["--reps", "1"],
    "batch_size.py": ["--reps", "2"],
    "suite_timing.py": [],
    "interactions.py": ["--reps", "1"],
    "efficiency_at_scale.py": ["--profile-seconds", "0"],
    "captum_resnet.py": ["--reps", "1", "--warmup", "0"],
    "scaling.py": ["--cap", "5"],
    "memory_at_scale.py": [],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions per script (smoke run)")
    args = parser.parse_args()
    failed = []
    for script, quick_args in SCRIPTS.items():
        print(f"\n=== {script} ===", flush=True)
        done = subprocess.run([sys.executable, str(BENCH / script), *(quick_args if args.quick else [])], check=False)
        if done.returncode:
            failed.append(script)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
