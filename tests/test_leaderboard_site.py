"""The HTML site (attrbench.leaderboard.html) on hand-built records: its tables hold the
markdown pages' numbers, every suite of SUITES and every method gets a page, cards show
what the rows and the registry say, and bad input is refused as on the markdown pages,
with no half-written site left. The browser tests are in tests/test_site_browser.py."""

from __future__ import annotations

import json
import re
import shlex
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from attrbench import leaderboard as lb
from attrbench.checks import SUITES
from attrbench.cli import main
from attrbench.errors import LeaderboardError
from attrbench.leaderboard import html, store
from attrbench.results import Record
from attrbench.suite import HOLDS_RATE, Suite


def row(suite="sensitivity_n", check="sensitivity_n", metric="mean_pcc", method="a", subject="s1", value=None, *,
        samples=None, holds=None, claimed=False, error="", kind="", scale="quick", details="{}", **extra):  # fmt: skip
    if value is None and samples is not None and not error:
        value = float(np.mean(samples))
    aggregate = "mean" if samples is not None else None
    return Record(suite, check, metric, "higher", method, subject, None if error else value, holds, claimed, error,
                  details, scale, 0, kind=kind, samples=samples, aggregate=aggregate, **extra)  # fmt: skip


def records():
    """Three contestants and a control on two sampled subjects (intervals, ▲/≈/▼ marks),
    an axiom verdict matrix with a violated claim and an error, and a sanity verdict that
    does not hold (the ⚠ mark)."""
    x = np.random.default_rng(5).normal(size=30)
    y = np.random.default_rng(6).normal(size=30)
    out = []
    for method, shift, kind in (("a", 1.0, ""), ("b", 0.001, ""), ("c", -1.0, ""), ("rnd", 0.0, "control")):
        out += [row(method=method, subject="digits/mlp", samples=x + shift, kind=kind, source_hash="h" + method),
                row(method=method, subject="analytic/lin", samples=y + shift, kind=kind)]  # fmt: skip
    counterexample = json.dumps({"x": [1.0, -2.0], "expected": 3.0}, sort_keys=True)
    out += [
        row("axioms", "completeness", "abs_error", "a", "analytic/lin", 0.0, holds=True, claimed=True),
        row("axioms", "completeness", "abs_error", "b", "analytic/lin", 0.5, holds=False, claimed=True,
            details=counterexample),
        row("axioms", "dummy", "abs_error", "b", "analytic/lin", error="RuntimeError: boom"),
        row("axioms", "completeness", "abs_error", "rnd", "analytic/lin", 0.9, holds=False, kind="control"),
        row("sanity", "model_randomization", "similarity", "c", "digits/mlp", 0.9, holds=False),
        row("sanity", "model_randomization", "similarity", "a", "digits/mlp", 0.1, holds=True),
    ]  # fmt: skip
    return out


class Tables(HTMLParser):
    """Every table of a page: caption, header texts and rows of cell texts (the rows of
    both row groups, without the controls' group heading)."""

    def __init__(self, text: str):
        super().__init__()
        self.tables: dict[str, dict] = {}
        self.links: list[str] = []
        self._table = self._row = self._text = None
        self._group = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and "href" in attrs:
            self.links.append(attrs["href"])
        if tag == "table":
            self._table = {"caption": "", "headers": [], "rows": []}
        elif tag == "tr":
            self._row, self._group = [], attrs.get("class") == "group"
        elif tag in ("caption", "th", "td"):
            self._text = []

    def handle_data(self, data):
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag in ("th", "td", "caption") and self._text is not None:
            text, self._text = "".join(self._text).strip(), None
            if tag == "caption":
                self._table["caption"] = text
            else:
                self._row.append(text)
        elif tag == "tr" and self._row is not None:
            if not self._group:
                key = "headers" if not self._table["headers"] else "rows"
                self._table[key] = self._row if key == "headers" else [*self._table["rows"], self._row]
            self._row = None
        elif tag == "table":
            self.tables[self._table["caption"]] = self._table
            self._table = None


