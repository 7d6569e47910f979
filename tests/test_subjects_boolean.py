"""Tests of attrbench.subjects.boolean: Boolean circuits as exact ReLU networks.

Every expected value here comes from an independent pure-Python evaluation of each
function from its definition (the project issue; 001 §4.1 for parity, majority and OR),
written below without using the module's own ``evaluate``. Bits follow the documented
convention: row k of ``inputs`` has x_i = (k >> i) & 1.
"""

from __future__ import annotations

import math
import time

import pytest
import torch

import attrbench.subjects
from attrbench.errors import AttrbenchError, InputShapeError
from attrbench.methods.registry import SUBJECT_TAGS
from attrbench.subjects import boolean
from attrbench.subjects.boolean import circuit

FNS = ["parity", "majority", "or", "and", "dictator", "tribes", "threshold", "junta"]
NS = list(range(2, 11))


# ----------------------------------------------------------------------- reference


def bits_of(k: int, n: int) -> list[int]:
    return [(k >> i) & 1 for i in range(n)]


def reference(fn: str, x: list[int]) -> int:
    """f(x) from the definitions in the issue, one bit-vector at a time."""
    n = len(x)
    ones = x.count(1)
    if fn == "parity":  # odd number of ones
        return 1 if ones % 2 == 1 else 0
    if fn == "majority":  # at least n/2 ones
        return 1 if ones >= n / 2 else 0
    if fn == "or":
        return 1 if 1 in x else 0
    if fn == "and":
        return 1 if 0 not in x else 0
    if fn == "dictator":
        return x[0]
    if fn == "tribes":  # OR of ANDs over consecutive blocks of width max(2, round(log2 n))
        width = max(2, round(math.log2(n)))
        return 1 if any(0 not in x[start : start + width] for start in range(0, n, width)) else 0
    if fn == "threshold":  # Σ (i+1) x_i ≥ floor(half the total weight)
        total = n * (n + 1) // 2
        return 1 if sum((i + 1) * xi for i, xi in enumerate(x)) >= total // 2 else 0
    if fn == "junta":  # parity of the first min(3, n) variables
        return 1 if x[: min(3, n)].count(1) % 2 == 1 else 0
    raise AssertionError(fn)


def reference_table(fn: str, n: int) -> list[int]:
    return [reference(fn, bits_of(k, n)) for k in range(2**n)]


def outputs(subject) -> list[int]:
    with torch.no_grad():
        out = subject.model(subject.inputs)
    assert out.shape == (len(subject.inputs), 1)
    values = out[:, 0].tolist()
    assert all(v in (0.0, 1.0) for v in values), "outputs must be exactly 0 or 1"
    return [int(v) for v in values]


# ----------------------------------------------------------------------- exactness


@pytest.mark.parametrize("n", NS)
@pytest.mark.parametrize("fn", FNS)
def test_network_equals_definition(fn, n):
    """model(inputs) equals the pure-Python f (from the issue's definitions) on all 2^n
    inputs, exactly; so does truth["truth_table"]."""
    subject = circuit(fn, n)
    expected = reference_table(fn, n)
    assert outputs(subject) == expected
    table = subject.truth["truth_table"]
    assert table.dtype in (torch.int64, torch.int32) and table.shape == (2**n,)
    assert table.tolist() == expected


@pytest.mark.parametrize("fn", FNS)
def test_exact_in_float64(fn, float64):
    """Under a float64 default the circuit is built in float64 and is still exact
    (integer weights; expectation from the pure-Python definition)."""
    subject = circuit(fn, 6)
    assert subject.inputs.dtype == torch.float64
    assert all(p.dtype == torch.float64 for p in subject.model.parameters())
    assert outputs(subject) == reference_table(fn, 6)


@pytest.mark.parametrize("fn", FNS)
def test_weights_are_integers(fn):
    """Integer weights and biases keep float arithmetic exact on {0,1}^n (issue spec);
    the network is nn.Linear + nn.ReLU only."""
    subject = circuit(fn, 7)
    for module in subject.model.modules():
        assert isinstance(module, (torch.nn.Sequential, torch.nn.Linear, torch.nn.ReLU))
    for p in subject.model.parameters():
        assert torch.equal(p, p.round())


