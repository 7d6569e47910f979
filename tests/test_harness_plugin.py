"""Behaviour of attrbench's pytest plugin, run end to end with pytest's ``pytester``.

Each test writes a tiny benchmark (a helper module with methods and a seeded check, a
conftest that registers the methods, a suite file using the ``bench`` fixture) into the
pytester directory and runs pytest on it in a subprocess: registrations made in one run
cannot leak into the next, and a subprocess is how the benchmark is really run (and the
only way to run it under pytest-xdist). Where an expectation comes from is said in each
docstring: the plugin's and leaderboard's documented contracts (``attrbench/pytest_plugin.py``,
``attrbench/leaderboard/``), ``shared/DESIGN.md`` and the project issue "Use pytest's
pytester for plugin behaviour".
"""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from attrbench.checks import SUITES

#: The helper module of every generated project: the methods under test and a seeded check.
#: On ``analytic/linear`` (an affine model, baseline 0) gradient × (x − x′) is exactly
#: Integrated Gradients, so it satisfies completeness (002 axiom 3); 1.1 × that violates it
#: by 10 % of F(x) − F(x′), past the check's 5 % tolerance (attrbench/checks/axioms.py).
HELPERS = '''
import torch

from attrbench import register_method
from attrbench.checks.context import check
from attrbench.results import Outcome


def _exact_ig(model, x, target, baseline):
    x = x.detach().requires_grad_(True)
    out = model(x).gather(1, torch.as_tensor(target).long().view(-1, 1)).sum()
    (grad,) = torch.autograd.grad(out, x)
    b = torch.zeros_like(x) if baseline is None else torch.as_tensor(baseline).expand_as(x)
    return (grad * (x - b)).detach()


@register_method("ab_honest", claims=("completeness",), needs_baseline=True)
def ab_honest(model, x, target, baseline):
    return _exact_ig(model, x, target, baseline)


@register_method("ab_liar", claims=("completeness",), needs_baseline=True)
def ab_liar(model, x, target, baseline):
    return 1.1 * _exact_ig(model, x, target, baseline)


@register_method("ab_unclaimed", needs_baseline=True)
def ab_unclaimed(model, x, target, baseline):
    return 1.1 * _exact_ig(model, x, target, baseline)


@register_method("ab_raises", claims=("completeness",))
def ab_raises(model, x, target, baseline):
    raise RuntimeError("boom from ab_raises")


@register_method("ab_shape")
def ab_shape(model, x, target, baseline):
    return torch.zeros(x.shape[0], x.shape[1] - 1)


@register_method("ab_slow")
def ab_slow(model, x, target, baseline):
    import time

    time.sleep(3)
    return torch.zeros_like(x)


@check(suite="sensitivity_n", check="noisy", metric="mean_pcc", direction="higher")
def noisy(method, subject, ctx):
    """A measurement that consumes the test's seeded generator."""
    x, t, b = ctx.samples(subject)
    attr = ctx.attribute(method, subject.model, x, t, b, where="noisy")
    draw = torch.rand(len(x), generator=ctx.generator, dtype=attr.dtype)
    return Outcome(value=float((attr.sum(1) * draw).mean()), holds=None, details={"draw": draw[:3]})
'''

#: A plain callable with no registration: ``--method abplain:zeros`` registers it by spec
#: (DESIGN.md "pytest suites/ --method pkg.module:obj"), claiming nothing.
PLAIN = """
import torch


def zeros(model, x, target, baseline):
    return torch.zeros_like(x)
"""

CONFTEST = "import abhelpers  # noqa: F401  (registers the ab_* methods)\n"

SUITE = '''
import pytest

from abhelpers import noisy
from attrbench.checks.axioms import completeness


@pytest.mark.axioms
@pytest.mark.attrbench_subjects("analytic/linear")
def test_completeness(bench):
    bench.run(completeness)


@pytest.mark.sensitivity_n
@pytest.mark.attrbench_subjects("analytic/linear", "analytic/linear_nobias")
def test_noisy(bench):
    bench.run(noisy)
'''

