"""The subjects the at-scale benchmarks run on (issue 22): registered ones when they exist,
untrained stand-ins of the same shape otherwise.

Timing does not need trained weights, so until ``digits28/*`` and ``shapes/*`` are
registered a stand-in takes their place: the network of the recipe the subject will use
(``attrbench.subjects.training.untrained_model``; for the ResNet a small residual network
with BatchNorm defined here when the recipe has no ``arch``), initialised from seed 0,
with ``SAMPLES`` uniform random inputs in [0, 1] and the model's own argmax as targets.
Every table says which subjects were stand-ins (:func:`describe`).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from attrbench import subjects
from attrbench.errors import UnknownSubjectError
from attrbench.subjects.registry import Subject
from attrbench.subjects.training import Recipe, untrained_model

SAMPLES = 64
#: Input features of each subject: the size axis of the scaling table.
FEATURES = {"digits/cnn_relu": 64, "digits28/cnn_relu": 784, "shapes/cnn": 3072, "shapes/resnet": 3072}
#: The recipe of each subject that may need a stand-in (as the subjects issue plans them).
RECIPES = {
    "digits28/cnn_relu": Recipe(data="stand-in", input_shape=(1, 28, 28), classes=10, activation="relu",
                                dense=(64,), convs=(16, 32)),
    "digits28/cnn_softplus": Recipe(data="stand-in", input_shape=(1, 28, 28), classes=10, activation="softplus",
                                    dense=(64,), convs=(16, 32)),
    "shapes/cnn": Recipe(data="stand-in", input_shape=(3, 32, 32), classes=4, activation="relu", dense=(64,),
                         convs=(16, 32)),
    "shapes/resnet": Recipe(data="stand-in", input_shape=(3, 32, 32), classes=4, activation="relu", dense=(),
                            convs=(16, 32)),
}  # fmt: skip


class Block(nn.Module):
    """conv-BN-ReLU-conv-BN plus the input (a 1×1 strided conv + BN where the shape
    changes), then ReLU (He et al. 2016, the basic block)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
            nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out),
        )  # fmt: skip
        self.skip = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.skip = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
        self.out = nn.ReLU()

    def forward(self, x):
        return self.out(self.body(x) + self.skip(x))


def stand_in_resnet(recipe: Recipe) -> nn.Module:
    """A stem conv-BN-ReLU to the first width, one basic block per width (stride 2 after
    the first), global average pooling and a linear layer: no max-pool."""
    widths = recipe.convs
    layers: list[nn.Module] = [nn.Conv2d(recipe.input_shape[0], widths[0], 3, 1, 1, bias=False),
                               nn.BatchNorm2d(widths[0]), nn.ReLU()]  # fmt: skip
    for k, width in enumerate(widths):
        layers.append(Block(widths[max(k - 1, 0)], width, 1 if k == 0 else 2))
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(widths[-1], recipe.classes)]
    model = nn.Sequential(*layers)
    for m in model.modules():  # BatchNorm with non-trivial running statistics, as after training
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return model


def _model(name: str, recipe: Recipe) -> nn.Module:
    if name.endswith("resnet"):
        if "arch" in {f.name for f in dataclasses.fields(Recipe)}:
            return untrained_model(dataclasses.replace(recipe, arch="resnet"))
        return stand_in_resnet(recipe)
    return untrained_model(recipe)


def get(name: str) -> Subject:
    """The registered subject ``name``, or its stand-in (module docstring)."""
    try:
        return subjects.get(name)
    except UnknownSubjectError:
        pass
    recipe = RECIPES[name]
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = _model(name, recipe).eval()
        inputs = torch.rand(SAMPLES, *recipe.input_shape)
    with torch.no_grad():
        targets = model(inputs).argmax(1)
    tags = {"relu", "nonsmooth"} if recipe.activation == "relu" else {"smooth"}
    return Subject(f"{name} (stand-in)", model, inputs, targets, None, (0.0, 1.0), frozenset(tags),
                   description="untrained stand-in for timing (bench/scale_subjects.py)")  # fmt: skip


def is_stand_in(subject: Subject) -> bool:
    return subject.name.endswith("(stand-in)")


def parameters(subject: Subject) -> int:
    return sum(p.numel() for p in subject.model.parameters())


def describe(names) -> str:
    """One sentence per subject: registered (trained) or untrained stand-in, features, parameters."""
    parts = []
    for name in names:
        s = get(name)
        kind = "untrained stand-in (not yet registered)" if is_stand_in(s) else "registered, trained"
        parts.append(f"`{name}`: {kind}, {s.inputs[0].numel()} features, {parameters(s):,} parameters")
    return "; ".join(parts) + "."
