"""Trained subjects (attrbench.subjects.digits, .tabular) and their training cache (.training).

Every test runs with ``ATTRBENCH_CACHE`` pointing into a temporary folder, so the user's
cache is never read or written and each cache starts cold. The accuracy and shape tests
share one module-scoped cache, so each of the ten networks is trained once; the cache
tests train the cheapest subject (the breast-cancer MLP, well under a second).
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import pytest
import torch

from attrbench.methods.registry import SUBJECT_TAGS
from attrbench.subjects import digits, registry, tabular, training
from attrbench.subjects.training import CacheWarning

DIGITS = list(digits.RECIPES)
ALL = [*DIGITS, tabular.NAME]
CHEAP = tabular.NAME


def build(name):
    """A fresh build (no registry memo) under whatever ATTRBENCH_CACHE is set now."""
    return tabular.breast_cancer_mlp() if name == tabular.NAME else digits.subject(name)


def params(subject):
    return {k: v.clone() for k, v in subject.model.state_dict().items()}


def same_params(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def cache_path(subject):
    return training.cache_file(subject.name, subject.truth["key"])


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Each test gets its own empty cache folder (never the user's)."""
    monkeypatch.setenv(training.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def module_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("attrbench-cache")


@pytest.fixture(scope="module")
def subjects(module_cache):
    """Every trained subject, built once from a cold cache shared by this module."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(training.CACHE_ENV, str(module_cache))
        return {name: build(name) for name in ALL}


def test_registration():
    """The issue asks for at least eight ``digits/...`` subjects (003 App. C.1: MLP and CNN ×
    ReLU/Tanh/Sigmoid/Softplus, plus 001 §4.2's 3×256 ReLU MLP) and the breast-cancer MLP,
    registered with tags from SUBJECT_TAGS (registry.py's vocabulary)."""
    names = {e.name for e in registry._LEDGER if e.module in (digits.__name__, tabular.__name__)}
    assert names == set(ALL)
    assert len(DIGITS) >= 8 and all(n.startswith("digits/") for n in DIGITS)
    for act in ("relu", "tanh", "sigmoid", "softplus"):
        assert f"digits/mlp_{act}" in names and f"digits/cnn_{act}" in names
    assert "digits/mlp3x256_relu" in names
    for entry in registry._LEDGER:
        if entry.name in names:
            assert entry.tags <= set(SUBJECT_TAGS), entry.name
            assert entry.module.startswith("attrbench."), "built-ins must be claimed by discovery"


def test_import_is_cheap():
    """registry.py / the issue: importing the subject modules registers factories only; torch
    and scikit-learn are imported when a subject is built."""
    code = (
        "import sys, attrbench.subjects.digits, attrbench.subjects.tabular; "
        "sys.exit(sorted(m for m in ('torch', 'sklearn') if m in sys.modules) != [])"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.mark.parametrize("name", ALL)
def test_accuracy(subjects, name):
    """The issue: held-out accuracy >= 0.9 for every digits subject and for breast cancer;
    truth["accuracy"] is the accuracy of model(inputs) against targets (the test split)."""
    s = subjects[name]
    assert s.truth["accuracy"] >= 0.9
    with torch.no_grad():
        recomputed = (s.model(s.inputs).argmax(1) == s.targets).sum().item() / len(s.targets)
    assert s.truth["accuracy"] == recomputed
    recipe = digits.RECIPES[name] if name in DIGITS else tabular.RECIPE
    assert s.truth["recipe"] == recipe.as_dict()
    assert isinstance(s.truth["key"], str) and len(s.truth["key"]) == 64


@pytest.mark.parametrize("name", ALL)
def test_subject_contract(subjects, name):
    """DESIGN.md's Subject and the issue: MLP inputs (N, 64), CNN inputs (N, 1, 8, 8) tagged
    "image", outputs (N, 10) (2 for breast cancer), targets the true test labels, zero
    baseline, inputs inside the domain ([-1, 1] for x/8 - 1; floor/ceil of the
    standardised data for breast cancer), model in eval mode with frozen parameters, and
    registered tags equal to the built tags (SubjectEntry.build enforces this)."""
    s = subjects[name]
    n = len(s.inputs)
    if name in DIGITS:
        image = bool(digits.RECIPES[name].convs)
        assert tuple(s.inputs.shape) == ((n, 1, 8, 8) if image else (n, 64))
        assert ("image" in s.tags) == image
        assert s.domain == (-1.0, 1.0)
        assert n == 539  # 30 % of load_digits' 1797 rows
        classes = 10
    else:
        assert tuple(s.inputs.shape) == (n, 30) and n == 171
        lo, hi = s.domain
        assert lo == float(int(lo)) and hi == float(int(hi))  # rounded outward to integers
        classes = 2
    lo, hi = s.domain
    assert bool(((s.inputs >= lo) & (s.inputs <= hi)).all())
    assert s.inputs.dtype == torch.float32 and s.targets.dtype == torch.int64
    with torch.no_grad():
        assert tuple(s.model(s.inputs).shape) == (n, classes)
    assert not s.model.training and all(not m.training for m in s.model.modules())
    assert not any(p.requires_grad for p in s.model.parameters())
    assert torch.equal(s.baseline, torch.zeros(1, *s.inputs.shape[1:]))
    assert "bias" in s.tags and s.tags <= set(SUBJECT_TAGS)
    assert ("relu" in s.tags) == ("nonsmooth" in s.tags) == ("smooth" not in s.tags)
    entry = next(e for e in registry._LEDGER if e.name == name)
    assert entry.tags == s.tags


def test_digits_targets_are_true_labels(subjects):
    """digits.py documents targets = the true labels of the test split (the convention of
    003 and 001); the MLP and CNN subjects share the same test rows."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    mlp, cnn = subjects["digits/mlp_relu"], subjects["digits/cnn_relu"]
    assert torch.equal(mlp.inputs, cnn.inputs.reshape(len(cnn.inputs), 64))
    assert torch.equal(mlp.targets, cnn.targets)
    rows = {tuple(r): int(label) for r, label in zip((x / 8 - 1).astype("float32").tolist(), y)}
    assert all(rows[tuple(r)] == t for r, t in zip(mlp.inputs.tolist(), mlp.targets.tolist()))


@pytest.mark.parametrize("name", ["digits/mlp_sigmoid", "digits/cnn_relu", CHEAP])
def test_cold_builds_are_bit_identical(subjects, name):
    """The issue: training is deterministic, so two cold builds in different cache folders
    give bit-identical parameters (the module's build vs. a fresh one here)."""
    fresh = build(name)  # this test's cache folder starts empty: a cold build
    assert fresh.truth["key"] == subjects[name].truth["key"]
    assert same_params(params(fresh), params(subjects[name]))
    assert fresh.truth["accuracy"] == subjects[name].truth["accuracy"]


def test_second_build_comes_from_the_cache(monkeypatch):
    """The issue: a second build loads the cached state_dict — bit-identical parameters, no
    call to the training function, the file left untouched."""
    first = build(CHEAP)
    path = cache_path(first)
    assert path.is_file()
    stamp = path.stat().st_mtime_ns

    def no_training(*args, **kwargs):
        raise AssertionError("retrained although a valid cache file exists")

    monkeypatch.setattr(training, "fit", no_training)
    second = build(CHEAP)
    assert same_params(params(first), params(second))
    assert second.truth["accuracy"] == first.truth["accuracy"]
    assert path.stat().st_mtime_ns == stamp
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary files left


def test_cache_file_contents():
    """The issue: a cache file stores the state_dict plus the key and the accuracy."""
    s = build(CHEAP)
    payload = torch.load(cache_path(s), weights_only=True)
    assert payload["key"] == s.truth["key"]
    assert payload["accuracy"] == s.truth["accuracy"]
    assert same_params(payload["state_dict"], params(s))


def _garbage(path):
    path.write_bytes(b"\x00not a torch file\xff" * 10)


def _truncated(path):
    path.write_bytes(path.read_bytes()[:100])


def _other_key(path):
    payload = torch.load(path, weights_only=True)
    payload["key"] = "0" * 64
    torch.save(payload, path)


def _broken_state_dict(path):
    payload = torch.load(path, weights_only=True)
    payload["state_dict"].pop(next(iter(payload["state_dict"])))
    torch.save(payload, path)


def _tampered_weights(path):
    payload = torch.load(path, weights_only=True)
    for value in payload["state_dict"].values():
        value.zero_()
    torch.save(payload, path)


@pytest.mark.parametrize(
    "damage, reason",
    [
        (_garbage, "unreadable"),
        (_truncated, "unreadable"),
        (_other_key, "stores key"),
        (_broken_state_dict, "does not load"),
        (_tampered_weights, "scores"),
    ],
)
def test_bad_cache_file_is_retrained_and_rewritten(monkeypatch, damage, reason):
    """The issue: a corrupt or mismatched cache file (garbage bytes, wrong key inside, a
    state_dict that does not load — or weights that do not reproduce the stored accuracy)
    is not trusted: one CacheWarning, a retrain, and a rewritten, valid file."""
    first = build(CHEAP)
    path = cache_path(first)
    damage(path)
    calls = []
    real_fit = training.fit
    monkeypatch.setattr(training, "fit", lambda *a, **k: calls.append(1) or real_fit(*a, **k))
    with pytest.warns(CacheWarning, match=reason) as record:
        second = build(CHEAP)
    assert len([w for w in record if issubclass(w.category, CacheWarning)]) == 1
    assert calls == [1]
    assert same_params(params(first), params(second))
    payload = torch.load(path, weights_only=True)
    assert payload["key"] == first.truth["key"]
    assert same_params(payload["state_dict"], params(first))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        monkeypatch.setattr(training, "fit", real_fit)
        assert same_params(params(build(CHEAP)), params(first))  # trusted again, no warning


def test_attrbench_cache_relocates_the_cache(tmp_path, monkeypatch):
    """The issue: ATTRBENCH_CACHE relocates the cache; files land under it and nowhere
    else."""
    elsewhere = tmp_path / "elsewhere"
    monkeypatch.setenv(training.CACHE_ENV, str(elsewhere))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    s = build(CHEAP)
    path = cache_path(s)
    assert path.is_file() and elsewhere in path.parents
    assert not (tmp_path / "xdg").exists()


def test_default_cache_dir(tmp_path, monkeypatch):
    """The issue: default ~/.cache/attrbench, respecting XDG_CACHE_HOME (absolute paths
    only, per the XDG base-directory spec); ATTRBENCH_CACHE wins over both."""
    monkeypatch.delenv(training.CACHE_ENV)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert training.cache_dir() == tmp_path / "home" / ".cache" / "attrbench"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    assert training.cache_dir() == tmp_path / "home" / ".cache" / "attrbench"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert training.cache_dir() == tmp_path / "xdg" / "attrbench"
    monkeypatch.setenv(training.CACHE_ENV, str(tmp_path / "mine"))
    assert training.cache_dir() == tmp_path / "mine"


def test_unwritable_cache_warns_and_still_builds(tmp_path, monkeypatch):
    """training.py: a cache folder that cannot be written costs a CacheWarning, not the
    subject."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(training.CACHE_ENV, str(blocker))
    with pytest.warns(CacheWarning, match="could not write"):
        s = build(CHEAP)
    assert s.truth["accuracy"] >= 0.9


def test_training_restores_global_state(float64):
    """training.py's determinism contract: the global RNG, the thread count and the default
    dtype are left as they were, and a float64 default dtype changes nothing (layers and
    data are float32, so the key and parameters are those of a float32 build)."""
    threads = torch.get_num_threads()
    rng = torch.random.get_rng_state()
    s = build(CHEAP)
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.random.get_rng_state(), rng)
    assert torch.get_default_dtype() == torch.float64
    assert all(p.dtype == torch.float32 for p in s.model.parameters())
    assert s.baseline.dtype == torch.float32
    torch.set_default_dtype(torch.float32)
    again = build(CHEAP)
    assert again.truth["key"] == s.truth["key"]
    assert same_params(params(again), params(s))


def test_registry_builds_it(monkeypatch):
    """registry.py: SubjectEntry.build runs the registered factory and checks that the
    registered tags equal the built ones."""
    entry = next(e for e in registry._LEDGER if e.name == CHEAP)
    s = entry.build()
    assert s.name == CHEAP and s.tags == entry.tags
    assert os.environ[training.CACHE_ENV] in str(cache_path(s))
