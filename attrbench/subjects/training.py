"""Deterministic training of the small trained subjects, with an on-disk cache.

A :class:`Recipe` says everything that decides a trained network: the data spec, the
architecture (003 App. C.1's MNIST MLP and CNN — dense layers, or 3×3 convolutions then a
2×2 pooling then dense layers — and 001 §4.2's three-hidden-layer ReLU MLP are all of this
form), the optimiser's hyper-parameters and the seed. :func:`trained` turns a recipe and a
:class:`Split` into a frozen model and its held-out accuracy, training it at most once per
machine:

* Training is deterministic: inside :func:`deterministic` the global RNG is forked and
  seeded, ``torch.set_num_threads`` is fixed (and restored afterwards), layers are built in
  float32 whatever the default dtype, minibatches come from a seeded generator, and the
  optimiser is Adam. The same recipe gives bit-identical parameters on the same machine.
* The cache key is a SHA-256 over the recipe, a fingerprint of the data actually used, the
  torch version and :data:`CACHE_FORMAT`. A file stores the ``state_dict`` with its key,
  recipe and accuracy; it lives under :func:`cache_dir` (``$ATTRBENCH_CACHE``, else
  ``$XDG_CACHE_HOME/attrbench``, else ``~/.cache/attrbench``) and is written atomically
  (temporary file in the same folder, then ``os.replace``), so concurrent workers never
  read half a file.
* A cache file is never trusted blindly: one that cannot be read, stores another key,
  holds a ``state_dict`` that does not load into the recipe's network, or does not
  reproduce its stored accuracy is reported with one :class:`CacheWarning`, retrained and
  rewritten. A cache folder that cannot be written costs a warning, not the subject.

torch is imported inside the functions, so that registering subjects stays cheap.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Iterator

from attrbench.atomic import write_atomic

#: Bumped whenever the file layout or the meaning of a recipe field changes.
CACHE_FORMAT = 1
CACHE_ENV = "ATTRBENCH_CACHE"
#: Intra-op threads used while training (fixed, so that reductions split the same way).
TRAIN_THREADS = 1


class CacheWarning(UserWarning):
    """A cached model was unusable (and is being retrained) or could not be written."""


#: Recipe fields added after the first recipes were cached, with the values those recipes
#: implied: left out of ``Recipe.as_dict`` (and so of the cache key) at these values.
LATER_FIELDS = {"arch": "plain", "pool": 2}


@dataclass(frozen=True)
class Recipe:
    """Everything that decides a trained network (hashed into the cache key).

    The network is ``convs`` 3×3 same-padded convolutions (each followed by the
    activation), then, if there were any, a ``pool``×``pool`` average pooling and a flatten, then dense
    layers of widths ``dense`` (each followed by the activation), then a dense layer to
    ``classes`` scores. Every layer has a bias. ``batch_size=0`` means full batch.

    ``arch="resnet"`` builds :func:`attrbench.subjects.resnet.resnet` instead: a stem of
    ``convs[0]`` channels, one basic block per entry of ``convs`` (BatchNorm, skip
    connections), global average pooling, then ``dense`` and the output layer. ``arch`` is
    left out of :meth:`as_dict` (and so of the cache key) at its default ``"plain"``, so the
    keys of the recipes written before it existed are unchanged; so is ``pool`` at 2.
    """

    data: str  # how the inputs were made and split, in words (see digits.py, tabular.py)
    input_shape: tuple[int, ...]  # one sample: (F,) for dense nets, (C, H, W) for CNNs
    classes: int
    activation: str  # "relu" | "tanh" | "sigmoid" | "softplus"
    dense: tuple[int, ...]
    convs: tuple[int, ...] = ()
    epochs: int = 30
    lr: float = 1e-3
    batch_size: int = 64
    weight_decay: float = 0.0
    seed: int = 0
    arch: str = "plain"  # "plain" | "resnet"
    pool: int = 2  # the average pooling's window (and stride) after the convolutions

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields (tuples become lists); ``LATER_FIELDS`` only when not at their default."""
        fields = {k: v for k, v in dataclasses.asdict(self).items() if LATER_FIELDS.get(k, ...) != v}
        return json.loads(json.dumps(fields))


@dataclass
class Split:
    """Train and held-out test tensors (float32 inputs, int64 labels)."""

    x_train: Any
    y_train: Any
    x_test: Any
    y_test: Any


@dataclass
class Trained:
    """A frozen trained network, its held-out accuracy, cache key and file."""

    model: Any  # nn.Module, eval mode, parameters frozen
    accuracy: float
    key: str
    path: Path
    from_cache: bool