def markdown_tables(page: str) -> list[list[list[str]]]:
    """The github-format tables of a markdown page as rows of cells (header first; the
    separator line and the controls' ─── rule row left out)."""
    tables, current = [], []
    for line in [*page.splitlines(), ""]:
        if line.startswith("|"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip()[1:-1])]
            if not set("".join(cells)) <= set("-:") and not all(c == "───" for c in cells):
                current.append(cells)
        elif current:
            tables.append(current)
            current = []
    return tables


@pytest.fixture(scope="module")
def rendered():
    recs = [lb.with_interval(r) for r in records()]
    return lb.render_pages(recs), html.render_site(recs, {"scale": "quick"}, figure_files={})


def test_tables_show_the_markdown_pages_numbers(rendered):
    """The overall table of index.html and each suite's summary table (on index.html and
    on the suite's page) hold, cell for cell, the rows of README.md's overall table and of
    the suite's markdown summary table (parsed from the markdown pages' bytes): the same
    numbers, intervals, ranks, control marks and sanity marks."""
    pages, site = rendered
    index = Tables(site["index.html"]).tables
    overall = markdown_tables(pages["README.md"])[0]
    (html_overall,) = [t for caption, t in index.items() if caption.startswith("Every method's score")]
    assert [html_overall["headers"], *html_overall["rows"]] == overall
    assert ["control", "rnd", *overall[-1][2:]] == overall[-1]  # the control is marked "control"
    assert any(cells[1] == "c ⚠" for cells in overall)  # and the sanity failure is marked
    for suite in SUITES.values():
        summary = markdown_tables(pages[suite.page])[0] if "## Summary" in pages[suite.page] else None
        caption = f"{suite.title}: summary ({suite.score_name} {'↑' if suite.direction == 'higher' else '↓'})"
        if summary is None:
            assert caption not in index
            continue
        for page in (site["index.html"], site[html.page_of(suite)]):
            table = Tables(page).tables[caption]
            assert [table["headers"], *table["rows"]] == summary, suite.name


def test_check_tables_and_verdict_matrix_match_and_mark_subject_columns(rendered):
    """A suite page's per-check tables and verdict matrix hold the markdown page's cells
    ("**✗ claimed**" shown in bold), and each subject column is marked for the filter."""
    pages, site = rendered
    md = markdown_tables(pages["axioms.md"])
    tables = Tables(site["axioms.html"]).tables
    matrix = tables["Axioms: verdict per method and check"]
    assert [matrix["headers"], *matrix["rows"]] == [[c.replace("**", "") for c in r] for r in md[1]]
    assert "<strong>✗ claimed</strong>" in site["axioms.html"]
    check = Tables(site["sensitivity_n.html"]).tables["sensitivity_n · mean_pcc"]
    assert [check["headers"], *check["rows"]] == markdown_tables(pages["sensitivity_n.md"])[1]
    assert 'data-subject="analytic/lin"' in site["sensitivity_n.html"]
    assert 'data-subject="digits/mlp"' in site["sensitivity_n.html"]


def test_every_suite_and_method_has_a_page_and_every_link_resolves(rendered, monkeypatch):
    """A suite added to SUITES (as a new suite module does) gets its page and a link on
    every page with no change to the site code; every method a card; every relative link
    of every page names a file of the site; nothing is loaded from the network."""
    extra = Suite(name="extra", title="Extra", marker_help="test", description="A suite added later.",
                  summary_metrics=(HOLDS_RATE,), direction="higher", subjects={"extra_check": ("digits/*",)},
                  page="extra.md")  # fmt: skip
    monkeypatch.setitem(SUITES, "extra", extra)
    recs = [*records(), row("extra", "extra_check", "holds", "a", "digits/mlp", 1.0, holds=True)]
    site = html.render_site(recs, figure_files={})
    assert "extra.html" in site and "A suite added later." in site["extra.html"]
    assert {f"method-{m}.html" for m in "abc"} | {"method-rnd.html"} <= set(site)
    for name, content in site.items():
        if not name.endswith(".html"):
            continue
        page = Tables(content)
        assert "extra.html" in page.links, name
        for link in page.links:
            if not link.startswith(("http://", "https://", "#")):
                assert link.split("#")[0] in site, (name, link)
        assert not re.search(r'(src|href)="(https?:)?//', content.replace('<a href="http', "<a x")), name


