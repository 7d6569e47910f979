"""Tests of the ``attrbench`` command line (``attrbench list``).

``attrbench list`` reads ``default_registry``; every test here that can change it runs
on a copy of its ``entries``/``problems`` (monkeypatch), and the autouse fixture restores
the decorator ledger and fails the test if a non-built-in method leaked into it.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

import attrbench.methods.builtins  # noqa: F401  (built-ins in the ledger before snapshots)
from attrbench.cli import main
from attrbench.methods.registry import PluginProblem, default_registry

from test_registry import EXPECTED_BUILTINS

pytestmark = pytest.mark.usefixtures("isolated_method_registry")




@pytest.fixture
def scratch_default(monkeypatch):
    """Let the CLI add to ``default_registry`` for the length of one test only."""
    default_registry.discover()  # before copying, so undo leaves a discovered registry
    monkeypatch.setattr(default_registry, "entries", dict(default_registry.entries))
    monkeypatch.setattr(default_registry, "problems", list(default_registry.problems))
    return default_registry


@pytest.fixture
def spec_dir(tmp_path, monkeypatch):
    """A directory on ``sys.path`` for generated ``module:attr`` targets; returns a writer."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(source: str) -> str:
        name = f"abcli_{uuid.uuid4().hex[:10]}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        importlib.invalidate_caches()
        return name

    return write


def parse_simple_table(text: str) -> dict[str, dict[str, list[str]]]:
    """Parse tabulate's ``simple`` format (multi-line cells) into
    ``{method: {column: [lines]}}`` using the dashed rule for column spans."""
    lines = text.splitlines()
    rule_at = next(i for i, line in enumerate(lines) if line.startswith("---"))
    header, rule = lines[rule_at - 1], lines[rule_at]
    spans, start = [], None
    for i, ch in enumerate(rule + " "):
        if ch == "-" and start is None:
            start = i
        elif ch != "-" and start is not None:
            spans.append((start, i))
            start = None
    columns = [header[a:b].strip() for a, b in spans]
    rows: dict[str, dict[str, list[str]]] = {}
    current = None
    for line in lines[rule_at + 1 :]:
        if not line.strip():
            continue
        cells = [line[a:b].strip() for a, b in spans]
        cells[-1] = line[spans[-1][0] :].strip()
        if cells[0]:
            current = rows.setdefault(cells[0], {c: [] for c in columns})
        assert current is not None, line
        for column, cell in zip(columns, cells):
            if cell:
                current[column].append(cell)
    return rows


def test_list_prints_every_builtin_with_claims(capsys):
    """``attrbench list`` exits 0 and prints one row per registered method (every built-in)
    with its kind, each claim as str(Claim) (``-`` for none), baseline, differentiability
    and reference."""
    assert main(["list", "methods"]) == 0
    out = capsys.readouterr().out
    rows = parse_simple_table(out)
    assert set(rows) == set(default_registry.available())
    assert EXPECTED_BUILTINS <= set(rows)
    for name in EXPECTED_BUILTINS:
        entry = default_registry.entries[name]
        row = rows[name]
        assert row["kind"] == [entry.kind]
        assert row["claims"] == ([str(c) for c in entry.claims] or ["-"]), name
        assert row["baseline"] == ["yes" if entry.needs_baseline else "no"]
        assert row["differentiable"] == ["yes" if entry.differentiable else "no"]
        assert " ".join(row["reference"]) == entry.reference
    first_claim = rows["deeplift_rescale"]["claims"][0]
    assert first_claim.startswith("completeness (unless ") and "multiplicative" in first_claim
    assert rows["random"]["claims"] == ["-"]
    assert "source" not in out.splitlines()[0]


def test_list_sources(capsys):
    """``attrbench list --sources`` adds a source column naming where each method came
    from (``built-in attrbench.methods.<module>.<function>`` for built-ins)."""
    assert main(["list", "methods", "--sources"]) == 0
    out = capsys.readouterr().out
    rows = parse_simple_table(out)
    assert "source" in rows["saliency"]
    assert rows["saliency"]["source"] == ["built-in attrbench.methods.gradient.saliency"]
    assert rows["integrated_gradients"]["source"] == [
        "built-in attrbench.methods.integrated_gradients.integrated_gradients"
    ]