def split(x, y, test_fraction: float, seed: int) -> Split:
    """A fixed seeded split: ``numpy.random.RandomState(seed).permutation`` (a stream numpy
    keeps stable across versions); the first ``round(test_fraction * N)`` rows are the test
    split, the rest train; each part keeps the dataset's row order."""
    import numpy as np
    import torch

    order = np.random.RandomState(seed).permutation(len(x))
    n_test = int(round(test_fraction * len(x)))
    test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
    xs = torch.as_tensor(np.asarray(x, dtype=np.float32))
    ys = torch.as_tensor(np.asarray(y, dtype=np.int64))
    return Split(xs[train], ys[train], xs[test], ys[test])


_ACTIVATIONS = {"relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid", "softplus": "Softplus"}
ARCHITECTURES = ("plain", "resnet")


def untrained_model(recipe: Recipe):
    """The untrained network of ``recipe``, in float32, initialised from torch's global RNG."""
    import torch
    from torch import nn

    if recipe.activation not in _ACTIVATIONS:
        raise ValueError(f"unknown activation {recipe.activation!r}; use one of {sorted(_ACTIVATIONS)}.")
    if recipe.arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {recipe.arch!r}; use one of {list(ARCHITECTURES)}.")
    act = getattr(nn, _ACTIVATIONS[recipe.activation])
    if recipe.arch == "resnet":
        from attrbench.subjects.resnet import resnet

        return resnet(recipe.input_shape, recipe.convs, recipe.dense, recipe.classes, act, torch.float32)
    f32 = {"dtype": torch.float32}
    layers: list = []
    if recipe.convs:
        channels, height, width = recipe.input_shape
        for out in recipe.convs:
            layers += [nn.Conv2d(channels, out, 3, padding=1, **f32), act()]
            channels = out
        layers += [nn.AvgPool2d(recipe.pool), nn.Flatten()]
        features = channels * (height // recipe.pool) * (width // recipe.pool)
    else:
        features = math.prod(recipe.input_shape)
    for out in recipe.dense:
        layers += [nn.Linear(features, out, **f32), act()]
        features = out
    layers.append(nn.Linear(features, recipe.classes, **f32))
    return nn.Sequential(*layers)


@contextlib.contextmanager
def deterministic(seed: int, threads: int = TRAIN_THREADS) -> Iterator[None]:
    """Seed a forked global RNG and fix the thread count; restore both (and grad mode) after."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.random.fork_rng(devices=[]), torch.inference_mode(False), torch.enable_grad():
            torch.manual_seed(seed)
            yield
    finally:
        torch.set_num_threads(previous)


def fit(recipe: Recipe, x_train, y_train, name: str = ""):
    """Train ``recipe``'s network with Adam on cross-entropy; deterministic, unfrozen result.
    A progress bar (tqdm, on stderr, shown only on a terminal) counts the epochs."""
    import torch
    import torch.nn.functional as F
    from tqdm.auto import trange

    with deterministic(recipe.seed):
        model = untrained_model(recipe)
        model.train()
        optimiser = torch.optim.Adam(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
        batches = torch.Generator().manual_seed(recipe.seed)
        n = len(x_train)
        size = recipe.batch_size or n
        for _ in trange(recipe.epochs, desc=f"training {name or 'a subject'}", unit="epoch", leave=False, disable=None):
            order = torch.randperm(n, generator=batches)
            for start in range(0, n, size):
                rows = order[start : start + size]
                loss = F.cross_entropy(model(x_train[rows]), y_train[rows])
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
    return model


def accuracy(model, x, y) -> float:
    """Fraction of rows whose arg-max score is the label (a Python float)."""
    import torch

    with torch.no_grad():
        correct = int((model(x).argmax(dim=1) == y).sum())
    return correct / len(y)


def cache_dir() -> Path:
    """``$ATTRBENCH_CACHE``, else ``$XDG_CACHE_HOME/attrbench`` (absolute paths only, as
    the XDG spec asks), else ``~/.cache/attrbench``."""
    env = os.environ.get(CACHE_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "attrbench"


def cache_key(recipe: Recipe, data: Split) -> str:
    """SHA-256 over the recipe, the bytes of the data, the torch version and the format."""
    import torch

    digest = hashlib.sha256()
    for t in (data.x_train, data.y_train, data.x_test, data.y_test):
        digest.update(str((str(t.dtype), tuple(t.shape))).encode())
        digest.update(t.contiguous().numpy().tobytes())
    blob = {
        "format": CACHE_FORMAT,
        "recipe": recipe.as_dict(),
        "data_sha256": digest.hexdigest(),
        "torch": str(torch.__version__),
    }
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()


def cache_file(name: str, key: str) -> Path:
    """Where the model ``name`` with ``key`` is cached (the name is only for humans)."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "model"
    return cache_dir() / "models" / f"{slug}-{key[:20]}.pt"


def _brief(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:160] if lines else ''}"


