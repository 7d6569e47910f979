"""Scale-dependent large subjects (issue 22, item 3): a subject tagged ``large`` runs only at
the scales whose ``Scale.large_subjects`` globs match it, unless ``--subject`` names it
(``attrbench.scales``, ``attrbench.pytest_plugin.BenchSession.pairs``, docs/cli.md).

The plugin's pairing is checked on stand-in subjects (tiny linear models, no training)
under ``standin/``: in-process on ``BenchSession.pairs``, and end to end with pytester (a
generated conftest registers them). The ``standard`` preset's globs are set to one of the
two large stand-ins, since the real preset names real subjects; ``quick`` and ``paper`` are
the real presets."""

from __future__ import annotations

import dataclasses
import fnmatch
import re

import pytest

from attrbench.scales import LARGE_TAG, SCALES

CONFTEST = '''
import dataclasses

import torch
from torch import nn

from attrbench import scales
from attrbench.subjects import Subject, register_subject


def _linear(name, tags):
    def factory():
        return Subject(name, nn.Linear(4, 2), torch.zeros(2, 4), torch.zeros(2, dtype=torch.long), None,
                       (-1.0, 1.0), tags=tags)
    return factory


for _name, _tags in [("standin/small", set()), ("standin/big_a", {"large"}), ("standin/big_b", {"large"})]:
    register_subject(_name, tags=_tags)(_linear(_name, _tags))

scales.SCALES["standard"] = dataclasses.replace(scales.SCALES["standard"], large_subjects=("standin/big_a",))
'''

SUITE = '''
import pytest


@pytest.mark.attrbench_subjects("standin/*")
def test_pair(bench):
    pass
'''


#: (scale, --subject patterns, the stand-ins a suite test over "standin/*" pairs with).
CASES = [
    ("quick", [], ["standin/small"]),
    ("standard", [], ["standin/big_a", "standin/small"]),
    ("paper", [], ["standin/big_a", "standin/big_b", "standin/small"]),
    ("quick", ["standin/big_b"], ["standin/big_b"]),
    ("standard", ["standin/*"], ["standin/big_a", "standin/big_b", "standin/small"]),
]
CASE_IDS = ["quick-drops-large", "standard-subset", "paper-all", "explicit-subject-at-quick", "explicit-glob"]


def standin_registry():
    """A fresh subject registry (the built-ins plus the three stand-ins of CONFTEST)."""
    import torch
    from torch import nn

    from attrbench.subjects import Subject
    from attrbench.subjects.registry import SubjectRegistry

    registry = SubjectRegistry()
    for name, tags in [("standin/small", set()), ("standin/big_a", {LARGE_TAG}), ("standin/big_b", {LARGE_TAG})]:
        def factory(name=name, tags=tags):
            return Subject(name, nn.Linear(4, 2), torch.zeros(2, 4), torch.zeros(2, dtype=torch.long), None,
                           (-1.0, 1.0), tags=tags)  # fmt: skip

        registry.register(name, factory, tags=tags, source="test")
    return registry


@pytest.mark.parametrize(("scale", "subject", "expected"), CASES, ids=CASE_IDS)
def test_pairs_keep_large_subjects_by_scale_unless_named(scale, subject, expected):
    """``BenchSession.pairs`` (the plugin's parametrisation), on a session holding only what
    it reads: quick (globs ()) drops both large stand-ins, standard (here ("standin/big_a",),
    as CONFTEST sets it) keeps that one, paper (("*",)) keeps both; an explicit --subject
    runs what it matches at any scale, large or not."""
    import dataclasses

    from attrbench.pytest_plugin import BenchSession

    session = object.__new__(BenchSession)
    preset = SCALES[scale]
    if scale == "standard":
        preset = dataclasses.replace(preset, large_subjects=("standin/big_a",))
    session.scale, session.subjects, session.methods = preset, standin_registry(), ["saliency"]
    session.explicit_subjects, session.subject_patterns = bool(subject), subject or ["*"]
    assert session.pairs(("standin/*",)) == [("saliency", s) for s in expected]