def test_method_card_shows_kind_claims_provenance_verdicts_and_ranks(monkeypatch):
    """integrated_gradients' card: its registry kind, claims with their ``unless`` tags and
    reference; the rows' source hash and plugin; a variant's base method and options
    (``Record.base_method``/``options``, read where present); its violated claim with the
    counterexample from ``details``; its error; its score and rank in each suite."""
    from attrbench.methods import default_registry

    entry = default_registry.entry("integrated_gradients")
    counterexample = json.dumps({"x": [0.25], "expected": 7.5})
    rows = [
        row(method="integrated_gradients[n_steps=8]", samples=[0.1, 0.2, 0.4], plugin="p 1.0", source_hash="abc"),
        row(method="other", samples=[0.0, 0.1, 0.0]),
        row("axioms", "completeness", "abs_error", "integrated_gradients[n_steps=8]", "analytic/lin", 0.5,
            holds=False, claimed=True, details=counterexample),
        row("axioms", "dummy", "abs_error", "integrated_gradients[n_steps=8]", "analytic/lin", error="ValueError: x"),
    ]  # fmt: skip
    variant = []
    for r in (lb.with_interval(r) for r in rows):
        if r.method.startswith("integrated"):  # the fields another branch adds to Record, set either way
            object.__setattr__(r, "base_method", "integrated_gradients")
            object.__setattr__(r, "options", {"n_steps": 8})
        variant.append(r)
    site = html.render_site(variant, figure_files={})
    card = site[html.card_of("integrated_gradients[n_steps=8]")]
    assert html.card_of("integrated_gradients[n_steps=8]").startswith("method-integrated_gradients-n_steps-8-")
    assert f"<dd>{entry.kind}</dd>" in card and entry.reference.replace("&", "&amp;") in card
    lipschitz = next(c for c in entry.claims if c.unless)
    assert f"<li>{lipschitz.axiom} (unless the subject is tagged {', '.join(sorted(lipschitz.unless))})</li>" in card
    assert "<code>abc</code>" in card and "p 1.0" in card
    assert "<dt>Variant of</dt><dd><code>integrated_gradients</code></dd>" in card and "n_steps=8" in card
    assert "Counterexample: <code>completeness</code> on <code>analytic/lin</code> (claimed" in card
    assert '"expected": 7.5' in unescape(card) and "ValueError: x" in card
    ranks = {r[0]: r[1:3] for r in Tables(card).tables["Where integrated_gradients[n_steps=8] ranks"]["rows"]}
    pages = lb.render_pages(variant)
    for suite in ("axioms", "sensitivity_n"):
        (md,) = [r for r in markdown_tables(pages[f"{suite}.md"])[0] if r[1] == "integrated_gradients[n_steps=8]"]
        assert ranks[SUITES[suite].title] == [md[2], md[0]]  # score [interval] and rank as on the suite's page


def test_partial_run_and_old_rows_render(tmp_path):
    """A partial run's reason is shown on every page; rows stored before kind, samples and
    intervals existed (an older results.jsonl) render as on the markdown pages."""
    old = [{k: v for k, v in r.to_dict().items() if k not in ("kind", "ci_low", "ci_high", "samples", "aggregate",
                                                               "source_hash", "plugin")}
           for r in records()]  # fmt: skip
    path = tmp_path / "results.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in [{"metadata": {"partial": "it was interrupted"}}, *old]))
    assert main(["leaderboard", str(path), "--html", str(tmp_path / "web")]) == 0
    index = (tmp_path / "web" / "index.html").read_text(encoding="utf-8")
    assert "<strong>Partial results:</strong> it was interrupted." in index
    overall = Tables(index).tables
    (table,) = [t for caption, t in overall.items() if caption.startswith("Every method's score")]
    assert [table["headers"], *table["rows"]] == markdown_tables((tmp_path / "README.md").read_text())[0]
    assert not (tmp_path / "site").exists()  # --html put it elsewhere


