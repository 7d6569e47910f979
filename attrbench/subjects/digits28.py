"""Digits at MNIST's size: scikit-learn's 8×8 digits upsampled to 28×28 (003 App. C.1).

The ``digits/*`` subjects (``attrbench.subjects.digits``) have 64 input features; 003
App. C.1 runs on 28×28 MNIST (784). MNIST cannot be downloaded here, so these subjects
take the same real handwritten digits to MNIST's size:

Data: ``sklearn.datasets.load_digits`` (1797 images, raw pixel values 0..16) as
(N, 1, 8, 8) float32, resized to 28×28 with ``torch.nn.functional.interpolate(mode=
"bilinear", align_corners=False)`` on the raw 0..16 values (bilinear interpolation is a
convex combination, so values stay in 0..16), then scaled by ``x / 8 − 1`` to [−1, 1]
exactly as ``digits`` does; the same split (``numpy.random.RandomState(0)`` permutation,
539 test images, 1258 train; ``training.split``) keeps test row i the same digit as in
``digits``. Bilinear rather than bicubic: bicubic overshoots and would leave [−1, 1].

Each subject's ``inputs`` are the 539 test images, (N, 784) for MLPs and (N, 1, 28, 28)
for CNNs; ``targets`` their labels; ``baseline`` zeros; ``domain`` [−1, 1]; ``truth``
``accuracy``, ``key``, ``recipe``, ``data`` and ``image_shape`` (28, 28).

Architectures (biases everywhere; ``act`` is the subject's activation):

* ``mlp_<act>``: 784 → 256 → 256 → 10 (003's Dense 512, 512, 10, halved);
* ``cnn_<act>``: conv 3×3 (8) → conv 3×3 (16) → 2×2 average pooling → dense 64 → 10
  (003's conv 32, conv 64, max-pooling, dense 128, 10, narrowed for one CPU thread;
  average pooling, so there is no max unit).

Every subject is tagged ``large`` (784 features). Training: Adam on cross-entropy, seeded
minibatches of 64, seed 0, one thread, cached on disk (``attrbench.subjects.training``).
Measured with torch 2.13 (CPU, one thread) on the 2-core development machine; "train s" is
the CPU time of the training (``time.process_time``), what it takes on an idle core (the
shared machine, at load ~12, took up to ten times that in wall time). Every held-out
accuracy must be at least 0.95 (at lr 2e-3 the Softplus CNN did not learn; 1e-3 does):

========================  ======  =====  ========  ========
subject                   epochs  lr     accuracy  train s
========================  ======  =====  ========  ========
digits28/mlp_relu         20      1e-3   0.9740    1.4
digits28/mlp_softplus     20      1e-3   0.9610    1.3
digits28/cnn_relu         10      1e-3   0.9722    5.0
digits28/cnn_softplus     10      1e-3   0.9555    3.7
========================  ======  =====  ========  ========

Importing this module only registers factories; torch and scikit-learn run when a
subject is built.
"""

from __future__ import annotations

import functools

from attrbench.subjects import digits
from attrbench.subjects.registry import register_subject
from attrbench.subjects.training import Recipe

SIZE = 28
DATA = (
    f"sklearn.datasets.load_digits; raw 0..16 resized 8x8->{SIZE}x{SIZE} by torch interpolate "
    f"bilinear align_corners=False; x/8-1; test {digits.TEST_FRACTION:g} of rows by "
    f"numpy RandomState({digits.SPLIT_SEED}).permutation"
)
DOMAIN = (-1.0, 1.0)
IMAGE_SHAPE = (SIZE, SIZE)
#: The held-out accuracy every digits28 subject reaches (tests/test_subjects_larger.py).
MIN_ACCURACY = 0.95


def _mlp(activation: str, epochs: int = 20, lr: float = 1e-3) -> Recipe:
    return Recipe(data=DATA, input_shape=(SIZE * SIZE,), classes=10, activation=activation, dense=(256, 256),
                  epochs=epochs, lr=lr)  # fmt: skip


def _cnn(activation: str, epochs: int = 10, lr: float = 1e-3) -> Recipe:
    return Recipe(data=DATA, input_shape=(1, SIZE, SIZE), classes=10, activation=activation, convs=(8, 16),
                  dense=(64,), epochs=epochs, lr=lr)  # fmt: skip


#: Subject name -> training recipe.
RECIPES: dict[str, Recipe] = {
    "digits28/mlp_relu": _mlp("relu"),
    "digits28/mlp_softplus": _mlp("softplus"),
    "digits28/cnn_relu": _cnn("relu"),
    "digits28/cnn_softplus": _cnn("softplus"),
}


def tags(recipe: Recipe) -> frozenset[str]:
    """``digits.tags`` (activation, bias, image) plus ``large``."""
    return digits.tags(recipe) | {"large"}


@functools.cache
def _flat_split():
    import numpy as np
    import torch
    import torch.nn.functional as F
    from sklearn.datasets import load_digits

    from attrbench.subjects.training import split

    x, y = load_digits(return_X_y=True)
    small = torch.as_tensor(np.asarray(x, dtype=np.float32)).reshape(-1, 1, 8, 8)
    large = F.interpolate(small, size=IMAGE_SHAPE, mode="bilinear", align_corners=False)
    return split((large / 8.0 - 1.0).reshape(len(x), -1).numpy(), y, digits.TEST_FRACTION, digits.SPLIT_SEED)


def data(recipe: Recipe):
    """The train/test Split for ``recipe``, shaped to its ``input_shape`` (fresh tensors)."""
    from attrbench.subjects.training import Split

    flat = _flat_split()
    shape = (-1, *recipe.input_shape)
    return Split(flat.x_train.reshape(shape).clone(), flat.y_train.clone(), flat.x_test.reshape(shape).clone(),
                 flat.y_test.clone())  # fmt: skip


def _describe(recipe: Recipe) -> str:
    if recipe.convs:
        arch = f"CNN conv{list(recipe.convs)}+avgpool+dense{list(recipe.dense)}"
    else:
        arch = f"MLP {'-'.join(map(str, (SIZE * SIZE, *recipe.dense, 10)))}"
    return f"{arch} ({recipe.activation}) trained on sklearn digits upsampled to 28x28 (003 App. C.1)"


def subject(name: str):
    """Build the digits28 subject ``name`` (trained now, or loaded from the cache)."""
    from attrbench.subjects.training import trained_subject

    recipe = RECIPES[name]
    return trained_subject(
        name, recipe, data(recipe), domain=DOMAIN, tags=tags(recipe), description=_describe(recipe),
        truth={"data": DATA, "image_shape": IMAGE_SHAPE},
    )  # fmt: skip


def _factory(name: str):
    # A closure (not functools.partial): the registry reads the factory's __module__.
    def build():
        return subject(name)

    build.__qualname__ = f"subject({name!r})"
    return build


for _name, _recipe in RECIPES.items():
    register_subject(_name, tags=tags(_recipe), description=_describe(_recipe))(_factory(_name))
del _name, _recipe
