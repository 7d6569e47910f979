"""The README's method table is what `attrbench list --format github` prints now."""

from __future__ import annotations

from pathlib import Path

from attrbench.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_method_table_matches_registry(capsys, monkeypatch):
    """Regenerate with `attrbench list --format github` when a claim or method changes."""
    monkeypatch.setenv("ATTRBENCH_PLUGINS", "none")
    from attrbench.methods import registry

    monkeypatch.setattr(registry, "default_registry", registry.Registry(plugins="none"))
    assert main(["list", "--format", "github"]) == 0
    table = capsys.readouterr().out.strip()
    assert table in README.read_text(), "README method table is stale: paste `attrbench list --format github`"