#: The main page and one page per suite (attrbench.checks.SUITES, the one definition of the suites).
PAGES = ["README.md", *(suite.page for suite in SUITES.values())]
RENDERED = ("results.csv", *PAGES)  # the files that hold no date, so must be reproducible


@pytest.fixture
def project(pytester):
    """A pytester directory holding the helper module, its conftest and the suite file."""
    pytester.makepyfile(abhelpers=HELPERS, abplain=PLAIN, test_mini=SUITE)
    pytester.makeconftest(CONFTEST)
    return pytester


def bench_run(pytester, *args, methods=("ab_honest",), lb="lb", scale="quick"):
    """Run the generated suite in a subprocess with --method restricted to ``methods``."""
    options = [a for m in methods for a in ("--method", m)]
    # hypothesis' pytest plugin is not used by these suites and costs ~0.5 s per run
    # (and pytester drops PYTEST_ADDOPTS, so conftest's NO_UNRAISABLE is repeated here)
    options += ["--attrbench-scale", scale, "-p", "no:cacheprovider", "-p", "no:hypothesispytest",
                "-p", "no:unraisableexception"]  # fmt: skip
    if lb is not None:
        options += ["--leaderboard-dir", str(pytester.path / lb)]
    return pytester.runpytest_subprocess(*options, *args)


def output(result) -> str:
    return "\n".join(result.outlines + result.errlines)


def csv_rows(path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def jsonl_records(path) -> list[dict]:
    """The records of a results.jsonl (every line after the metadata line)."""
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert "metadata" in lines[0]
    return lines[1:]


def snapshot(directory) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


# -- option validation ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--attrbench-seed", "-1"], r"--attrbench-seed: seed must be >= 0, got -1"),
        (["--attrbench-seed", "abc"], r"--attrbench-seed: 'abc' is not an integer seed"),
        (["--attrbench-timeout", "0"], r"--attrbench-timeout: timeout must be > 0 seconds, got 0"),
        (["--attrbench-scale", "huge"], r"--attrbench-scale: invalid choice: 'huge'.*quick.*standard.*paper"),
        (
            ["--method", "integrated_gradient"],
            r"--method: no attribution method named 'integrated_gradient'\. "
            r"Did you mean 'integrated_gradients'",
        ),
        (["--subject", "nomatch*"], r"--subject nomatch\* matches no subject; `attrbench list subjects`"),
    ],
    ids=[
        "seed-negative", "seed-not-int", "timeout-zero", "scale-unknown", "method-unknown", "subject-nomatch",
    ],  # fmt: skip
)
def test_bad_option_is_a_usage_error_with_a_clear_message(project, args, message):
    """A bad attrbench option stops the run before any test with pytest's usage-error exit
    code (4) and a message naming the option and what is wrong. Expected messages: the
    validating parsers ``parse_seed``/``positive`` (attrbench.options), the ``choices`` of
    --attrbench-scale, and the UsageErrors ``BenchSession`` raises (an unknown method suggests close names,
    DESIGN.md "Errors a user can cause ... a message that says what to change")."""
    result = bench_run(project, *args, methods=(), lb=None)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert re.search(message, output(result)), output(result)
    assert not (project.path / "leaderboards").exists()


# -- the gate -------------------------------------------------------------------------------


def test_unclaimed_violation_passes_and_is_recorded(project):
    """Methods that break completeness without claiming it (a registered one returning
    1.1 × IG, and a plain callable given as ``--method abplain:zeros``) pass (exit 0) and
    their rows say holds False, claimed False; the honest claimant passes with holds True,
    claimed True. Source: DESIGN.md ("fail only where a *claimed* property is violated";
    "--method pkg.module:obj — benchmark a method without packaging it") and ``Bench.run``
    (records every outcome, fails only on ``claimed and violated``)."""
    methods = ("ab_honest", "ab_unclaimed", "abplain:zeros")
    result = bench_run(project, "-m", "axioms", methods=methods)
    assert result.ret == pytest.ExitCode.OK, output(result)
    result.assert_outcomes(passed=3, deselected=6)
    rows = {r["method"]: r for r in jsonl_records(project.path / "lb" / "results.jsonl")}
    assert set(rows) == set(methods)
    for name in ("ab_unclaimed", "abplain:zeros"):
        assert (rows[name]["holds"], rows[name]["claimed"]) == (False, False), name
        assert rows[name]["value"] > rows["ab_honest"]["value"]
    assert (rows["ab_honest"]["holds"], rows["ab_honest"]["claimed"]) == (True, True)
    assert all(r["error"] == "" and r["suite"] == "axioms" for r in rows.values())


