"""The README and docs/ say what the code does now: the method and subject tables are what
`attrbench list` prints, the suites, options and scale tables follow the code, every cited
test, module, file and link exists, and the README stays an entry point."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from attrbench.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
BENCH_README = ROOT / "bench" / "README.md"
#: README.md's length limit: an entry point, everything else in docs/ (issue 18).
README_MAX_LINES = 250
#: the pages the README points a reader at
PAGES = ("docs/suites.md", "docs/methods.md", "docs/subjects.md", "docs/guarantees.md",
         "docs/submitting.md", "docs/cli.md", "docs/site.md", "bench/README.md")  # fmt: skip


def _documents() -> list[Path]:
    """Every hand-written or generated markdown page a reader is sent to."""
    return [README, *sorted(DOCS.glob("*.md")), BENCH_README]


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _fenced(text: str) -> tuple[list[str], str]:
    """The fenced code blocks of a markdown text, and the text without them."""
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.S | re.M)
    return blocks, re.sub(r"^```[^\n]*\n.*?^```", "", text, flags=re.S | re.M)


def _inline_code(text: str) -> list[str]:
    """Inline code spans outside fenced blocks; a name wrapped after '.' or '/' is rejoined
    and other line breaks become spaces."""
    _, prose = _fenced(text)
    spans = re.findall(r"`([^`]+)`", prose)
    return [re.sub(r"\s+", " ", re.sub(r"([./])\s*\n\s*", r"\1", span)) for span in spans]


def test_method_and_subject_tables_match_the_registries(capsys, monkeypatch):
    """Regenerate with `attrbench list methods|subjects --format github` when a claim,
    method or subject changes: docs/methods.md and docs/subjects.md hold the tables."""
    monkeypatch.setenv("ATTRBENCH_PLUGINS", "none")
    from attrbench.methods import registry

    monkeypatch.setattr(registry, "default_registry", registry.Registry(plugins="none"))
    from attrbench.subjects import registry as subjects_registry

    monkeypatch.setattr(subjects_registry, "default_registry", subjects_registry.SubjectRegistry(plugins="none"))
    for what, page in (("methods", DOCS / "methods.md"), ("subjects", DOCS / "subjects.md")):
        assert main(["list", what, "--format", "github"]) == 0
        table = capsys.readouterr().out.strip()
        assert table in _read(page), (
            f"{page.name}: {what} table is stale: paste `attrbench list {what} --format github`"
        )


def _cited_tests(path: Path) -> int:
    """Check every test a page cites (`tests/file.py::test_name`, or `::test_name` after a
    file in the same paragraph) and count the cited test functions."""
    cited = 0
    for paragraph in _read(path).split("\n\n"):
        current = None
        for token in (re.sub(r"\s+", "", t) for t in re.findall(r"`([^`]+)`", paragraph)):
            file, _, name = token.partition("::")
            if file.startswith("tests/") and file.endswith(".py"):
                current = ROOT / file
                assert current.is_file(), f"{path.name}: {token}"
            elif file or not name or current is None:
                continue
            if name:
                function = name.split("[")[0]
                assert f"def {function}(" in _read(current), f"{path.name}: {current.name}::{function}"
                cited += 1
    return cited


def test_every_test_the_docs_cite_exists():
    """The guarantees (docs/guarantees.md) and the other pages point at tests; each cited
    file and test function exists, so a renamed test cannot leave a guarantee pointing at
    nothing. Every guarantee cites at least one test file."""
    counts = {path.name: _cited_tests(path) for path in _documents()}
    assert counts["guarantees.md"] >= 15, counts
    guarantees = re.split(r"^## ", _read(DOCS / "guarantees.md"), flags=re.M)[1:]
    assert len(guarantees) >= 8
    for section in guarantees:
        title = section.splitlines()[0]
        if title != "What is not promised":
            assert re.search(r"`tests/[\w/]+\.py", section), f"guarantee {title!r} names no test"


def test_readme_is_an_entry_point():
    """README.md stays at most 250 lines and sends the reader to every docs page."""
    text = _read(README)
    assert len(text.splitlines()) <= README_MAX_LINES, f"README.md has {len(text.splitlines())} lines"
    for page in PAGES:
        assert f"]({page})" in text, f"README.md does not link {page}"
    assert "`standard`" in text and "seed 0" in text and "`pytest suites/`" in text  # how leaderboards/ was made


def _anchors(path: Path) -> set[str]:
    """GitHub's heading anchors of a markdown page."""
    _, prose = _fenced(_read(path))
    headings = re.findall(r"^#+\s+(.*?)\s*$", prose, flags=re.M)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def test_every_relative_link_points_at_an_existing_file():
    """Each relative link of README.md, docs/*.md and bench/README.md names a file that
    exists, and a #fragment into a markdown page names one of its headings."""
    links = 0
    for path in _documents():
        _, prose = _fenced(_read(path))
        for target in re.findall(r"\]\(([^)\s]+)\)", prose):
            if re.match(r"[a-z]+:", target):
                continue  # https:, mailto:
            file, _, fragment = target.partition("#")
            resolved = (path.parent / file).resolve() if file else path
            assert resolved.exists(), f"{path.relative_to(ROOT)}: link to missing {target}"
            if fragment and resolved.suffix == ".md":
                assert fragment in _anchors(resolved), f"{path.relative_to(ROOT)}: no heading for {target}"
            links += 1
    assert links >= 30


