"""Typed errors for bad input (issue 9, item 5): "unknown method or subject names (with
close-match suggestions), malformed ``module:attr`` specs, a baseline whose shape does not
broadcast, a model in train mode, model outputs that are not (N, C), a target out of
range, an invalid option value. Each message says what to change."

Every test asserts the exception type, that it is an ``AttrbenchError``, and the words
of the message that say what is wrong and what to change.
"""

from __future__ import annotations

import contextlib
import math

import pytest
import torch
from torch import nn

from attrbench import methods, subjects
from attrbench.errors import (
    AttrbenchError,
    InputShapeError,
    InvalidOptionError,
    ModelStateError,
    PluginError,
    TargetRangeError,
    UnknownMethodError,
    UnknownSubjectError,
)
from attrbench.methods.registry import Option, Registry, load_spec

#: Cheap settings so every method runs in milliseconds.
FAST = {
    "smoothgrad": {"n_samples": 2},
    "gradient_shap": {"n_samples": 2},
    "shapley_sampling": {"n_samples": 2},
    "integrated_gradients": {"n_steps": 4, "integration": "gausslegendre"},
    "expected_gradients": {"n_steps": 4, "integration": "gausslegendre"},
    "nonmonotone_path": {"n_steps": 4, "integration": "gausslegendre"},
}

#: Built-ins that evaluate the model at a class score (all but random and
#: influence_decomposition and its variants, which ignore the target; occlusion_window needs images).
SCORED = [
    n for n in methods.available()
    if n not in ("random", "occlusion_window") and not n.startswith("influence_decomposition")
]


def linear():
    """analytic/linear: nn.Linear(8, 3) in eval mode, inputs (32, 8), baseline (8,)."""
    s = subjects.get("analytic/linear")
    return s.model, s.inputs[:4], s.targets[:4], s.baseline


@contextlib.contextmanager
def raises(kind, *words):
    """pytest.raises for ``kind`` that also checks it is an AttrbenchError and that the
    message contains every one of ``words``."""
    with pytest.raises(kind) as info:
        yield info
    assert isinstance(info.value, AttrbenchError)
    message = str(info.value)
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


# --------------------------------------------------------------------------- the hierarchy


def test_new_errors_sit_in_the_hierarchy():
    """errors.py: every error attrbench raises on purpose derives from AttrbenchError; a
    target out of range is a kind of input-shape error, both are ValueErrors as before."""
    assert issubclass(TargetRangeError, InputShapeError)
    for kind in (TargetRangeError, ModelStateError, InvalidOptionError, PluginError):
        assert issubclass(kind, AttrbenchError)
    assert issubclass(ModelStateError, ValueError) and issubclass(TargetRangeError, ValueError)


# ----------------------------------------------------------------------------- unknown names


def test_unknown_method_suggests_close_match():
    """Issue text: unknown method names raise with close-match suggestions (Catalog.entry)."""
    with raises(UnknownMethodError, "no attribution method named 'integrated_gradient'",
                "Did you mean 'integrated_gradients'", "attrbench list"):  # fmt: skip
        methods.get("integrated_gradient")


@pytest.mark.parametrize(
    "name, suggestion",
    [("analytic/lienar", "'analytic/linear'"), ("digits/mlp", "'digits/mlp_")],
)
def test_unknown_subject_suggests_close_match(name, suggestion):
    """Issue text: unknown subject names raise with close-match suggestions; nothing is built."""
    with raises(UnknownSubjectError, f"no subject named {name!r}", "Did you mean", suggestion,
                "attrbench list subjects"):  # fmt: skip
        subjects.get(name)


# ------------------------------------------------------------------------- module:attr specs


