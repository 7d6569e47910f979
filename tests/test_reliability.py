"""Reliability of real runs of ``pytest suites/`` (the issue "Reliability: broken and
hostile methods, interrupted runs, reproducible and verifiable results").

Each test runs the real suites in a subprocess, at the quick scale, on a few subjects
(one or more per suite) and a few methods, so that it takes seconds:

- the broken-method zoo (tests/zoo/attrbench_zoo.py) through all four suites in one run:
  every zoo method's rows are error rows naming it, the check and its fault, and the good
  methods' rows are those of a run without the zoo;
- the same seed gives byte-identical rows and pages serially and under ``-n 2``;
- Ctrl-C in the middle of a run writes complete files marked partial; SIGKILL leaves the
  previous files as they were; a crashed pytest-xdist worker gives a partial leaderboard
  that names the test.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from attrbench.leaderboard import read_results, render_curves, render_pages

REPO = Path(__file__).resolve().parents[1]
ZOO = REPO / "tests" / "zoo"
sys.path.insert(0, str(ZOO))
from zoo_expectations import CAUSES, MARK_ENV  # noqa: E402  (not attrbench_zoo: that registers the zoo)

#: Methods that work, and the subjects: analytic/linear (axioms, Sensitivity-n, fragility),
#: a digits MLP (Sensitivity-n, fragility), a Boolean junta. Drawn cases (``generated``)
#: are left out for time: tests/test_axioms_checks.py covers guard failures there.
GOOD = ("saliency", "input_x_gradient")
SUBJECTS = ("analytic/linear", "digits/mlp_tanh", "boolean/junta_4")
SUITES = ("axioms", "sensitivity_n", "fragility", "boolean", "sanity", "faithfulness")
#: Files rendered from the rows alone (results.jsonl also holds the date).
RENDERED = ("results.csv", "README.md", "axioms.md", "sensitivity_n.md", "fragility.md", "boolean.md", "sanity.md",
            "faithfulness.md", "sensitivity_n_curves.csv", "faithfulness_curves.csv",
            "faithfulness_road_curves.csv")  # fmt: skip


def run_suites(tmp_path: Path, lb: str, methods, *extra: str, subjects=SUBJECTS, wait: bool = True):
    """``pytest suites/`` at the quick scale, seed 3, writing to ``tmp_path/lb``."""
    args = [sys.executable, "-m", "pytest", str(REPO / "suites"), "--attrbench-scale", "quick",
            "--attrbench-seed", "3", "--leaderboard-dir", str(tmp_path / lb), "-p", "no:cacheprovider",
            "-p", "attrbench_zoo", "-q", *extra]  # fmt: skip
    for name in methods:
        args += ["--method", name]
    for pattern in subjects:
        args += ["--subject", pattern]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ZOO), os.environ.get("PYTHONPATH", "")])}
    env[MARK_ENV] = str(tmp_path / f"{lb}.sleeping")
    if not wait:
        # SIGINT back to its default first: a shell starting this test run in the background
        # ignores it, the child would inherit that, and Python would then never raise
        # KeyboardInterrupt
        return subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    return subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, check=False)


def rows(directory: Path) -> list[dict]:
    return [r.to_dict() for r in read_results(directory / "results.jsonl")[1]]


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` (the website in site/ too), by its relative path."""
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two runs of the real suites with the same seed: the good methods alone, serially
    (``serial``), and the zoo methods before the good ones under ``-n 2`` (``zoo``)."""
    tmp = tmp_path_factory.mktemp("reliability")
    limits = ("--attrbench-timeout", "1")
    serial = run_suites(tmp, "serial", GOOD, *limits)
    zoo = run_suites(tmp, "zoo", (*CAUSES, *GOOD), *limits, "-n", "2")
    return tmp, serial, zoo


def test_same_seed_gives_the_same_bytes_serially_and_under_xdist(runs):
    """Reproducibility (the issue, item 3): the good methods' lines of results.csv are
    byte-identical in the serial run and in the ``-n 2`` run (where the zoo ran beside
    them), and so are the pages and curve table rendered from those rows; results.jsonl
    holds the same records (its metadata line holds the date)."""
    tmp, serial, zoo = runs
    assert serial.returncode == 0, serial.stdout[-3000:]
    one, two = tmp / "serial", tmp / "zoo"
    assert {r["suite"] for r in rows(one)} == set(SUITES)
    lines = (one / "results.csv").read_text(encoding="utf-8").splitlines()
    zoo_lines = (two / "results.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == zoo_lines[0]
    assert lines[1:] == [ln for ln in zoo_lines[1:] if any(f",{name}," in ln for name in GOOD)]
    good = [r for r in read_results(two / "results.jsonl")[1] if r.method in GOOD]
    assert [r.to_dict() for r in good] == rows(one)
    rendered = {**render_pages(good), **render_curves(good)}
    for name in RENDERED[1:]:
        content = rendered[name]
        assert (one / name).read_bytes() == (content if isinstance(content, bytes) else content.encode()), name


def test_zoo_through_all_four_suites_is_reported_by_cause_and_spares_the_good_rows(runs):
    """The issue's "Done when": the zoo runs through all four suites in one ``pytest
    suites/`` invocation; every zoo method gets error rows (value empty) in every suite,
    each naming the method, the check (the guard's ``in <where>``) and the fault listed in
    ``CAUSES``; the run fails (exit 1) but writes the leaderboard; and the good methods'
    rows are exactly those of the run without the zoo (so the guard restored the model and
    inputs the zoo methods changed: each worker runs the zoo's tests first)."""
    tmp, _, zoo = runs
    assert zoo.returncode == pytest.ExitCode.TESTS_FAILED, zoo.stdout[-5000:]
    assert "leaderboard written to" in zoo.stdout
    zoo_rows = rows(tmp / "zoo")
    for name, cause in CAUSES.items():
        mine = [r for r in zoo_rows if r["method"] == name]
        assert {r["suite"] for r in mine} == set(SUITES), name
        for r in mine:
            assert r["value"] is None and r["holds"] is None, (name, r)
            assert r["error"].startswith(f"method {name!r} in {r['check']}") and cause in r["error"], (name, r)
            assert f"method {name!r} in " in zoo.stdout
    good = [r for r in zoo_rows if r["method"] in GOOD]
    assert good == rows(tmp / "serial")
    errors = sum(1 for r in zoo_rows if r["error"])
    assert f"method errors: {errors}" in zoo.stdout


def start_sleeping_run(tmp_path: Path):
    """A run whose second method sleeps; returns once it sleeps."""
    mark = tmp_path / "lb.sleeping"
    mark.unlink(missing_ok=True)  # an earlier run's mark, before the new run can write its own
    proc = run_suites(tmp_path, "lb", ("saliency", "zoo_sleeps"), "-m", "sensitivity_n",
                      subjects=("analytic/linear",), wait=False)  # fmt: skip
    deadline = time.monotonic() + 120
    while not mark.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert mark.exists(), proc.communicate()[0][-3000:]
    return proc


def test_interrupted_runs_never_leave_a_half_written_leaderboard(runs, tmp_path):
    """Interrupted runs (item 2), on a real run: starting from the complete serial run's
    leaderboard (copied to ``lb``),

    - a second run killed with SIGKILL (no clean-up at all) while its second method runs
      leaves every file byte-for-byte as it was: nothing is written before a run ends;
    - the same run interrupted with Ctrl-C (SIGINT) exits 2 (interrupted) and writes
      complete files: results.jsonl parses, no temporary file or directory is left, the
      metadata, README.md and the website say the results are partial, the rows it finished equal the complete
      run's, the rows it did not reach are kept, and the sleeping method has no row."""
    lb = tmp_path / "lb"
    shutil.copytree(runs[0] / "serial", lb)
    before, before_rows = snapshot(lb), rows(lb)

    proc = start_sleeping_run(tmp_path)
    proc.kill()
    proc.communicate(timeout=60)
    assert snapshot(lb) == before

    proc = start_sleeping_run(tmp_path)
    proc.send_signal(signal.SIGINT)
    out = proc.communicate(timeout=60)[0]
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, out[-3000:]
    metadata, _ = read_results(lb / "results.jsonl")
    assert "interrupted" in metadata["partial"]
    assert "Partial results:" in (lb / "README.md").read_text(encoding="utf-8")
    assert "Partial results:" in (lb / "site" / "index.html").read_text(encoding="utf-8")
    assert "PARTIAL leaderboard written" in out
    assert not [p for p in lb.iterdir() if p.name.endswith((".tmp", ".old"))]
    assert rows(lb) == before_rows  # saliency re-done identically, input_x_gradient kept, no zoo row


def test_a_crashed_xdist_worker_gives_a_partial_leaderboard_naming_the_test(tmp_path):
    """Interrupted runs (item 2): a method that kills its process (``os._exit``) crashes a
    pytest-xdist worker; the controller reports the test as failed, the other tests run,
    and the leaderboard is written complete, marked partial with the crashed test's id."""
    result = run_suites(tmp_path, "lb", ("saliency", "zoo_exits"), "-m", "sensitivity_n", "-n", "2",
                        subjects=("analytic/linear",))  # fmt: skip
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, result.stdout[-3000:]
    assert "crashed while running" in result.stdout
    metadata, records = read_results(tmp_path / "lb" / "results.jsonl")
    assert "worker crashed while running" in metadata["partial"] and "zoo_exits-analytic/linear" in metadata["partial"]
    assert {r.method for r in records} == {"saliency"}
    assert "Partial results:" in (tmp_path / "lb" / "README.md").read_text(encoding="utf-8")
