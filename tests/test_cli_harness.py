"""Tests of the harness commands of the ``attrbench`` CLI: ``list suites``, ``run``,
``leaderboard`` and ``verify``.

``run`` is exercised in subprocesses (``python -m attrbench.cli``): it calls
``pytest.main`` in-process and may import ``module:attr`` specs, neither of which should
touch this test session. The suites run at ``--scale quick`` on a few subjects only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import replace

import pytest

from attrbench import leaderboard as lb
from attrbench import methods
from attrbench.checks import SUITES
from attrbench.cli import build_parser, main
from attrbench.options import RUN_OPTIONS, given, pytest_args, suites_dir
from attrbench.provenance import method_provenance
from attrbench.results import Record
from attrbench.verify import compare_records

#: The main page and one page per suite (attrbench.checks.SUITES, the one definition of the suites).
PAGES = ["README.md", *(suite.page for suite in SUITES.values())]


def row(suite="boolean", check="influence_recovery", metric="influence_cosine", method="a", subject="s", value=0.5,
        *, holds=None, claimed=False, error="", direction="higher", scale="quick", seed=0):  # fmt: skip
    return Record(suite, check, metric, direction, method, subject, None if error else value,
                  holds, claimed, error, "{}", scale, seed)  # fmt: skip


def cli(*args: str, cwd=None, pythonpath: str | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """``python -m attrbench.cli ARGS`` in a fresh interpreter (no ATTRBENCH_PLUGINS)."""
    env = {k: v for k, v in os.environ.items() if k != "ATTRBENCH_PLUGINS"}
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [pythonpath, env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "attrbench.cli", *args],
        capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout, check=False,
    )  # fmt: skip


# ------------------------------------------------------------------------------- list


def test_list_suites_names_markers_titles_checks_and_subjects(capsys):
    """``attrbench list suites`` prints one row per Suite (``attrbench.checks.SUITES``) with
    its marker, title and summary score, and a line per check with the subject globs it
    runs on (``Suite.subjects``)."""
    assert main(["list", "suites"]) == 0
    out = capsys.readouterr().out
    for name, suite in SUITES.items():
        [line] = [ln for ln in out.splitlines() if ln.startswith(name + " ")]
        assert suite.title in line and suite.score_name in line
        for check, globs in suite.subjects.items():
            assert f"{check}: {', '.join(globs)}" in out
    assert "ndp: analytic/monotone, analytic/product, generated" in out
    assert (suites_dir() / "test_axioms.py").is_file()


def test_list_suites_github_is_one_line_per_suite(capsys):
    """In markdown each suite is one table line and a ``|`` in a description is escaped."""
    assert main(["list", "suites", "--format", "github"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 + len(SUITES)
    columns = {line.count("|") - line.count("\\|") for line in lines}
    assert columns == {6}


def test_plain_list_shows_suites_after_methods_and_subjects(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert out.index("integrated_gradients") < out.index("analytic/linear") < out.index("sensitivity_n ")


# -------------------------------------------------------------------------------- run


def test_pytest_args_translate_the_options():
    """``--suite`` becomes one ``-m`` expression; the suites run from the installed
    package with an empty configuration; extra arguments go last."""
    args = pytest_args(
        method=["saliency", "pkg.mod:fn"], suite=["axioms", "boolean"], subject=["boolean/*"], scale="quick",
        seed=3, device="cpu", timeout=2.5, memory=1.5, no_leaderboard=True, workers="2", extra=["-x"],
    )  # fmt: skip
    assert args[0] == str(suites_dir())
    assert args[args.index("-c") + 1] == os.devnull
    assert args[args.index("-m") + 1] == "axioms or boolean"
    assert args[args.index("--attrbench-scale") + 1] == "quick"
    assert args[args.index("--attrbench-seed") + 1] == "3"
    assert args[args.index("--attrbench-timeout") + 1] == "2.5"
    assert args[args.index("--attrbench-memory") + 1] == "1.5"
    assert args[args.index("-n") + 1] == "2"
    assert [args[i + 1] for i, a in enumerate(args) if a == "--method"] == ["saliency", "pkg.mod:fn"]
    assert "--no-leaderboard" in args and "--leaderboard-dir" not in args
    assert args[-1] == "-x"
    assert "--leaderboard-dir" in pytest_args(leaderboard_dir="out")


def test_each_run_option_reaches_pytest_as_its_pytest_flag(pytestconfig):
    """One table (attrbench.options.RUN_OPTIONS) makes both sides: each option given to
    ``attrbench run`` comes out of ``pytest_args`` as its pytest flag with its value, an
    option not given is not passed on (pytest's default applies), and the plugin's group
    registers every pytest flag attrbench owns (``-m`` is pytest's, ``-n`` pytest-xdist's)."""
    argv = [
        "run", "--method", "saliency", "--suite", "axioms", "--suite", "boolean", "--subject", "analytic/*",
        "--scale", "quick", "--seed", "3", "--device", "cuda", "--timeout", "2.5", "--memory", "1.5",
        "--leaderboard-dir", "lb", "--leaderboard-html", "web", "-n", "2", "--progress",
    ]  # fmt: skip
    args = pytest_args(**given(build_parser().parse_args(argv)))
    expected = [
        ["--method", "saliency"], ["-m", "axioms or boolean"], ["--subject", "analytic/*"],
        ["--attrbench-scale", "quick"], ["--attrbench-seed", "3"], ["--attrbench-device", "cuda"],
        ["--attrbench-timeout", "2.5"], ["--attrbench-memory", "1.5"], ["--leaderboard-dir", "lb"],
        ["--leaderboard-html", "web"], ["-n", "2"],
        ["--attrbench-progress"],
    ]  # fmt: skip
    bare = pytest_args(**given(build_parser().parse_args(["run"])))
    assert args[: len(bare)] == bare and args[len(bare) :] == [a for pair in expected for a in pair]
    assert not {a for a in bare if a.startswith("--attrbench") or a in ("--method", "--subject", "-n")}
    for option in RUN_OPTIONS:
        if option.owned:
            pytestconfig.getoption(option.pytest_flag)  # ValueError if the plugin did not add it
    with pytest.raises(TypeError, match="unknown run options"):
        pytest_args(methods=["saliency"])


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["run", "--suite", "axiom"], "unknown suite 'axiom'"),
        (["run", "--subject", "no/such_subject*"], "matches no subject"),
        (["run", "--method", "no_such_method_xyz"], "no attribution method named 'no_such_method_xyz'"),
    ],
    ids=["suite", "subject", "method"],
)
def test_run_user_errors_exit_2(capsys, argv, expected):
    """Mistakes are caught before pytest starts: ``attrbench: error:`` and exit 2."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("attrbench: error: ") and expected in err


def test_arguments_after_double_dash_only_for_run(capsys):
    with pytest.raises(SystemExit) as info:
        main(["list", "--", "-x"])
    assert info.value.code == 2
    assert "only" in capsys.readouterr().err


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """A real run: saliency and random on one Boolean circuit, quick scale."""
    out = tmp_path_factory.mktemp("run") / "lb"
    done = cli(
        "run", "--method", "saliency", "--method", "random", "--suite", "boolean", "--subject", "boolean/or_4",
        "--scale", "quick", "--leaderboard-dir", str(out), "--", "-q",
    )  # fmt: skip
    return done, out


def test_run_honest_methods_exit_0_and_write_leaderboard(small_run):
    """Nothing claimed is violated: pytest's exit code 0, and the leaderboard holds one
    row per (method, subject) at the run's scale and seed."""
    done, out = small_run
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
    assert sorted(p.name for p in out.iterdir()) == sorted(["results.jsonl", "results.csv", *PAGES, "site"])
    metadata, records = lb.read_results(out / "results.jsonl")
    assert (metadata["scale"], metadata["seed"]) == ("quick", 0)
    assert sorted((r.method, r.subject, r.suite) for r in records) == [
        ("random", "boolean/or_4", "boolean"),
        ("saliency", "boolean/or_4", "boolean"),
    ]


def test_run_exit_code_is_the_gate(tmp_path):
    """A ``module:attr`` method that claims completeness but is gradient × input fails
    the axioms suite: pytest's exit code 1, with the counterexample in the output."""
    (tmp_path / "abcli_overclaim.py").write_text(
        textwrap.dedent(
            """
            import torch
            import attrbench

            @attrbench.register_method("cli_overclaim", claims=("completeness",), differentiable=False)
            def overclaim(model, x, target, baseline):
                x = x.detach().requires_grad_(True)
                t = torch.as_tensor(target).long().expand(len(x))
                (g,) = torch.autograd.grad(model(x).gather(1, t.view(-1, 1)).sum(), x)
                return x.detach() * g
            """
        )
    )
    args = ("--suite", "axioms", "--subject", "analytic/product", "--scale", "quick", "--no-leaderboard")
    done = cli("run", "--method", "abcli_overclaim:overclaim", *args, cwd=tmp_path)  # spec found from the cwd
    assert done.returncode == 1, done.stdout + done.stderr
    assert "cli_overclaim claims completeness, violated on analytic/product" in done.stdout
    assert "F(x) - F(x')" in done.stdout
    assert not list(tmp_path.glob("leaderboards"))  # --no-leaderboard


# ------------------------------------------------------------------------ leaderboard


def sample_records():
    return [
        row(method="ig", value=0.75),
        row(method="grad", value=0.25),
        row("axioms", "completeness", "completeness_residual", "ig", "analytic/linear", 0.0, holds=True,
            claimed=True, direction="lower"),  # fmt: skip
        row("axioms", "completeness", "completeness_residual", "grad", "analytic/linear", error="RuntimeError: boom",
            direction="lower"),  # fmt: skip
    ]


def test_leaderboard_rerenders_pages(tmp_path, capsys):
    """From results.jsonl alone, ``attrbench leaderboard`` writes the same files, byte for
    byte, as write_leaderboard did (default: next to the results file; or --out)."""
    reference = tmp_path / "reference"
    lb.write_leaderboard(reference, sample_records(), {"scale": "quick", "seed": 0})
    given = tmp_path / "given"
    given.mkdir()
    (given / "results.jsonl").write_bytes((reference / "results.jsonl").read_bytes())

    assert main(["leaderboard", str(given / "results.jsonl")]) == 0
    assert "4 rows" in capsys.readouterr().out
    assert sorted(p.name for p in given.iterdir()) == sorted(p.name for p in reference.iterdir())
    for path in reference.rglob("*"):
        if path.is_file():
            name = path.relative_to(reference)
            assert (given / name).read_bytes() == path.read_bytes(), name

    assert main(["leaderboard", str(given), "--out", str(tmp_path / "elsewhere")]) == 0  # a directory works too
    assert (tmp_path / "elsewhere" / "README.md").read_bytes() == (reference / "README.md").read_bytes()


@pytest.mark.parametrize("command", ["leaderboard", "verify"])
def test_corrupt_or_missing_results_exit_2(tmp_path, capsys, command):
    """A corrupt file is named with its line; a missing one is named; nothing is written."""
    bad = tmp_path / "results.jsonl"
    lines = lb.results_jsonl(sample_records(), {"scale": "quick", "seed": 0}).splitlines()
    lines[2] = lines[2][:-5]  # truncated JSON
    bad.write_text("\n".join(lines) + "\n")
    assert main([command, str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("attrbench: error: ") and f"{bad}, line 3" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.jsonl"]

    assert main([command, str(tmp_path / "missing.jsonl")]) == 2
    assert "no results file at" in capsys.readouterr().err


# ----------------------------------------------------------------------------- verify


def test_compare_records_kinds_of_mismatch():
    """Rows are matched by key; a value within atol + rtol·|value| reproduces."""
    original = [
        row(subject="same", value=0.5),
        row(subject="close", value=1000.0),
        row(subject="far", value=0.5),
        row(subject="gone", value=0.5),
        row(subject="verdict", value=0.5, holds=True, claimed=True),
        row(subject="broke", value=0.5),
        row(subject="errored", error="RuntimeError: x"),
        row(subject="inf", value=float("inf")),
    ]
    rerun = [
        row(subject="same", value=0.5),
        row(subject="close", value=1000.0005),  # |Δ| = 5e-4 <= 1e-6 + 1e-6 * 1000
        row(subject="far", value=0.5 + 1e-5),
        row(subject="verdict", value=0.5, holds=False, claimed=True),
        row(subject="broke", error="MethodFailure: nan"),
        row(subject="errored", error="RuntimeError: x"),
        row(subject="inf", value=float("inf")),
        row(subject="extra", value=0.1),  # not in the file: ignored
    ]
    found = {m.record.subject: m.problem for m in compare_records(original, rerun, atol=1e-6, rtol=1e-6)}
    assert set(found) == {"far", "gone", "verdict", "broke"}
    assert found["far"].startswith("value differs by 1e-05")
    assert found["gone"] == "missing from the re-run"
    assert found["verdict"] == "holds True -> False"
    assert found["broke"] == "errors in the re-run: MethodFailure: nan"
    assert not compare_records(original[2:3], rerun[2:3], atol=1e-4, rtol=0)


def test_compare_records_names_a_changed_method_source_or_plugin_version():
    """A row records the hash of its method's source and its plugin's version
    (attrbench/provenance.py); a re-run under another hash or version is a mismatch even
    when the value reproduces. Rows stored before hashes were recorded ("") compare by value."""
    base = row(subject="s", value=0.5)
    stamped = replace(base, source_hash="a" * 16, plugin="abplug 1.0")
    assert not compare_records([stamped], [stamped])
    assert not compare_records([base], [replace(base, source_hash="b" * 16)])
    [found] = compare_records([stamped], [replace(stamped, source_hash="b" * 16)])
    assert found.problem == f"method source changed ({'a' * 16} -> {'b' * 16})"
    [found] = compare_records([stamped], [replace(stamped, plugin="abplug 1.1")])
    assert found.problem == "plugin abplug 1.0 -> abplug 1.1"


def test_source_hash_follows_the_file_defining_the_method(tmp_path, monkeypatch):
    """method_provenance hashes the source file of the method's module as it is on disk:
    an edit anywhere in that file (here one comment) changes the hash; the same file gives
    the same hash; a module no distribution ships has no plugin version."""
    import importlib

    (tmp_path / "abcli_prov.py").write_text("def m(model, x, target, baseline):\n    return x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("abcli_prov")
    first = method_provenance(module.m)
    assert first == method_provenance(module.m) and first[1] == ""
    (tmp_path / "abcli_prov.py").write_text("def m(model, x, target, baseline):\n    return x  # edited\n")
    assert method_provenance(module.m)[0] != first[0]


def test_verify_reproduces_a_real_run_then_names_a_tampered_row(small_run, tmp_path, capsys):
    """The rows of a real run reproduce (exit 0). Then three rows are tampered with: one
    value is changed, one row is added that no suite produces, and one row's source hash is
    replaced, as if another version of the method had recorded it. verify exits 1 and
    names all three; the hash row is named for its source although its value reproduces."""
    done, out = small_run
    assert done.returncode == 0
    assert main(["verify", str(out / "results.jsonl")]) == 0
    assert "all 2 rows" in capsys.readouterr().out

    lines = (out / "results.jsonl").read_text().splitlines()
    data = [json.loads(line) for line in lines[1:]]
    [saliency] = [d for d in data if d["method"] == "saliency"]
    [random_row] = [d for d in data if d["method"] == "random"]
    recorded = random_row["source_hash"]
    assert recorded == method_provenance(methods.default_registry.entry("random").obj)[0]
    saliency["value"] += 0.01
    ghost = {**saliency, "check": "no_such_check", "value": 0.5}
    random_row["source_hash"] = "0" * 16
    tampered = tmp_path / "results.jsonl"
    tampered.write_text("\n".join([lines[0], *(json.dumps(d) for d in [*data, ghost])]) + "\n")

    assert main(["verify", str(tampered)]) == 1
    out_text = capsys.readouterr().out
    assert "3 of 3 rows" in out_text
    [changed] = [ln for ln in out_text.splitlines() if "order_identifiability" in ln and "saliency" in ln]
    assert "boolean/or_4" in changed and "value differs by 0.01" in changed
    [missing] = [ln for ln in out_text.splitlines() if "no_such_check" in ln]
    assert "missing from the re-run" in missing
    [rehashed] = [ln for ln in out_text.splitlines() if "random" in ln and "boolean/or_4" in ln]
    assert f"method source changed ({'0' * 16} -> {recorded})" in rehashed and "value differs" not in rehashed


def test_verify_unknown_method_exit_2(tmp_path, capsys):
    path = tmp_path / "results.jsonl"
    lb.write_leaderboard(tmp_path, [row(method="not_registered_anywhere", subject="boolean/or_4")], {})
    assert main(["verify", str(path)]) == 2
    assert "'not_registered_anywhere'" in capsys.readouterr().err


def test_run_and_verify_a_variant_end_to_end(tmp_path, capsys):
    """``attrbench run --method "name[opt=value]"``: rows under the canonical name carry
    base_method and the non-default options; the page names them; ``verify`` rebuilds the
    variant from its name and reproduces every row. The bit-flip variant's
    decomposition_recovery is exactly 1 (exact_analysis of or_4's truth table, tests/test_boolean.py)."""
    out = tmp_path / "lb"
    done = cli(
        "run", "--method", "influence_decomposition[attack=bitflip]", "--suite", "boolean",
        "--subject", "boolean/or_4", "--scale", "quick", "--leaderboard-dir", str(out), "--", "-q",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    _, records = lb.read_results(out / "results.jsonl")
    assert {(r.method, r.base_method, json.dumps(r.options)) for r in records} == {
        ("influence_decomposition[attack=bitflip]", "influence_decomposition", '{"attack": "bitflip"}')
    }
    [recovery] = [r for r in records if r.check == "decomposition_recovery"]
    assert recovery.value == 1.0
    page = (out / "boolean.md").read_text(encoding="utf-8")
    assert "`influence_decomposition[attack=bitflip]` = `influence_decomposition` with attack=bitflip" in page
    assert main(["verify", str(out / "results.jsonl")]) == 0
    assert f"all {len(records)} rows" in capsys.readouterr().out
