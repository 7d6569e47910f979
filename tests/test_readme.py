"""The README's method and subject tables are what `attrbench list` prints now."""

from __future__ import annotations

from pathlib import Path

from attrbench.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_method_table_matches_registry(capsys, monkeypatch):
    """Regenerate with `attrbench list --format github` when a claim or method changes."""
    monkeypatch.setenv("ATTRBENCH_PLUGINS", "none")
    from attrbench.methods import registry

    monkeypatch.setattr(registry, "default_registry", registry.Registry(plugins="none"))
    from attrbench.subjects import registry as subjects_registry

    monkeypatch.setattr(subjects_registry, "default_registry", subjects_registry.SubjectRegistry(plugins="none"))
    for what in ("methods", "subjects"):
        assert main(["list", what, "--format", "github"]) == 0
        table = capsys.readouterr().out.strip()
        assert table in README.read_text(), f"README {what} table is stale: paste `attrbench list {what} --format github`"


def test_every_test_the_readme_cites_exists():
    """The README's guarantees point at tests (`tests/file.py::test_name`, or `::test_name`
    after a file in the same paragraph); each cited file and test function exists, so a
    renamed test cannot leave a guarantee pointing at nothing."""
    import re

    root = README.parent
    cited = 0
    for paragraph in README.read_text().split("\n\n"):
        current = None
        for token in (re.sub(r"\s+", "", t) for t in re.findall(r"`([^`]+)`", paragraph)):
            path, _, name = token.partition("::")
            if path.startswith("tests/") and path.endswith(".py"):
                current = root / path
                assert current.is_file(), token
            elif path or not name or current is None:
                continue
            if name:
                function = name.split("[")[0]
                assert f"def {function}(" in current.read_text(), f"{current.name}::{function}"
                cited += 1
    assert cited >= 15
