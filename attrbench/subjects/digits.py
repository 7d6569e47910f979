"""Digits subjects: MLPs and CNNs trained on scikit-learn's bundled 8×8 digits.

The set-up follows 003 App. C.1 (an MNIST MLP and an MNIST CNN, each with ReLU, Tanh,
Sigmoid and Softplus), scaled down to 8×8 inputs and made cheap enough to train in
seconds on a CPU, plus the three-hidden-layer MLP with 256 ReLU units of 001 §4.2.

Data: ``sklearn.datasets.load_digits`` (1797 images, pixel values 0..16, bundled with
scikit-learn: nothing is downloaded), scaled to [−1, 1] by ``x / 8 − 1`` as 003 App. C.1
scales MNIST (−1 background, 1 stroke). A fixed split (``numpy.random.RandomState(0)``
permutation, see ``training.split``) keeps 539 images (30 %) for testing, 1258 for
training.

Each subject's

* ``inputs`` are the 539 held-out test images: (N, 64) for MLPs, (N, 1, 8, 8) for CNNs;
* ``targets`` are their true labels (the convention of 003 and 001; a check that wants the
  predicted class can take ``model(inputs).argmax(1)``);
* ``baseline`` is the zero input, shape (1, 64) or (1, 1, 8, 8) — 003 App. B's canonical
  choice; in this scaling zero is mid-grey (pixel value 8), not the black background;
* ``domain`` is [−1, 1];
* ``truth`` holds ``accuracy`` (held-out, a float), ``key`` (the cache key), ``recipe``
  (the training recipe as a dict), ``data`` (the data spec) and ``image_shape`` (8, 8),
  the pixel grid of the flat MLP inputs (the fragility suite's centre of mass).

Architectures (every layer has a bias; ``act`` is the subject's activation):

* ``mlp_<act>``: 64 → 128 → 128 → 10 (003's Dense 512, 512, 10, narrowed).
* ``cnn_<act>``: conv 3×3 (16) → conv 3×3 (32) → 2×2 average pooling → dense 64 → 10
  (003's conv 32, conv 64, max-pooling, dense 128, 10, narrowed; average pooling instead
  of max-pooling, so there is no max unit and the "max" tag does not apply).
* ``mlp3x256_relu``: 64 → 256 → 256 → 256 → 10 (001 §4.2).

Training: Adam on cross-entropy, seeded minibatches of 64, seed 0, one thread; cached on
disk (see ``attrbench.subjects.training``). Held-out accuracies measured with torch 2.13
(CPU); every one must be at least 0.9:

=========================  ======  =====  ========
subject                    epochs  lr     accuracy
=========================  ======  =====  ========
digits/mlp_relu            30      3e-3   0.9666
digits/mlp_tanh            30      3e-3   0.9703
digits/mlp_sigmoid         30      3e-3   0.9629
digits/mlp_softplus        30      3e-3   0.9703
digits/mlp3x256_relu       20      1e-3   0.9666
digits/cnn_relu            20      2e-3   0.9722
digits/cnn_tanh            20      2e-3   0.9814
digits/cnn_sigmoid         25      5e-3   0.9703
digits/cnn_softplus        20      2e-3   0.9573
=========================  ======  =====  ========

Importing this module only registers factories; torch, scikit-learn and the training run
when a subject is built.
"""

from __future__ import annotations

import functools

from attrbench.subjects.registry import register_subject
from attrbench.subjects.training import Recipe

TEST_FRACTION = 0.3
SPLIT_SEED = 0
DATA = (
    f"sklearn.datasets.load_digits; x/8-1; test {TEST_FRACTION:g} of rows by "
    f"numpy RandomState({SPLIT_SEED}).permutation"
)
DOMAIN = (-1.0, 1.0)
#: The pixel grid of every digit image (the MLPs see it flattened to 64 features).
IMAGE_SHAPE = (8, 8)

