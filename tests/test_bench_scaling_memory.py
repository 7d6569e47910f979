"""The arithmetic of bench/scaling.py and bench/memory_at_scale.py: the log-log exponent
fit, the parsing of /proc/PID/status, and the chunk-size override.

Each expectation is known by construction: times made as c·F^k exactly (so the slope is
k), status text written here, and functions defined here whose defaults are read back.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
scaling = pytest.importorskip("scaling")
memory = pytest.importorskip("memory_at_scale")


@pytest.mark.parametrize("k", [0.0, 1.0, 1.5, 2.0])
def test_exponent_of_an_exact_power_law_is_its_power(k):
    features = [64, 784, 3072]
    seconds = [0.003 * f**k for f in features]
    assert scaling.fit_exponent(features, seconds) == pytest.approx(k, abs=1e-12)


def test_exponent_is_the_least_squares_slope_not_the_end_to_end_one():
    """Three points in log-log space (0, 0), (1, 3), (3, 3) (base e): x̄ = 4/3, ȳ = 2, so the
    least-squares slope is Σ(x − x̄)(y − ȳ) / Σ(x − x̄)² = (8/3 − 1/3 + 5/3) / (42/9) = 6/7
    by hand, where the end points alone would give 3/3 = 1."""
    import math

    features = [1.0, math.e, math.e**3]
    seconds = [1.0, math.e**3, math.e**3]
    assert scaling.fit_exponent(features, seconds) == pytest.approx(6 / 7, abs=1e-12)
    with pytest.raises(ValueError, match="two distinct"):
        scaling.fit_exponent([784, 784], [1.0, 2.0])


STATUS = """Name:\tpython
VmPeak:\t 2000000 kB
VmHWM:\t  524288 kB
VmRSS:\t  262144 kB
"""


def test_status_fields_are_read_in_kib_by_exact_name():
    assert memory.status_kib(STATUS, "VmHWM") == 524288
    assert memory.status_kib(STATUS, "VmRSS") == 262144
    with pytest.raises(ValueError, match="VmSwap"):
        memory.status_kib(STATUS, "VmSwap")


def test_set_chunk_rewrites_batch_size_defaults_of_attrbench_functions_only(monkeypatch):
    """A fake attrbench module with a keyword-only default, a positional default, a None
    default (left: None means one pass) and an unrelated default; a non-attrbench module
    with the same function name is left alone."""
    ours = types.ModuleType("attrbench._fake_chunks")
    exec(
        "def kw(x, *, batch_size=1024, other=5): pass\n"
        "def pos(x, internal_batch_size=512, y=3): pass\n"
        "def unbounded(x, *, batch_size=None): pass\n",
        ours.__dict__,
    )
    for fn in (ours.kw, ours.pos, ours.unbounded):
        fn.__module__ = ours.__name__
    theirs = types.ModuleType("elsewhere")
    exec("def kw(x, *, batch_size=1024): pass\n", theirs.__dict__)
    monkeypatch.setitem(sys.modules, ours.__name__, ours)
    monkeypatch.setitem(sys.modules, theirs.__name__, theirs)
    memory.set_chunk(256)
    assert ours.kw.__kwdefaults__ == {"batch_size": 256, "other": 5}
    assert ours.pos.__defaults__ == (256, 3)
    assert ours.unbounded.__kwdefaults__ == {"batch_size": None}
    assert theirs.kw.__kwdefaults__ == {"batch_size": 1024}
