"""The package installs as the issue specifies: wheel contents, entry points, and a
pytest plugin that does not import torch."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_pytest_plugin_import_does_not_import_torch():
    """pytest loads the plugin in every run; it must stay light (DESIGN.md)."""
    code = "import sys, attrbench.pytest_plugin; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_wheel_ships_suites_and_entry_points(tmp_path):
    """A built wheel contains attrbench.suites (from suites/), the console script and the
    pytest11 entry point, so `pytest --pyargs attrbench.suites` works when installed."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(ROOT)],
        check=True,
    )
    (wheel,) = tmp_path.glob("attrbench-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        entry_points = next(zf.read(n).decode() for n in names if n.endswith("entry_points.txt"))
    for module in (
        "attrbench/suites/__init__.py", "attrbench/suites/test_axioms.py", "attrbench/methods/registry.py",
        "attrbench/subjects/analytic.py", "attrbench/checks/axioms.py", "attrbench/testing/strategies.py",
        "attrbench/adapters/captum.py", "attrbench/leaderboard/store.py", "attrbench/pytest_plugin.py",
        "attrbench/leaderboard/site/index.html.j2", "attrbench/leaderboard/site/site.js",
        "attrbench/leaderboard/site/style.css", "attrbench/suite_costs.json",
    ):  # fmt: skip
        assert module in names, f"{module} missing from the wheel"
    assert "attrbench = attrbench.cli:main" in entry_points
    assert "attrbench = attrbench.pytest_plugin" in entry_points


def test_pytest_report_header_names_attrbench(pytester):
    """The plugin is active in a pytest run and reports how many methods are registered."""
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = pytester.runpytest_subprocess()
    result.stdout.fnmatch_lines(["attrbench * attribution methods registered, * subjects; scale standard, seed 0"])