@pytest.mark.parametrize(
    "spec, words",
    [
        ("nocolon", ("not of the form package.module:attribute", "e.g. mypackage.methods:my_method")),
        ("pkg:", ("not of the form package.module:attribute",)),
        ("no_such_module_xyz:f", ("cannot import 'no_such_module_xyz'", "installed, or on PYTHONPATH")),
        ("attrbench.methods:no_such_attr", ("has no attribute 'no_such_attr'", "Name a function or class")),
        ("attrbench.methods:registr_method", ("Did you mean 'register_method'",)),
    ],
)
def test_malformed_or_missing_spec(spec, words):
    """Issue text: malformed ``module:attr`` specs; registry.load_spec documents the
    ``package.module:attr`` form and raises PluginError when it cannot load one."""
    with raises(PluginError, *words):
        load_spec(spec, Registry(plugins="none"))


# ------------------------------------------------------------------ the call: x, target, baseline


@pytest.mark.parametrize(
    "x, words",
    [
        ([[0.0] * 8], ("x is a list", "floating-point torch.Tensor")),
        (torch.zeros(2, 8, dtype=torch.long), ("dtype torch.int64", "x.float()")),
        (torch.tensor(1.0), ("0-dimensional", "no batch dimension", "x.unsqueeze(0)")),
    ],
)
def test_x_must_be_a_floating_batch(x, words):
    """Brief of item 5: Method.attribute checks that x is a floating tensor with a batch
    dimension before calling the method. (A 1-D x is a batch of scalar inputs, (N, ...)
    with nothing after N: the registry tests attribute such batches.)"""
    model, _, _, baseline = linear()
    with raises(InputShapeError, *words):
        methods.get("saliency").attribute(model, x, 0, baseline)


def test_baseline_that_does_not_broadcast():
    """Issue text: a baseline whose shape does not broadcast; the message names both
    shapes and the shapes accepted (output.expand_baseline's contract)."""
    model, x, t, _ = linear()
    with raises(InputShapeError, "baseline of shape (3,)", "input's shape (4, 8)",
                "one baseline per sample (4, 8)", "(8,) or (1, 8)", "a scalar"):  # fmt: skip
        methods.get("integrated_gradients", **FAST["integrated_gradients"]).attribute(model, x, t, torch.zeros(3))


def test_reference_set_that_does_not_fit():
    """distributional.py: the baseline of a distributional method is a reference set of
    rows (M, *x.shape[1:]); other shapes raise InputShapeError naming what is accepted."""
    model, x, t, _ = linear()
    with raises(InputShapeError, "reference set of shape (2, 3)", "(4, 8)", "reference rows (M, 8)", "one row (8,)"):
        methods.get("expected_gradients", **FAST["expected_gradients"]).attribute(model, x, t, torch.zeros(2, 3))


@pytest.mark.parametrize(
    "target, words",
    [
        ([0, 1], ("target has shape (2,) for a batch of 4", "shape (4,)")),
        (torch.zeros(4, 1, dtype=torch.long), ("target has shape (4, 1)", "shape (4,)")),
        (None, ("target is None", "class index (int)")),
        (torch.tensor(1.0), ("dtype torch.float32", "integer class indices")),
    ],
)
def test_target_of_wrong_shape(target, words):
    """Brief of item 5: a target of the wrong shape raises InputShapeError
    (output.as_targets: a class index or one per sample, shape (N,))."""
    model, x, _, baseline = linear()
    with raises(InputShapeError, *words):
        methods.get("gradient").attribute(model, x, target, baseline)


def test_validation_runs_no_forward_pass():
    """Brief of item 5: the checks in Method.attribute are cheap (no extra forward pass):
    a bad call never reaches the model, a good one runs it once (saliency, one chunk)."""
    calls = []
    model, x, t, baseline = linear()

    def counted(z):
        calls.append(len(z))
        return model(z)

    with raises(InputShapeError, "does not broadcast"):
        methods.get("saliency").attribute(counted, x, t, torch.zeros(3))
    assert calls == []
    methods.get("saliency").attribute(counted, x, t, baseline)
    assert calls == [4]


# ------------------------------------------------------------------------------ the model