def test_claimed_violation_and_method_errors_fail_their_tests_and_keep_other_rows(project):
    """One run with an honest method, a method violating its completeness claim, one that
    raises, one returning a wrong shape and one past --attrbench-timeout:

    - the run exits 1 (pytest's TESTS_FAILED) and only the honest test passes;
    - the violation's failure shows the counterexample (``_violation_message``: "claims
      completeness, violated on <subject>" and the check's details);
    - each method error fails its own test with the guard's message naming the method and
      what it did (attrbench/guard.py: "raised RuntimeError: ...", "returned shape ...",
      "exceeded the ... time limit");
    - results.csv keeps every row: the honest and violating verdicts and one error row per
      failed method with an empty value (``Record.from_error``), so one broken method never
      costs the others their leaderboard rows (the project issue: "a method error →
      non-zero, other rows kept")."""
    methods = ("ab_honest", "ab_liar", "ab_raises", "ab_shape", "ab_slow")
    result = bench_run(project, "-m", "axioms", "--attrbench-timeout", "0.5", methods=methods)
    assert result.ret == pytest.ExitCode.TESTS_FAILED, output(result)
    result.assert_outcomes(passed=1, failed=4, deselected=10)
    text = output(result)
    result.stdout.fnmatch_lines(
        [
            "*ab_liar claims completeness, violated on analytic/linear: completeness_residual = *",
            "*sum of attributions: *",
        ]
    )
    assert "F(x) - F(x'): " in text
    assert "method 'ab_raises' in completeness raised RuntimeError: boom from ab_raises" in text
    assert "method 'ab_shape' in completeness returned shape (8, 7) for input (8, 8)" in text
    assert "method 'ab_slow' in completeness exceeded the 0.5 s time limit" in text
    result.stdout.fnmatch_lines(["*claimed properties violated: 1; method errors: 3*"])

    rows = {r["method"]: r for r in csv_rows(project.path / "lb" / "results.csv")}
    assert set(rows) == set(methods)
    assert (rows["ab_honest"]["holds"], rows["ab_honest"]["error"]) == ("True", "")
    assert (rows["ab_liar"]["holds"], rows["ab_liar"]["claimed"]) == ("False", "True")
    assert "raised RuntimeError: boom from ab_raises" in rows["ab_raises"]["error"]
    assert "returned shape" in rows["ab_shape"]["error"]
    assert "time limit" in rows["ab_slow"]["error"]
    for name in ("ab_raises", "ab_shape", "ab_slow"):
        assert rows[name]["value"] == "" and rows[name]["holds"] == ""
    assert rows["ab_raises"]["claimed"] == "True"  # it claims completeness on this subject
    matrix = (project.path / "lb" / "README.md").read_text(encoding="utf-8")
    assert re.search(r"\| ab_liar\s+\| \*\*✗ claimed\*\*", matrix), matrix
    assert re.search(r"\| ab_raises\s+\| error", matrix), matrix


# -- reproducibility --------------------------------------------------------------------