def test_list_other_format(capsys):
    """``--format`` passes a tabulate format through; in GitHub markdown each method is
    one table line, with its claims joined by commas."""
    assert main(["list", "methods", "--format", "github"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("| method")
    lines = out.strip().splitlines()
    assert len(lines) == 2 + len(default_registry.available())  # one line per method
    [saliency] = [line for line in lines if line.startswith("| saliency ")]
    claims = saliency.split("|")[3].strip()
    assert claims == ", ".join(str(c) for c in default_registry.entries["saliency"].claims)


def test_list_method_spec_adds_decorated_method(scratch_default, spec_dir, capsys):
    """``--method module:attr`` at a decorated function loads it and lists it under its
    registered name with its claims and a ``spec`` source."""
    name = f"cli_method_{uuid.uuid4().hex[:8]}"
    module = spec_dir(
        f"""
        import attrbench

        @attrbench.register_method(
            {name!r}, claims=("completeness", "dummy"), kind="path", reference="CLI ref"
        )
        def cli_method(model, x, target, baseline):
            return x
        """
    )
    spec = f"{module}:cli_method"
    assert main(["list", "methods", "--sources", "--method", spec]) == 0
    rows = parse_simple_table(capsys.readouterr().out)
    assert rows[name]["claims"] == ["completeness", "dummy"]
    assert rows[name]["kind"] == ["path"]
    assert rows[name]["source"] == [f"spec {spec}: {module}"]
    assert EXPECTED_BUILTINS <= set(rows)


def test_list_method_spec_plain_callable_and_repeat(scratch_default, spec_dir, capsys):
    """``--method`` may repeat; a plain callable is listed under its spec with no claims."""
    module = spec_dir(
        """
        def plain(model, x, target, baseline):
            return x

        def other(model, x, target, baseline):
            return -x
        """
    )
    assert main(["list", "methods", "--method", f"{module}:plain", "--method", f"{module}:other"]) == 0
    rows = parse_simple_table(capsys.readouterr().out)
    assert rows[f"{module}:plain"]["claims"] == ["-"]
    assert rows[f"{module}:other"]["kind"] == ["other"]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        # --method takes names, variants and globs too, so a bare word is an unknown name
        ("no_colon_at_all", "no attribution method named 'no_colon_at_all'"),
        ("no_colon[at=all]", "no attribution method named 'no_colon'"),
        ("abcli_missing_no_such_module:fn", "Make sure the module is importable"),
        ("os.path:no_such_function", "has no attribute 'no_such_function'"),
    ],
    ids=["unknown-name", "unknown-variant-base", "missing-module", "missing-attribute"],
)
def test_list_broken_spec_exits_2_with_message(scratch_default, capsys, spec, expected):
    """A broken ``--method`` spec exits with code 2 and prints ``attrbench: error:`` and a
    message saying what is wrong, without a traceback or a table."""
    assert main(["list", "methods", "--method", spec]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("attrbench: error: ")
    assert expected in captured.err
    assert spec in captured.err
    assert "Traceback (most recent call last)" not in captured.err
    assert captured.out == ""


def test_list_spec_duplicating_builtin_exits_2(scratch_default, spec_dir, capsys):
    """A ``--method`` spec whose decorated name clashes with a built-in exits 2 with the
    DuplicateMethodError message naming both sources."""
    module = spec_dir(
        """
        import attrbench

        @attrbench.register_method("saliency")
        def clash(model, x, target, baseline):
            return x
        """
    )
    assert main(["list", "methods", "--method", f"{module}:clash"]) == 2
    err = capsys.readouterr().err
    assert "registered twice" in err
    assert "built-in attrbench.methods.gradient.saliency" in err and module in err


def test_list_reports_plugin_problems_with_exit_1(scratch_default, capsys):
    """When a plugin failed to load, ``attrbench list`` still prints the table but reports
    each problem on stderr and exits 1."""
    scratch_default.problems.append(
        PluginProblem("entry point broken = broken_pkg (broken-pkg 1.0)", "RuntimeError: boom", "  File x")
    )
    assert main(["list", "methods"]) == 1
    captured = capsys.readouterr()
    assert "saliency" in captured.out
    assert "plugin failed to load: entry point broken = broken_pkg (broken-pkg 1.0): RuntimeError: boom" in captured.err


def test_cli_requires_a_command(capsys):
    """Without a subcommand argparse exits with status 2 and a usage message."""
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    assert "usage: attrbench" in capsys.readouterr().err


def test_console_script_list():
    """The installed ``attrbench`` console script runs ``list`` in a fresh interpreter:
    exit code 0 and every built-in printed."""
    script = shutil.which("attrbench", path=str(Path(sys.executable).parent)) or shutil.which("attrbench")
    assert script, "the attrbench console script is not installed (pip install -e .)"
    env = {k: v for k, v in os.environ.items() if k != "ATTRBENCH_PLUGINS"}
    done = subprocess.run(
        [script, "list"], capture_output=True, text=True, timeout=300, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    rows = parse_simple_table(done.stdout)
    assert EXPECTED_BUILTINS <= set(rows)
    assert rows["integrated_gradients"]["kind"] == ["path"]


def test_list_subjects_prints_tags_without_building(capsys, monkeypatch):
    """``attrbench list subjects`` prints every registered subject with its tags and
    description from the registrations alone: no factory runs (so nothing is trained)."""
    from attrbench.subjects import registry as subjects_registry

    subjects_registry.default_registry.discover()
    monkeypatch.setattr(subjects_registry.SubjectEntry, "build", lambda self: pytest.fail("built " + self.name))
    assert main(["list", "subjects"]) == 0
    out = capsys.readouterr().out
    for name in subjects_registry.default_registry.available():
        entry = subjects_registry.default_registry.entries[name]
        [line] = [ln for ln in out.splitlines() if ln.startswith(name + " ")]
        assert ", ".join(sorted(entry.tags)) in line
    assert "analytic/relu_product" in out and "multiplicative" in out


def test_list_without_argument_prints_methods_then_subjects(capsys):
    """Plain ``attrbench list`` shows both tables, methods first."""
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert out.index("integrated_gradients") < out.index("analytic/linear")