@pytest.mark.parametrize("layer", [nn.Dropout(0.5), nn.BatchNorm1d(8)], ids=["dropout", "batchnorm"])
def test_model_in_train_mode(layer):
    """Issue text: a model in train mode; dropout and batch-norm make attributions
    depend on the batch and the RNG, so the message says to call model.eval()."""
    torch.manual_seed(0)
    model = nn.Sequential(layer, nn.Linear(8, 3))
    _, x, t, baseline = linear()
    with raises(ModelStateError, "train mode", type(layer).__name__, "model.eval()"):
        methods.get("saliency").attribute(model, x, t, baseline)
    methods.get("saliency").attribute(model.eval(), x, t, baseline)  # fine once in eval mode


def test_train_mode_without_mode_dependent_layers_is_accepted():
    """output.check_eval_mode's contract: a train-mode module without dropout or batch-norm
    (a fresh nn.Linear, a wrapper around an eval-mode model) computes the same in both
    modes and is accepted."""
    model, x, t, baseline = linear()
    fresh = nn.Linear(8, 3)
    wrapper = nn.Sequential(nn.Identity(), nn.Sequential(nn.BatchNorm1d(8), nn.Linear(8, 3)).eval())
    assert fresh.training and wrapper.training
    for m in (fresh, wrapper):
        assert methods.get("saliency").attribute(m, x, t, baseline).shape == x.shape


@pytest.mark.parametrize("name", SCORED)
@pytest.mark.parametrize(
    "output, got",
    [
        (lambda out: out.sum(1), ",) for a batch of"),  # (P,): one score per point, no class dim
        (lambda out: out.unsqueeze(2), ", 3, 1) for a batch of"),  # (P, 3, 1)
        (lambda out: (out,), "model returned a tuple"),
    ],
    ids=["scalar", "3d", "tuple"],
)
def test_model_output_not_n_by_c(name, output, got):
    """Issue text: model outputs that are not (N, C); every built-in that scores the
    model goes through output.target_output, so none surfaces a raw torch error. (The
    batch is the P points the method evaluates, not always the 4 inputs.)"""
    model, x, t, baseline = linear()

    class Bad(nn.Module):
        def forward(self, z):
            return output(model(z))

    with raises(InputShapeError, got, "(N, C) class scores", "out.unsqueeze(1)"):
        methods.get(name, **FAST.get(name, {})).attribute(Bad().eval(), x, t, baseline)


@pytest.mark.parametrize("name", SCORED)
@pytest.mark.parametrize(
    "target, bad", [(12, 12), (-1, -1), (torch.tensor([0, 1, 3, 2]), 3)], ids=["12", "-1", "per-sample-3"]
)
def test_target_out_of_range(name, target, bad):
    """Issue text: a target out of range; output.target_output knows C after its forward
    pass and names the class index and C (a raw gather would raise IndexError/RuntimeError)."""
    model, x, _, baseline = linear()
    with raises(TargetRangeError, f"target class {bad} is out of range for a model with 3 outputs",
                "(classes 0..2)"):  # fmt: skip
        methods.get(name, **FAST.get(name, {})).attribute(model, x, target, baseline)


def test_influence_decomposition_checks_scores():
    """influence.py attacks the predicted class via attacks.prediction.class_scores, which applies
    the same (N, C) check as output.target_output."""
    model, x, t, baseline = linear()
    with raises(InputShapeError, "(N, C) class scores"):
        methods.get("influence_decomposition", steps=1).attribute(lambda z: model(z).sum(1), x, t, baseline)


# ------------------------------------------------------------------------------ options


