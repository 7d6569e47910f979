"""The worked example plugin (examples/attrbench-example-plugin) installs and is gated.

The example is copied to a temporary directory (so building it leaves no build/ or
egg-info in the checkout), built into a wheel without build isolation, and installed with
``pip install --no-deps --target``; subprocesses then run the ``attrbench`` CLI with that
directory on PYTHONPATH, where ``importlib.metadata`` finds the plugin's entry point.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "attrbench-example-plugin"
HONEST = ("example_gradient_x_input", "example_integrated_gradients")


def _pip(*args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", *args, "-q", "--disable-pip-version-check"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A directory holding the installed example plugin (its dist-info and package)."""
    root = tmp_path_factory.mktemp("example")
    source = root / "src"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    _pip("wheel", "--no-deps", "--no-build-isolation", "-w", str(root / "wheels"), str(source))
    (wheel,) = (root / "wheels").glob("attrbench_example_plugin-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        entry_points = next(zf.read(n).decode() for n in zf.namelist() if n.endswith("entry_points.txt"))
    assert "[attrbench.methods]" in entry_points
    assert "attrbench_example = attrbench_example.methods" in entry_points
    _pip("install", "--no-deps", "--target", str(root / "site"), str(wheel))
    return root / "site"


def run_python(site: Path, *args: str, cwd=None) -> subprocess.CompletedProcess:
    """``python ARGS`` with the installed plugin on PYTHONPATH (ATTRBENCH_PLUGINS unset)."""
    env = {k: v for k, v in os.environ.items() if k != "ATTRBENCH_PLUGINS"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300, check=False
    )


def attrbench(site: Path, *args: str, cwd=None) -> subprocess.CompletedProcess:
    return run_python(site, "-m", "attrbench.cli", *args, cwd=cwd)


def test_installed_plugin_is_listed_with_its_claims(site):
    """``attrbench list methods`` (exit 0: the plugin loads) shows both methods with
    their claims and the entry point they came from."""
    done = attrbench(site, "list", "methods", "--sources", "--format", "github")
    assert done.returncode == 0, done.stderr
    lines = {line.split("|")[1].strip(): line for line in done.stdout.splitlines() if line.startswith("| example_")}
    assert set(lines) == set(HONEST)  # the overclaiming module is not an entry point
    assert lines["example_gradient_x_input"].split("|")[3].strip() == "dummy, linearity"
    assert lines["example_integrated_gradients"].split("|")[3].strip() == "completeness, dummy, linearity"
    assert "entry point attrbench_example = attrbench_example.methods (attrbench-example-plugin 0.1.0)" in done.stdout


def test_installed_plugin_passes_its_gate(site, tmp_path):
    """``attrbench run --method ... --suite axioms`` benchmarks the plugin's methods and
    exits 0: every claim they make (completeness, dummy, linearity) holds, on the analytic
    subjects and on drawn networks."""
    args = ["run", "--suite", "axioms", "--scale", "quick", "--no-leaderboard"]
    for name in HONEST:
        args += ["--method", name]
    done = attrbench(site, *args, "--", "-v", "-k", "completeness or dummy or linearity", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    for name in HONEST:
        assert f"[{name}-analytic/" in done.stdout  # parametrised over the subjects
        assert f"[{name}-generated]" in done.stdout  # and the drawn cases
        assert f"| {name} " in done.stdout  # and in the summary table
    assert " failed" not in done.stdout
    assert not (tmp_path / "leaderboards").exists()


def test_overclaiming_example_fails_the_gate(site, tmp_path):
    """The example's deliberately false completeness claim, run through its module:attr
    spec, fails the gate with the counterexample (docs/submitting.md shows this run)."""
    done = attrbench(
        site, "run", "--method", "attrbench_example.overclaiming:overclaiming_gxi", "--suite", "axioms",
        "--subject", "analytic/product", "--scale", "quick", "--no-leaderboard", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "example_overclaiming_gxi claims completeness, violated on analytic/product" in done.stdout


def test_example_plugin_tests_run_the_method_tester(site):
    """The example's own tests (examples/attrbench-example-plugin/tests/) run attrbench's
    method contract on both methods against the installed package, and pass: every
    property applying to each method is a test (docs/submitting.md, "Test your method in
    your own CI")."""
    source = site.parent / "src"
    done = run_python(site, "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider", "-rA", cwd=source)
    assert done.returncode == 0, done.stdout + done.stderr
    for prop in ("call", "dtypes", "determinism", "batch_independence", "derivative"):
        assert f"PASSED tests/test_methods.py::test_contract[example_gradient_x_input-{prop}]" in done.stdout
    for prop in ("call", "dtypes", "determinism", "batch_independence"):
        assert f"PASSED tests/test_methods.py::test_contract[example_integrated_gradients-{prop}]" in done.stdout
    assert "9 passed" in done.stdout