def test_bad_input_is_refused_and_nothing_is_written(tmp_path, capsys):
    """Rows of two scales: the markdown renderer's LeaderboardError, and neither the
    pages nor the site are written; a corrupt store: exit 2 naming the line, no site; a
    directory attrbench did not write is never replaced."""
    mixed = [row(samples=[0.0, 1.0]), row(method="b", samples=[0.0, 1.0], scale="standard")]
    for render in (lambda: lb.write_leaderboard(tmp_path / "lb", mixed, {}), lambda: html.render_site(mixed)):
        with pytest.raises(LeaderboardError, match="never ranked together"):
            render()
    assert not (tmp_path / "lb").exists()

    bad = tmp_path / "results.jsonl"
    lines = lb.results_jsonl(records(), {}).splitlines()
    bad.write_text("\n".join([*lines[:2], lines[2][:-3]]) + "\n")
    assert main(["leaderboard", str(bad), "--html", str(tmp_path / "web")]) == 2
    assert "line 3" in capsys.readouterr().err and not (tmp_path / "web").exists()

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    good = tmp_path / "good"
    with pytest.raises(LeaderboardError, match="not written by attrbench"):
        lb.write_leaderboard(good, records(), {}, html_dir=mine)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"] and not good.exists()


def test_site_is_replaced_as_a_whole(tmp_path, monkeypatch):
    """A second write replaces the site (a file of the first write no longer produced is
    gone) and leaves no temporary directory; when moving the new site into place fails,
    the old site is back in place, complete, and the temporary directory is removed."""
    directory = tmp_path / "lb"
    lb.write_leaderboard(directory, records(), {})
    assert (directory / "site" / "method-rnd.html").is_file()
    lb.write_leaderboard(directory, [r for r in records() if r.method != "rnd"], {})
    assert not (directory / "site" / "method-rnd.html").exists()
    before = {p.name: p.read_bytes() for p in (directory / "site").iterdir()}
    assert sorted(p.name for p in directory.iterdir() if p.name.startswith(".")) == []

    replace = store.os.replace

    def fail_moving_the_new_site_in(src, dst):
        if Path(src).is_dir() and str(src).endswith(".tmp"):  # after the old site was moved aside
            raise OSError("disk full")
        return replace(src, dst)

    monkeypatch.setattr(store.os, "replace", fail_moving_the_new_site_in)
    with pytest.raises(OSError, match="disk full"):
        lb.write_leaderboard(directory, records(), {})
    assert {p.name: p.read_bytes() for p in (directory / "site").iterdir()} == before
    assert sorted(p.name for p in directory.iterdir() if p.name.startswith(".")) == []


def test_pages_workflow_command_renders_the_site(tmp_path):
    """The command of examples/ci/leaderboard-pages.yml, run as written (its paths moved
    under tmp_path), renders the site into the directory the workflow uploads."""
    workflow = (Path(__file__).resolve().parents[1] / "examples" / "ci" / "leaderboard-pages.yml").read_text()
    (line,) = [line for line in workflow.splitlines() if "run: attrbench leaderboard" in line]
    argv = shlex.split(line.split("run: attrbench ", 1)[1].replace("$RUNNER_TEMP", str(tmp_path / "runner")))
    (tmp_path / "leaderboards").mkdir()
    (tmp_path / "leaderboards" / "results.jsonl").write_text(lb.results_jsonl(records(), {"scale": "quick"}))
    argv = [str(tmp_path / a) if a in ("leaderboards/results.jsonl", "public") else a for a in argv]
    assert main(argv) == 0
    written = {p.name for p in (tmp_path / "public").iterdir()}
    assert {"index.html", "axioms.html", "method-rnd.html", "style.css"} <= written
    upload = workflow.split("upload-pages-artifact", 1)[1]
    assert "path: public" in upload.split("\n")[2]