# ----------------------------------------------------------------------- layout


@pytest.mark.parametrize("n", [2, 5, 8])
def test_inputs_layout(n):
    """inputs row k has x_i = (k >> i) & 1 (the issue's ordering), values exactly {0,1};
    targets are zeros (N,), baseline zeros(n) broadcasts, domain (0, 1)."""
    subject = circuit("or", n)
    assert subject.inputs.shape == (2**n, n)
    assert subject.inputs.tolist() == [[float(b) for b in bits_of(k, n)] for k in range(2**n)]
    assert set(subject.inputs.unique().tolist()) == {0.0, 1.0}
    assert subject.targets.dtype == torch.long and subject.targets.tolist() == [0] * 2**n
    assert subject.baseline.shape == (n,) and subject.baseline.tolist() == [0.0] * n
    assert torch.broadcast_shapes(subject.baseline.shape, subject.inputs.shape) == subject.inputs.shape
    assert subject.domain == (0.0, 1.0)
    assert subject.name == f"boolean/or_{n}"
    assert subject.description


@pytest.mark.parametrize("fn", FNS)
def test_baseline_scores_zero(fn):
    """f(0) = 0 for every function by its definition, and the model agrees at the baseline."""
    subject = circuit(fn, 5)
    assert reference(fn, [0] * 5) == 0
    with torch.no_grad():
        assert subject.model(subject.baseline.unsqueeze(0)).tolist() == [[0.0]]


# ----------------------------------------------------------------------- relevance


def relevant_by_definition(fn: str, n: int) -> list[int]:
    """Variables whose flip changes the pure-Python f at some point (enumerated)."""
    table = reference_table(fn, n)
    return [i for i in range(n) if any(table[k] != table[k ^ (1 << i)] for k in range(2**n))]


@pytest.mark.parametrize("n", NS)
@pytest.mark.parametrize("fn", FNS)
def test_relevant_variables(fn, n):
    """truth["relevant"] equals the variables the definition depends on (found by flipping
    each bit of the pure-Python f): the dictator's [0], the junta's first min(3, n), all
    n otherwise."""
    expected = {"dictator": [0], "junta": list(range(min(3, n)))}.get(fn, list(range(n)))
    assert relevant_by_definition(fn, n) == expected
    assert circuit(fn, n).truth["relevant"] == expected


@pytest.mark.parametrize("n", [2, 3, 6, 9])
@pytest.mark.parametrize("fn", ["junta", "dictator"])
def test_irrelevant_flips_never_change_output(fn, n):
    """Flipping a variable outside truth["relevant"] leaves model(x) unchanged at every
    x in {0,1}^n (enumerated through the network itself); flipping a relevant one
    changes it somewhere (definition: a junta/dictator depends only on those)."""
    subject = circuit(fn, n)
    relevant = subject.truth["relevant"]
    with torch.no_grad():
        base = subject.model(subject.inputs)
        for i in range(n):
            flipped = subject.inputs.clone()
            flipped[:, i] = 1 - flipped[:, i]
            changed = bool((subject.model(flipped) != base).any())
            assert changed == (i in relevant), (fn, n, i)


@pytest.mark.parametrize("fn,inf", [("parity", 1.0), ("majority", 0.375), ("or", 0.125)])
def test_influence_matches_paper_table(fn, inf):
    """001 §4.1's table: for n = 4 the per-variable influence Inf_i = Pr_x[f(x) != f(x ⊕ e_i)]
    is 1.0 (parity), 0.375 (majority), 0.125 (OR); measured here through the network."""
    subject = circuit(fn, 4)
    with torch.no_grad():
        base = subject.model(subject.inputs)
        for i in range(4):
            flipped = subject.inputs.clone()
            flipped[:, i] = 1 - flipped[:, i]
            assert (subject.model(flipped) != base).double().mean().item() == inf