def _package_dirs() -> dict[str, Path]:
    """Packages installed from another directory (pyproject's [tool.setuptools.package-dir])."""
    section = _read(ROOT / "pyproject.toml").split("[tool.setuptools.package-dir]", 1)[1].split("\n[", 1)[0]
    mapping = re.findall(r'^"([\w.]+)"\s*=\s*"([^"]+)"', section, flags=re.M)
    return {package: ROOT / directory for package, directory in mapping}


def _module_file(dotted: str, package_dirs: dict[str, Path]) -> Path | None:
    for package, directory in package_dirs.items():
        if dotted == package or dotted.startswith(package + "."):
            base = directory.joinpath(*dotted[len(package) :].split(".")[1:])
            break
    else:
        base = ROOT.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _unresolved(dotted: str, package_dirs: dict[str, Path]) -> str | None:
    """None when `dotted` is a module of this tree or an attribute of one, else why not."""
    parts = dotted.split(".")
    for k in range(len(parts), 0, -1):
        module = ".".join(parts[:k])
        if _module_file(module, package_dirs) is not None:
            break
    else:
        return f"{dotted}: no module"
    if k == len(parts):
        return None
    obj = importlib.import_module(module)
    for name in parts[k:]:
        if not hasattr(obj, name):
            return f"{dotted}: {module} has no {'.'.join(parts[k:])}"
        obj = getattr(obj, name)
    return None


def test_every_module_and_path_the_docs_name_exists():
    """Module paths (`attrbench/leaderboard/`, `tests/test_guard.py`, ...), dotted names
    (`attrbench.functional.evaluate_replaced`) and `from attrbench... import name` lines in
    the pages name files, modules and attributes that exist, so a move cannot leave the
    docs pointing at the old place."""
    package_dirs = _package_dirs()
    problems, checked = [], 0
    top = r"(?:attrbench|tests|bench|examples|suites|docs|leaderboards)"
    for path in _documents():
        text = _read(path)
        blocks, _ = _fenced(text)
        for span in _inline_code(text) + blocks:
            for dotted in re.findall(r"(?<![\w.])attrbench(?:\.[A-Za-z_]\w*)+", span):
                problem = _unresolved(dotted, package_dirs)
                problems += [f"{path.relative_to(ROOT)}: {problem}"] if problem else []
                checked += 1
        for block in blocks:
            for module, names in re.findall(r"^\s*from\s+(attrbench[\w.]*)\s+import\s+([\w ,]+)", block, flags=re.M):
                for name in (n.split(" as ")[0].strip() for n in names.split(",")):
                    problem = _unresolved(f"{module}.{name}", package_dirs)
                    problems += [f"{path.relative_to(ROOT)}: {problem}"] if problem else []
                    checked += 1
        for name in re.findall(rf"(?<![\w./-]){top}/[\w./*<>-]*", "\n".join(_inline_code(text) + blocks)):
            name = name.rstrip(".")
            if "<" in name:
                continue  # a pattern such as results/suite_timing_<scale>.md
            if not (any(ROOT.glob(name.rstrip("/"))) if "*" in name else (ROOT / name).exists()):
                problems.append(f"{path.relative_to(ROOT)}: {name} does not exist")
            checked += 1
    assert not problems, "\n".join(problems)
    assert checked >= 100