#: Tags that follow from the activation (003 App. C.1's four nonlinearities).
ACTIVATION_TAGS = {
    "relu": frozenset({"relu", "nonsmooth"}),
    "tanh": frozenset({"smooth"}),
    "sigmoid": frozenset({"smooth", "nonzero_at_origin"}),
    "softplus": frozenset({"smooth", "nonzero_at_origin"}),
}


def _mlp(activation: str, dense=(128, 128), epochs: int = 30, lr: float = 3e-3) -> Recipe:
    return Recipe(
        data=DATA, input_shape=(64,), classes=10, activation=activation, dense=dense, epochs=epochs, lr=lr
    )


def _cnn(activation: str, epochs: int = 20, lr: float = 2e-3) -> Recipe:
    return Recipe(
        data=DATA,
        input_shape=(1, 8, 8),
        classes=10,
        activation=activation,
        convs=(16, 32),
        dense=(64,),
        epochs=epochs,
        lr=lr,
    )


#: Subject name -> training recipe (hyper-parameters tuned for held-out accuracy >= 0.9).
RECIPES: dict[str, Recipe] = {
    "digits/mlp_relu": _mlp("relu"),
    "digits/mlp_tanh": _mlp("tanh"),
    "digits/mlp_sigmoid": _mlp("sigmoid"),
    "digits/mlp_softplus": _mlp("softplus"),
    "digits/mlp3x256_relu": _mlp("relu", dense=(256, 256, 256), epochs=20, lr=1e-3),
    "digits/cnn_relu": _cnn("relu"),
    "digits/cnn_tanh": _cnn("tanh"),
    "digits/cnn_sigmoid": _cnn("sigmoid", epochs=25, lr=5e-3),
    "digits/cnn_softplus": _cnn("softplus"),
}


def tags(recipe: Recipe) -> frozenset[str]:
    """The subject tags a digits recipe earns (SUBJECT_TAGS vocabulary)."""
    return ACTIVATION_TAGS[recipe.activation] | {"bias"} | ({"image"} if recipe.convs else set())


@functools.cache
def _flat_split():
    from sklearn.datasets import load_digits

    from attrbench.subjects.training import split

    x, y = load_digits(return_X_y=True)
    return split(x / 8.0 - 1.0, y, TEST_FRACTION, SPLIT_SEED)


def data(recipe: Recipe):
    """The train/test Split for ``recipe``, shaped to its ``input_shape`` (fresh tensors)."""
    from attrbench.subjects.training import Split

    flat = _flat_split()
    shape = (-1, *recipe.input_shape)
    return Split(
        flat.x_train.reshape(shape).clone(),
        flat.y_train.clone(),
        flat.x_test.reshape(shape).clone(),
        flat.y_test.clone(),
    )


def subject(name: str):
    """Build the digits subject ``name`` (trained now, or loaded from the cache)."""
    from attrbench.subjects.training import trained_subject

    recipe = RECIPES[name]
    return trained_subject(
        name, recipe, data(recipe), domain=DOMAIN, tags=tags(recipe),
        description=_describe(name, recipe), truth={"data": DATA, "image_shape": IMAGE_SHAPE},
    )  # fmt: skip


def _describe(name: str, recipe: Recipe) -> str:
    if recipe.convs:
        arch = f"CNN conv{list(recipe.convs)}+avgpool+dense{list(recipe.dense)}"
    else:
        arch = f"MLP {'-'.join(map(str, (64, *recipe.dense, 10)))}"
    cite = "001 §4.2" if name.endswith("3x256_relu") else "003 App. C.1"
    return f"{arch} ({recipe.activation}) trained on sklearn 8x8 digits ({cite})"


def _factory(name: str):
    # A closure rather than functools.partial: the registry reads the factory's __module__
    # to tell built-ins from plugins, and a partial reports "functools".
    def build():
        return subject(name)

    build.__qualname__ = f"subject({name!r})"
    return build


for _name, _recipe in RECIPES.items():
    register_subject(_name, tags=tags(_recipe), description=_describe(_name, _recipe))(_factory(_name))
del _name, _recipe