@pytest.mark.parametrize(
    "name, params, words",
    [
        ("integrated_gradients", {"n_steps": 0}, ("n_steps=0", "an integer >= 1")),
        ("integrated_gradients", {"n_steps": -5}, ("n_steps=-5", "an integer >= 1")),
        ("integrated_gradients", {"n_steps": 2.5}, ("n_steps=2.5", "an integer >= 1")),
        ("integrated_gradients", {"integration": "simpson"}, ("integration='simpson'", "one of 'adaptive'")),
        ("smoothgrad", {"noise_level": -0.1}, ("noise_level=-0.1", "a finite number >= 0")),
        ("smoothgrad", {"noise_level": math.nan}, ("noise_level=nan", "a finite number >= 0")),
        ("smoothgrad", {"n_samples": 0}, ("n_samples=0", "an integer >= 1")),
        ("saliency", {"internal_batch_size": -1}, ("internal_batch_size=-1", "an integer >= 1 or None")),
        ("occlusion_window", {"window": 0}, ("window=0", "an integer >= 1")),
        ("occlusion_window", {"stride": 0}, ("stride=0", "an integer >= 1")),
        ("gradient_shap", {"stdev": -1.0}, ("stdev=-1.0", "a finite number >= 0")),
        ("expected_gradients", {"n_baselines": 0}, ("n_baselines=0", "an integer >= 1 or None")),
        ("epsilon_lrp", {"epsilon": -0.5}, ("epsilon=-0.5", "a finite number >= 0")),
        ("nonmonotone_path", {"detour": math.inf}, ("detour=inf", "a finite number")),
        ("influence_decomposition", {"attack": "cw"}, ("attack='cw'", "one of 'fgsm', 'bim', 'pgd'")),
        ("influence_decomposition", {"norm": "l1"}, ("norm='l1'", "one of 'linf', 'l2'")),
        ("influence_decomposition", {"epsilon": 0}, ("epsilon=0", "a finite number > 0")),
        ("random", {"seed": "zero"}, ("seed='zero'", "an integer")),
    ],
)
def test_invalid_option_value(name, params, words):
    """Issue text: an invalid option value; methods.get raises at build time naming the
    method, the parameter, the bad value and the allowed range."""
    with raises(InvalidOptionError, f"method {name!r}", *words):
        methods.get(name, **params)


def _bad_value(option: Option):
    if option.choices:
        return "no_such_choice"
    if option.low is not None:
        return option.low if option.strict else option.low - 1
    return 0.5 if option.type is int else math.nan


def test_every_builtin_parameter_is_validated():
    """Brief of item 5: every numeric or enumerated parameter of every built-in declares
    its allowed values (registry.Option), so a bad one raises InvalidOptionError at build
    time; the defaults are allowed values."""
    for name in methods.available():
        entry = methods.default_registry.entry(name)
        params = entry.parameters()
        assert set(entry.options) == set(params), f"{name}: parameters without an Option"
        for key, option in entry.options.items():
            assert option.allows(params[key].default), f"{name}: default of {key} not allowed"
            with raises(InvalidOptionError, f"{key}="):
                entry.build(**{key: _bad_value(option)})


def test_valid_option_edge_values_build():
    """The allowed ranges include their documented edges: None batch size (all at once),
    stdev 0 (gradient_shap's default), epsilon 0 (the ε → 0 limit of epsilon_lrp),
    noise_level 0 (smoothgrad is then the gradient: test_gradient_methods relies on it)."""
    methods.get("saliency", internal_batch_size=None)
    methods.get("smoothgrad", noise_level=0.0)
    methods.get("gradient_shap", stdev=0)
    methods.get("epsilon_lrp", epsilon=0)
    methods.get("expected_gradients", n_baselines=None, integration="riemann_trapezoid", n_steps=2)


@pytest.mark.parametrize(
    "params, words",
    [
        ({"n_steps": 1}, ("n_steps=1 is too small for the 'adaptive' rule", "n_steps >= 2")),
        ({"n_steps": 1, "integration": "riemann_trapezoid"}, ("riemann_trapezoid rule", "n_steps >= 2")),
    ],
)
def test_rule_specific_n_steps_at_first_call(params, words):
    """integrated_gradients.py: the adaptive and trapezoid rules need two nodes; that
    depends on two options, so it is checked when the integral is first computed."""
    model, x, t, baseline = linear()
    with raises(InvalidOptionError, *words):
        methods.get("integrated_gradients", **params).attribute(model, x, t, baseline)
