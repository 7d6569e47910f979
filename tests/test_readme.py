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