def _stored_dtype_ok(name: str, value) -> bool:
    """float32, or the int64 step counter BatchNorm keeps (``num_batches_tracked``)."""
    import torch

    if not isinstance(value, torch.Tensor):
        return False
    return value.dtype == torch.float32 or (name.endswith("num_batches_tracked") and value.dtype == torch.int64)


def _load(path: Path, recipe: Recipe, key: str, data: Split):
    """(model, accuracy) from a valid cache file, None when there is none, or the reason
    (a string) why the file there cannot be trusted."""
    import torch

    if not path.exists():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, garbage, wrong pickle: all mean "retrain"
        return f"unreadable ({_brief(exc)})"
    if not isinstance(payload, dict) or payload.get("format") != CACHE_FORMAT:
        return "not an attrbench cache file of this format"
    if payload.get("key") != key:
        return f"stores key {str(payload.get('key'))[:20]}..., expected {key[:20]}..."
    state = payload.get("state_dict")
    with deterministic(recipe.seed):
        model = untrained_model(recipe)
    try:
        if not all(_stored_dtype_ok(k, v) for k, v in state.items()):
            return "state_dict holds non-float32 entries"
        model.load_state_dict(state)
    except Exception as exc:
        return f"state_dict does not load ({_brief(exc)})"
    model.eval()
    with deterministic(recipe.seed):
        acc = accuracy(model, data.x_test, data.y_test)
    if acc != payload.get("accuracy"):
        return f"model scores {acc} on the test split, the file says {payload.get('accuracy')}"
    return model, acc


def _save(path: Path, name: str, recipe: Recipe, key: str, model, acc: float) -> None:
    import torch

    payload = {
        "format": CACHE_FORMAT,
        "key": key,
        "name": name,
        "recipe": json.dumps(recipe.as_dict(), sort_keys=True),
        "torch": str(torch.__version__),
        "accuracy": acc,
        "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()},
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, lambda handle: torch.save(payload, handle))
    except (OSError, RuntimeError) as exc:  # read-only folder, full disk, ...
        warnings.warn(
            f"attrbench: could not write the model cache {path} ({exc}); the model is kept in "
            f"memory only. Set {CACHE_ENV} to a writable folder to cache it.",
            CacheWarning,
            stacklevel=3,
        )


def trained(name: str, recipe: Recipe, data: Split) -> Trained:
    """The network of ``recipe`` trained on ``data``: from the cache when a valid file is
    there, else trained now (seconds) and cached. Eval mode, parameters frozen."""
    key = cache_key(recipe, data)
    path = cache_file(name, key)
    found = _load(path, recipe, key, data)
    if isinstance(found, tuple):
        model, acc = found
        from_cache = True
    else:
        if isinstance(found, str):
            warnings.warn(
                f"attrbench: ignoring the cached model {path} for {name!r}: {found}; retraining "
                "and rewriting it.",
                CacheWarning,
                stacklevel=2,
            )
        model = fit(recipe, data.x_train, data.y_train, name)
        model.eval()
        with deterministic(recipe.seed):
            acc = accuracy(model, data.x_test, data.y_test)
        _save(path, name, recipe, key, model, acc)
        from_cache = False
    model.eval()
    model.requires_grad_(False)
    return Trained(model=model, accuracy=acc, key=key, path=path, from_cache=from_cache)


def trained_subject(name: str, recipe: Recipe, data: Split, *, domain, tags, description: str, truth=None):
    """The Subject of a trained model: ``recipe`` trained on ``data`` (or loaded from the
    cache), its test split as inputs and targets, the zero baseline, and
    ``truth["accuracy"]``, ``key``, ``recipe`` and ``training_mean`` (the mean training input,
    for ``method[baseline=mean]``) plus any extra ``truth``."""
    import torch

    from attrbench.subjects.registry import Subject

    result = trained(name, recipe, data)
    return Subject(
        name=name,
        model=result.model,
        inputs=data.x_test,
        targets=data.y_test,
        baseline=torch.zeros(1, *recipe.input_shape, dtype=data.x_test.dtype),
        domain=domain,
        tags=tags,
        truth={"accuracy": result.accuracy, "key": result.key, "recipe": recipe.as_dict(),
               "training_mean": data.x_train.mean(0, keepdim=True), **(truth or {})},  # fmt: skip
        description=description,
    )