@pytest.mark.parametrize(("scale", "subject", "expected"), [CASES[1], CASES[3]], ids=[CASE_IDS[1], CASE_IDS[3]])
def test_collected_suite_tests_follow_the_scale_and_subject_options(pytester, scale, subject, expected):
    """End to end (a pytest run in a subprocess, --collect-only): the options reach the
    pairing; the standard subset, and an explicit --subject naming a large stand-in at quick."""
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_standin=SUITE)
    args = ["--collect-only", "-q", "--method", "saliency", "--attrbench-scale", scale, "--no-leaderboard",
            "-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:unraisableexception"]  # fmt: skip
    for pattern in subject:
        args += ["--subject", pattern]
    result = pytester.runpytest_subprocess(*args)
    assert result.ret == pytest.ExitCode.OK, "\n".join(result.outlines + result.errlines)
    collected = sorted(re.findall(r"test_pair\[saliency-(standin/\w+)\]", "\n".join(result.outlines)))
    assert collected == expected


def test_presets_run_no_large_subject_quickly_a_subset_at_standard_and_all_at_paper():
    """``Scale.runs_subject`` on names, tags and places: an untagged subject runs at every
    scale; a large one never at quick, at standard only where an entry matches it in the
    test's suite or check, at paper always."""
    quick, standard, paper = (SCALES[name] for name in ("quick", "standard", "paper"))
    assert quick.large_subjects == () and paper.large_subjects == ("*",)
    for scale in (quick, standard, paper):
        assert scale.runs_subject("digits/cnn_relu", {"relu", "image"})
    place, _, chosen = standard.large_subjects[0].rpartition(":")
    other = "shapes/not_in_the_subset"
    assert not quick.runs_subject(chosen, {LARGE_TAG}, (place,))
    assert standard.runs_subject(chosen, {LARGE_TAG}, (place,))
    assert not standard.runs_subject(other, {LARGE_TAG}, (place,))
    assert paper.runs_subject(chosen, {LARGE_TAG}) and paper.runs_subject(other, {LARGE_TAG})


def test_qualified_entries_apply_only_to_their_suite_or_check():
    """"suite:glob" applies in that suite's tests, "suite.check:glob" in that check's only,
    an unqualified glob everywhere (the rule of ``Scale.large_subjects``' comment)."""
    scale = dataclasses.replace(
        SCALES["standard"], large_subjects=("sanity:big/a", "faithfulness.localisation:big/b", "big/c")
    )
    tags = {LARGE_TAG}
    assert scale.runs_subject("big/a", tags, ("sanity", "sanity.model_randomization"))
    assert not scale.runs_subject("big/a", tags, ("faithfulness", "faithfulness.road"))
    assert scale.runs_subject("big/b", tags, ("faithfulness", "faithfulness.localisation"))
    assert not scale.runs_subject("big/b", tags, ("faithfulness", "faithfulness.road"))
    assert scale.runs_subject("big/c", tags, ("fragility", "fragility.fragility"))
    assert scale.runs_subject("big/c", tags)


def test_every_standard_glob_names_a_registered_large_subject():
    """The standard subset names subjects that exist and carry the tag (a glob matching
    nothing would silently drop a subject the docs say standard runs)."""
    from attrbench.subjects import default_registry

    default_registry.discover()
    large = [n for n, e in default_registry.entries.items() if LARGE_TAG in e.tags]
    assert large, "no built-in subject carries the 'large' tag (digits28/*, shapes/*)"
    for entry in SCALES["standard"].large_subjects:
        glob = entry.rpartition(":")[2]
        assert fnmatch.filter(large, glob), f"standard's large_subjects entry {entry!r} matches no large subject"


@pytest.mark.parametrize("scale", ["quick", "standard", "paper"])
def test_docs_table_of_large_subjects_is_the_presets(scale):
    """docs/suites.md's "Subjects at each scale" table lists each preset's globs ("none" for
    (), "all (`*`)" for ("*",), else the globs in backticks)."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "suites.md").read_text(encoding="utf-8")
    lines = text[text.index("| scale | large subjects | why |") :].splitlines()[2:5]
    (row,) = [line.strip("|").split("|") for line in lines if line.startswith(f"| `{scale}`")]
    globs = SCALES[scale].large_subjects
    shown = "none" if not globs else "all (`*`)" if globs == ("*",) else ", ".join(f"`{g}`" for g in globs)
    assert row[1].strip() == shown