def test_same_seed_same_bytes_serially_and_under_xdist_another_seed_other_draws(project):
    """Reproducibility, from DESIGN.md ("every check takes a torch.Generator seeded from
    --attrbench-seed and the test id. Same seed, same leaderboard bytes"; the plugin "works
    under pytest-xdist: only the controller writes") and ``_test_seed`` (a test's seed
    depends on its name, not on the worker or the order):

    - a serial run and a ``-n 2`` run with seed 7 (separate processes, other schedules)
      write byte-identical results.csv, README.md and suite pages, and the same records in
      results.jsonl (its metadata line holds the date, so it is compared record by record);
    - a run with seed 8 changes the value of the check that draws from ``ctx.generator``
      on every subject, keeps the deterministic completeness residuals, and each run's rows
      record its seed."""
    methods = ("ab_honest", "ab_unclaimed", "ab_liar")
    for lb, extra in (("serial", ()), ("xdist", ("-n", "2")), ("seed8", ())):
        seed = "8" if lb == "seed8" else "7"
        result = bench_run(project, "--attrbench-seed", seed, *extra, methods=methods, lb=lb)
        assert result.ret == pytest.ExitCode.TESTS_FAILED, output(result)  # ab_liar's claim
        result.assert_outcomes(passed=8, failed=1)
        if extra:
            result.stdout.fnmatch_lines(["*2 workers*"])
    serial, xdist, seed8 = (project.path / lb for lb in ("serial", "xdist", "seed8"))
    for name in RENDERED:
        assert (serial / name).read_bytes() == (xdist / name).read_bytes(), name
    assert jsonl_records(serial / "results.jsonl") == jsonl_records(xdist / "results.jsonl")
    assert len(csv_rows(serial / "results.csv")) == 9

    values = {}
    for directory, seed in ((serial, 7), (seed8, 8)):
        rows = jsonl_records(directory / "results.jsonl")
        assert {r["seed"] for r in rows} == {seed}
        values[seed] = {(r["check"], r["method"], r["subject"]): r["value"] for r in rows}
    assert values[7].keys() == values[8].keys()
    for key in values[7]:
        if key[0] == "completeness":
            assert values[7][key] == values[8][key], key
        else:
            assert values[7][key] != values[8][key], key


# -- merging runs into one leaderboard ------------------------------------------------------


def test_partial_runs_merge_rerun_replaces_and_other_scale_is_refused(project):
    """Runs into one --leaderboard-dir merge (``update_leaderboard``/``merge``):

    - ``--method ab_honest`` then ``--method ab_unclaimed``: results.csv holds both
      methods' rows;
    - re-running ab_honest replaces its rows instead of adding duplicates (a row's key is
      (suite, check, metric, method, subject), ``Record.key``), and leaves the other
      method's rows alone;
    - a run at another scale into the same directory is refused: non-zero exit, the
      terminal says the leaderboard was not written because rows of another scale/seed
      "are never ranked together", and every file is byte-for-byte unchanged ("Errors ...
      are raised before anything is written")."""
    lb = project.path / "lb"
    assert bench_run(project, methods=("ab_honest",)).ret == pytest.ExitCode.OK
    first = csv_rows(lb / "results.csv")
    assert {r["method"] for r in first} == {"ab_honest"} and len(first) == 3

    assert bench_run(project, methods=("ab_unclaimed",)).ret == pytest.ExitCode.OK
    both = csv_rows(lb / "results.csv")
    assert sorted(r["method"] for r in both) == ["ab_honest"] * 3 + ["ab_unclaimed"] * 3

    assert bench_run(project, methods=("ab_honest",)).ret == pytest.ExitCode.OK
    again = csv_rows(lb / "results.csv")
    assert again == both  # same seed and scale: the replaced rows are identical
    keys = [(r["suite"], r["check"], r["metric"], r["method"], r["subject"]) for r in again]
    assert len(keys) == len(set(keys)) == 6
    assert len(jsonl_records(lb / "results.jsonl")) == 6

    before = snapshot(lb)
    result = bench_run(project, methods=("ab_honest",), scale="standard")
    assert result.ret != pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*leaderboard NOT written:*never ranked together*"])
    assert "scale 'quick' seed 0" in output(result) and "scale 'standard' seed 0" in output(result)
    assert snapshot(lb) == before


def test_corrupt_results_file_is_reported_and_left_untouched(project):
    """Garbage in results.jsonl: the run exits non-zero although every test passed, the
    terminal names the file and line and says nothing was written (``read_results`` raises
    CorruptResultsError, the Collector turns it into a failed run), and the garbage file is
    left exactly as it was, with no other file created beside it."""
    lb = project.path / "lb"
    lb.mkdir()
    garbage = b"this is not json\n\x00\xff{]\n"
    (lb / "results.jsonl").write_bytes(garbage)
    result = bench_run(project)
    result.assert_outcomes(passed=3)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    text = output(result)
    assert "leaderboard NOT written: cannot read the leaderboard results" in text
    assert "results.jsonl" in text and "Nothing was written" in text
    assert snapshot(lb) == {"results.jsonl": garbage}


