"""Tabular subjects: a small ReLU MLP trained on scikit-learn's bundled breast-cancer data.

A tabular counterpart of the MLP subjects of 003 App. C.1 (same recipe form and the same
cached, deterministic training as ``attrbench.subjects.digits``; see
``attrbench.subjects.training``).

Data: ``sklearn.datasets.load_breast_cancer`` (569 rows, 30 real features, labels
0 = malignant, 1 = benign; bundled with scikit-learn: nothing is downloaded). A fixed
split (``numpy.random.RandomState(0)`` permutation, ``training.split``) keeps 171 rows
(30 %) for testing and 398 for training. Every feature is standardised with the mean and
(population) standard deviation of the *training* split only.

``tabular/breast_cancer_mlp``:

* network 30 → 32 → 16 → 2, ReLU, biases; Adam (lr 1e-3), 30 epochs of seeded
  minibatches of 32, seed 0; held-out accuracy 0.9766 (torch 2.13, CPU);
* ``inputs`` the 171 standardised test rows (N, 30); ``targets`` their true labels;
* ``baseline`` zeros (1, 30): the training mean of every feature, the usual neutral
  reference for standardised data;
* ``domain`` = [floor(min), ceil(max)] over the standardised train and test rows together,
  so it contains every input: [−4, 13] for this split (the features are heavy-tailed);
* ``truth``: ``accuracy``, ``key``, ``recipe``, ``data``, and ``mean``/``std`` (the
  standardisation statistics, as lists).

Importing this module only registers the factory.
"""

from __future__ import annotations

import functools

from attrbench.subjects.registry import register_subject
from attrbench.subjects.training import Recipe

TEST_FRACTION = 0.3
SPLIT_SEED = 0
DATA = (
    f"sklearn.datasets.load_breast_cancer; standardised with train-split mean/std (ddof 0); "
    f"test {TEST_FRACTION:g} of rows by numpy RandomState({SPLIT_SEED}).permutation"
)

NAME = "tabular/breast_cancer_mlp"
RECIPE = Recipe(
    data=DATA,
    input_shape=(30,),
    classes=2,
    activation="relu",
    dense=(32, 16),
    epochs=30,
    lr=1e-3,
    batch_size=32,
)
TAGS = frozenset({"relu", "nonsmooth", "bias"})
DESCRIPTION = "MLP 30-32-16-2 (relu) trained on sklearn breast cancer, standardised features"


@functools.cache
def _standardised():
    """(Split, mean, std) with features standardised by the training split's statistics."""
    from sklearn.datasets import load_breast_cancer

    from attrbench.subjects.training import Split, split

    x, y = load_breast_cancer(return_X_y=True)
    raw = split(x, y, TEST_FRACTION, SPLIT_SEED)
    mean = raw.x_train.mean(dim=0)
    std = raw.x_train.std(dim=0, unbiased=False)
    return Split((raw.x_train - mean) / std, raw.y_train, (raw.x_test - mean) / std, raw.y_test), mean, std


def data():
    """The standardised train/test Split (fresh tensors) and the domain that contains it."""
    import math

    import torch

    from attrbench.subjects.training import Split

    cached, _, _ = _standardised()
    every = torch.cat([cached.x_train, cached.x_test])
    domain = (float(math.floor(every.min())), float(math.ceil(every.max())))
    fresh = Split(*(t.clone() for t in (cached.x_train, cached.y_train, cached.x_test, cached.y_test)))
    return fresh, domain


@register_subject(NAME, tags=TAGS, description=DESCRIPTION)
def breast_cancer_mlp():
    """Small ReLU MLP on standardised breast-cancer features (held-out test rows as inputs)."""
    from attrbench.subjects.training import trained_subject

    split, domain = data()
    _, mean, std = _standardised()
    return trained_subject(
        NAME, RECIPE, split, domain=domain, tags=TAGS, description=DESCRIPTION,
        truth={"data": DATA, "mean": mean.tolist(), "std": std.tolist()},
    )  # fmt: skip