def test_parameters_in_truth():
    """The documented parameters are recorded: tribes blocks of width max(2, round(log2 n)),
    threshold weights i+1 with θ = floor(total/2), junta k = min(3, n), majority cut ceil(n/2)."""
    assert circuit("tribes", 8).truth["blocks"] == [[0, 1, 2], [3, 4, 5], [6, 7]]
    assert circuit("tribes", 4).truth["blocks"] == [[0, 1], [2, 3]]
    t = circuit("threshold", 5).truth
    assert t["weights"] == [1, 2, 3, 4, 5] and t["threshold"] == 15 // 2
    assert circuit("junta", 8).truth["k"] == 3
    assert circuit("majority", 5).truth["cut"] == 3
    for fn in FNS:
        s = circuit(fn, 3)
        assert s.truth["fn"] == fn and s.truth["n"] == 3


# ----------------------------------------------------------------------- tags


@pytest.mark.parametrize("fn", FNS)
def test_tags(fn):
    """Tags are {"boolean", "relu", "nonsmooth"} plus "bias" exactly when some Linear has a
    bias (issue spec), drawn from SUBJECT_TAGS, and the same for every n."""
    for n in (2, 4, 8, 12):
        subject = circuit(fn, n)
        has_bias = any(m.bias is not None for m in subject.model.modules() if isinstance(m, torch.nn.Linear))
        expected = {"boolean", "relu", "nonsmooth"} | ({"bias"} if has_bias else set())
        assert subject.tags == expected
        assert subject.tags == boolean.tags_for(fn)
        assert subject.tags <= set(SUBJECT_TAGS)
    assert ("bias" in boolean.tags_for(fn)) == (fn != "dictator")


# ----------------------------------------------------------------------- registry


def test_standard_set_registered():
    """The issue's standard set: the 8 functions at n = 4 and 8, 16 names under boolean/*;
    each builds with its registered tags, eval mode and frozen parameters."""
    names = attrbench.subjects.available("boolean/*")
    assert names == sorted(f"boolean/{fn}_{n}" for fn in FNS for n in (4, 8))
    subject = attrbench.subjects.get("boolean/parity_4")
    assert subject.name == "boolean/parity_4"
    assert outputs(subject) == reference_table("parity", 4)
    registry = attrbench.subjects.default_registry
    for name in names:
        entry = registry.entry(name)
        assert entry.source.startswith("built-in"), entry.source
        built = attrbench.subjects.get(name)
        assert built.tags == entry.tags
        assert not built.model.training
        assert not any(p.requires_grad for p in built.model.parameters())
        fn, n = name.split("/")[1].rsplit("_", 1)
        assert outputs(built) == reference_table(fn, int(n))


# ----------------------------------------------------------------------- errors


@pytest.mark.parametrize("bad", ["xor", "partiy", "OR", "", None])
def test_unknown_fn(bad):
    """An unknown function name raises a typed ValueError listing the valid names."""
    with pytest.raises(ValueError) as info:
        circuit(bad, 4)
    assert isinstance(info.value, AttrbenchError)
    message = str(info.value)
    assert all(fn in message for fn in FNS)
    if bad == "partiy":
        assert "Did you mean 'parity'" in message


@pytest.mark.parametrize("bad", [0, 1, 13, 20, -3, 4.0, True, "4"])
def test_bad_n(bad):
    """n outside 2..12 (or not an int) raises InputShapeError naming the valid range."""
    with pytest.raises(InputShapeError, match=r"2 <= n <= 12"):
        circuit("parity", bad)


# ----------------------------------------------------------------------- size


@pytest.mark.parametrize("fn", FNS)
def test_n12_exact_and_fast(fn):
    """n = 12 (4096 inputs) is exact against the pure-Python definition and builds fast."""
    start = time.perf_counter()
    subject = circuit(fn, 12)
    elapsed = time.perf_counter() - start
    assert outputs(subject) == reference_table(fn, 12)
    assert elapsed < 2.0, f"circuit({fn!r}, 12) took {elapsed:.2f}s"