# -- options, markers and the summary -------------------------------------------------------


def test_no_leaderboard_markers_and_terminal_summary(project):
    """``-m axioms`` runs only the tests marked with the axioms suite marker (the plugin
    registers one marker per suite, ``attrbench.checks.SUITES``); ``--no-leaderboard`` writes no file
    at all; the report header names the scale and seed (``pytest_report_header``); the
    terminal summary still prints the "attrbench" section with the run's
    overall table naming the method, and the violation/error counts
    (``Collector.pytest_terminal_summary``)."""
    result = bench_run(project, "-m", "axioms", "--no-leaderboard", methods=("ab_honest",), lb="lb")
    assert result.ret == pytest.ExitCode.OK, output(result)
    result.assert_outcomes(passed=1, deselected=2)
    result.stdout.fnmatch_lines(
        [
            "attrbench *: * attribution methods registered, * subjects; scale quick, seed 0",
            "*= attrbench =*",
            "scale quick, seed 0: 1 records from this run",
            "*rank*method*Axioms (holds_rate) ↑*",
            "*| 1 *| ab_honest *| 1 (#1)*",
            "claimed properties violated: 0; method errors: 0",
        ]
    )
    assert "leaderboard written" not in output(result)
    assert not (project.path / "lb").exists()


def test_installed_suites_run_with_pyargs_and_write_the_leaderboard(pytester):
    """The real benchmark, installed as ``attrbench.suites``, runs with ``--pyargs`` from any
    directory (README: "run the benchmark"), the suite marker selects the Boolean suite, and
    the run writes the leaderboard with the chosen method on the Boolean page, and the
    website where ``--leaderboard-html`` says."""
    lb, web = pytester.path / "lb", pytester.path / "web"
    result = pytester.runpytest_subprocess(
        "--pyargs", "attrbench.suites", "-m", "boolean", "--method", "random",
        "--attrbench-scale", "quick", "--leaderboard-dir", str(lb), "--leaderboard-html", str(web),
        "-p", "no:cacheprovider",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.OK, output(result)
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) >= 1 and "failed" not in outcomes
    assert sorted(p.name for p in lb.iterdir()) == sorted(["results.jsonl", *RENDERED])
    assert "method-random.html" in (web / "boolean.html").read_text(encoding="utf-8")
    rows = csv_rows(lb / "results.csv")
    assert rows and {r["suite"] for r in rows} == {"boolean"} and {r["method"] for r in rows} == {"random"}
    assert "random" in (lb / "boolean.md").read_text(encoding="utf-8")
    assert f"leaderboard written to {lb}" in output(result)


def test_fixtures_hand_suites_their_settings(pytester):
    """The plugin's fixtures give a suite the scale preset, device, selected methods and
    subjects, and a generator seeded from --attrbench-seed and the test's name: the same
    seed draws the same numbers in two runs, another seed draws others (by construction of
    ``_test_seed``: a sha256 of seed and test name)."""
    pytester.makepyfile(
        test_fixtures="""
        import torch

        def test_settings(
            attrbench_scale, attrbench_device, attrbench_methods, attrbench_subjects, attrbench_generator
        ):
            assert attrbench_scale.name == "quick" and attrbench_scale.hypothesis_examples == 25
            assert attrbench_device == "cpu"
            assert attrbench_methods == ["saliency"]
            assert attrbench_subjects == ["analytic/linear", "analytic/linear_nobias"]
            print("DRAW", float(torch.rand(1, generator=attrbench_generator)))
        """
    )
    common = [
        "-s", "-p", "no:hypothesispytest", "--attrbench-scale", "quick",
        "--method", "saliency", "--subject", "analytic/linear*",
    ]  # fmt: skip

    def draw(seed: str) -> str:
        result = pytester.runpytest_subprocess(*common, "--attrbench-seed", seed)
        assert result.ret == 0, result.stdout.str()
        return next(line for line in result.stdout.lines if line.startswith("DRAW") or "DRAW" in line)

    first, again, other = draw("3"), draw("3"), draw("4")
    assert first == again and first != other