def test_readme_suites_table_lists_every_suite(capsys):
    """README.md has one suites-table row per suite `attrbench list suites` prints, linking
    its section of docs/suites.md and its leaderboard page."""
    assert main(["list", "suites", "--format", "github"]) == 0
    rows = capsys.readouterr().out.strip().splitlines()[2:]
    suites = [row.split("|")[1].strip() for row in rows]
    assert suites
    table = [line for line in _read(README).splitlines() if line.startswith("| [`")]
    assert [re.match(r"\| \[`(\w+)`\]", line).group(1) for line in table] == suites
    for name, line in zip(suites, table):
        assert "](docs/suites.md#the-" in line and f"](leaderboards/{name}.md)" in line, line


def test_cli_options_table_lists_every_pytest_option():
    """docs/cli.md's options table has a row for every option of the `attrbench` group of
    `pytest --help`."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--help", "-p", "no:cacheprovider"],
        capture_output=True, text=True, cwd=ROOT, check=True,
    )  # fmt: skip
    group = result.stdout.split("\nattrbench", 1)[1].split("\n\n", 1)[0]
    options = re.findall(r"^  (--[\w-]+)", group, flags=re.M)
    assert "--attrbench-scale" in options and "--no-leaderboard" in options, group
    rows = [line for line in _read(DOCS / "cli.md").splitlines() if line.startswith("| `--")]
    for option in options:
        assert any(f"`{option}" in row for row in rows), f"docs/cli.md: no row for {option}"


def _table(text: str, header: str) -> list[list[str]]:
    """The body rows of the markdown table whose header line starts with `header`."""
    lines = text[text.index(header) :].splitlines()
    rows = []
    for line in lines[2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


@pytest.mark.parametrize("scale", ["quick", "standard", "paper"])
def test_scale_tables_match_the_presets(scale):
    """docs/suites.md's Sensitivity-n and fragility scale tables and the drawn-case counts
    are attrbench/scales.py's presets."""
    from attrbench.scales import SCALES

    preset, text = SCALES[scale], _read(DOCS / "suites.md")
    (sens,) = [row for row in _table(text, "| scale | samples per subject |") if row[0] == f"`{scale}`"]
    assert [int(cell.split()[0]) for cell in sens[1:4]] == [
        preset.sensitivity_n_samples, preset.n_subsets, preset.sensitivity_n_grid
    ]  # fmt: skip
    (frag,) = [row for row in _table(text, "| scale | samples | ε") if row[0] == f"`{scale}`"]
    samples = None if frag[1].startswith("all") else int(frag[1])
    epsilons = tuple(float(e) for e in frag[2].split(", "))
    numerator, denominator = frag[4].split("/")
    assert (samples, epsilons, int(frag[3].split()[0])) == (
        preset.fragility_samples, preset.fragility_epsilons, preset.fragility_steps
    )  # fmt: skip
    assert numerator == "ε" and 1 / int(denominator) == preset.fragility_step
    assert float(frag[5].rstrip(" %")) / 100 == preset.fragility_topk
    spsa_steps, directions, c = (float(v) for v in frag[6].split(", "))
    assert (spsa_steps, directions, c) == (
        preset.fragility_spsa_steps, preset.fragility_spsa_directions, preset.fragility_spsa_c
    )  # fmt: skip
    assert int(frag[7]) == preset.fragility_spsa_steps * (2 * preset.fragility_spsa_directions + 1)
    counts = re.search(r"(\d+) / (\d+) / (\d+)\s+cases at `quick` / `standard` / `paper`", text)
    assert int(counts.group(list(SCALES).index(scale) + 1)) == preset.hypothesis_examples
