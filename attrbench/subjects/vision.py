"""Vision subjects (optional) and offline loaders for MNIST and CIFAR-10.

Nothing here downloads anything, and importing this module never imports torchvision.

**ResNet-18** (needs the ``vision`` extra: ``pip install "attrbench[vision]"``)::

    from attrbench.subjects.vision import resnet18_subject
    subject = resnet18_subject("resnet18.pth")        # a state_dict saved with torch.save
    subject = resnet18_subject(seed=0, n_images=4)    # random init, seeded

The subject's inputs are RGB images in ``[0, 1]`` (shape (N, 3, H, W)); the model
normalises them with the ImageNet mean and standard deviation itself (``normalize=True``),
so the domain, the baseline (a black image, zeros) and clipping all live in pixel space.
It is not a standard subject, because it needs torchvision; register it yourself, e.g. in
a module listed under the ``attrbench.subjects`` entry point or in a suite's conftest::

    from functools import partial
    from attrbench.subjects import register_subject
    from attrbench.subjects.vision import RESNET18_TAGS, load_cifar10, resnet18_subject

    register_subject("vision/resnet18", tags=RESNET18_TAGS)(
        partial(resnet18_subject, "weights/resnet18.pth")
    )

**Datasets already on disk**: :func:`load_mnist` reads the IDX files
(``t10k-images-idx3-ubyte`` / ``t10k-labels-idx1-ubyte``, or ``train-*``, optionally
``.gz``) and :func:`load_cifar10` the python-pickle batches
(``cifar-10-batches-py/test_batch``, ``data_batch_1`` ... ``data_batch_5``). Both need only
numpy and return ``(images, labels)``: a float tensor in ``[0, 1]`` of shape (N, C, H, W)
and a LongTensor (N,). Missing files raise :class:`DatasetNotFoundError` (a
``FileNotFoundError``) naming the files looked for; malformed files raise
:class:`DatasetFormatError` (an ``InputShapeError``).
"""

from __future__ import annotations

import gzip
import importlib
import io
import os
import pickle
from pathlib import Path
from typing import Any

from attrbench.errors import AttrbenchError, InputShapeError, PluginError
from attrbench.subjects.registry import Subject, freeze

__all__ = [
    "RESNET18_TAGS",
    "DatasetFormatError",
    "DatasetNotFoundError",
    "DatasetArgumentError",
    "VisionUnavailableError",
    "WeightsFormatError",
    "load_cifar10",
    "load_mnist",
    "resnet18_subject",
]

#: Tags of the ResNet-18 subject: images, ReLU (non-smooth), batch-norm/fc biases, max-pooling.
RESNET18_TAGS = frozenset({"image", "relu", "nonsmooth", "bias", "max"})

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

INSTALL_HINT = 'pip install "attrbench[vision]"'


class VisionUnavailableError(PluginError, ImportError):
    """torchvision is missing (or fails to import); the message says how to install it."""


class DatasetNotFoundError(AttrbenchError, FileNotFoundError):
    """Dataset files are not where the loader was told to look; the message names them."""

    def __str__(self) -> str:  # OSError would format (errno, strerror)
        return str(self.args[0])


class DatasetFormatError(InputShapeError):
    """A dataset file exists but is not in the expected format (magic number, sizes, keys)."""


class DatasetArgumentError(AttrbenchError, ValueError):
    """A loader argument (``split``, ``limit``) that the loader does not accept."""


class WeightsFormatError(InputShapeError):
    """A weights file that is not a state_dict fitting the model."""


# --------------------------------------------------------------------------- ResNet-18


def _torchvision():
    try:
        return importlib.import_module("torchvision")
    except Exception as exc:  # ImportError, or a torchvision built for another torch
        raise VisionUnavailableError(
            f"the ResNet-18 subject needs torchvision, which could not be imported "
            f"({type(exc).__name__}: {exc}). Install the vision extra: {INSTALL_HINT} "
            "(torchvision must match your torch build)."
        ) from exc


def _normalizer(dtype):
    import torch
    from torch import nn

    class Normalize(nn.Module):
        """(x - mean) / std per channel, so the subject's inputs stay in [0, 1]."""

        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("mean", torch.tensor(IMAGENET_MEAN, dtype=dtype).view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor(IMAGENET_STD, dtype=dtype).view(1, 3, 1, 1))

        def forward(self, x):
            return (x - self.mean) / self.std

    return Normalize()


def _load_state_dict(weights_path) -> dict:
    import torch

    path = Path(weights_path)
    if not path.is_file():
        raise DatasetNotFoundError(
            f"ResNet-18 weights file {str(path)!r} does not exist; pass the path of a state_dict "
            "saved with torch.save(model.state_dict(), path), or weights_path=None for a seeded "
            "random initialisation."
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsFormatError(
            f"cannot read {str(path)!r} as a state_dict ({type(exc).__name__}: {exc}); save the "
            "weights with torch.save(model.state_dict(), path)."
        ) from exc
    if isinstance(state, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(state.get(key), dict):
                state = state[key]
                break
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise WeightsFormatError(
            f"{str(path)!r} holds a {type(state).__name__}, not a state_dict (a dict of parameter "
            "names to tensors); save it with torch.save(model.state_dict(), path)."
        )
    if state and all(k.startswith("module.") for k in state):  # saved from DataParallel
        state = {k[len("module.") :]: v for k, v in state.items()}
    return state


def resnet18_subject(
    weights_path: str | os.PathLike | None = None,
    inputs: Any = None,
    *,
    targets: Any = None,
    baseline: Any = None,
    num_classes: int | None = None,
    n_images: int = 4,
    image_size: int = 64,
    seed: int = 0,
    normalize: bool = True,
    dtype: Any = None,
    name: str = "vision/resnet18",
) -> Subject:
    """torchvision's ResNet-18 as a :class:`Subject` (eval mode, parameters frozen).

    - ``weights_path``: a state_dict file (``torch.save(model.state_dict(), path)``; a
      checkpoint dict with a ``state_dict``/``model`` entry and ``module.`` prefixes are
      accepted); ``None`` = torchvision's random initialisation drawn under ``seed``
      (the global RNG state is restored afterwards).
    - ``inputs``: RGB images (N, 3, H, W) in ``[0, 1]``; ``None`` = ``n_images`` seeded
      uniform-noise images of ``image_size`` x ``image_size``.
    - ``targets``: class indices (N,); ``None`` = the model's predicted classes.
    - ``baseline``: broadcasts to ``inputs``; ``None`` = black image (zeros).
    - ``num_classes``: output size; ``None`` = read from the weights (``fc.weight``), else 1000.
    - ``normalize``: prepend ImageNet mean/std normalisation, so the domain is ``(0, 1)``.

    Raises :class:`VisionUnavailableError` (a PluginError) when torchvision is missing.
    """
    tv = _torchvision()
    import torch
    from torch import nn

    dtype = dtype or torch.get_default_dtype()
    state = _load_state_dict(weights_path) if weights_path is not None else None
    if num_classes is None:
        fc = state.get("fc.weight") if state is not None else None
        num_classes = int(fc.shape[0]) if fc is not None else 1000

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            net = tv.models.resnet18(weights=None, num_classes=num_classes)
        except TypeError:  # torchvision < 0.13
            net = tv.models.resnet18(pretrained=False, num_classes=num_classes)
    if state is not None:
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise WeightsFormatError(
                f"the weights in {str(weights_path)!r} do not fit torchvision's resnet18 with "
                f"num_classes={num_classes}: {exc}"
            ) from None
    model = nn.Sequential(_normalizer(dtype), net) if normalize else net
    model = freeze(model.to(dtype))

    if inputs is None:
        gen = torch.Generator().manual_seed(seed)
        inputs = torch.rand(n_images, 3, image_size, image_size, generator=gen, dtype=dtype)
    else:
        inputs = torch.as_tensor(inputs).to(dtype)
        if inputs.dim() != 4 or inputs.shape[1] != 3:
            raise InputShapeError(
                f"ResNet-18 inputs must be RGB images (N, 3, H, W); got shape {tuple(inputs.shape)}."
            )
    with torch.no_grad():
        logits = model(inputs)
    if targets is None:
        targets = logits.argmax(1)
    targets = torch.as_tensor(targets).long().reshape(-1)
    if len(targets) == 1 and len(inputs) > 1:
        targets = targets.expand(len(inputs)).clone()
    tags = set(RESNET18_TAGS)
    if baseline is not None:
        baseline = torch.as_tensor(baseline).to(dtype)
        if bool((baseline != 0).any()):
            tags.add("nonzero_baseline")
    return Subject(
        name=name,
        model=model,
        inputs=inputs,
        targets=targets,
        baseline=baseline,
        domain=(0.0, 1.0),
        tags=frozenset(tags),
        truth={
            "weights": str(weights_path) if weights_path is not None else f"random(seed={seed})",
            "normalize": normalize,
            "num_classes": num_classes,
        },
        description="torchvision ResNet-18 on RGB images in [0, 1]",
    )


# --------------------------------------------------------------------------- loaders


def _check_args(split: str, limit, splits) -> None:
    if split not in splits:
        raise DatasetArgumentError(f"split must be one of {', '.join(map(repr, splits))}; got {split!r}.")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise DatasetArgumentError(f"limit must be None or a non-negative int; got {limit!r}.")


def _search_dirs(path: Path, *subdirs: str) -> list[Path]:
    return [path] + [path / s for s in subdirs]


def _find(dirs: list[Path], names: list[str]) -> Path | None:
    for d in dirs:
        for n in names:
            if (d / n).is_file():
                return d / n
    return None


_MNIST_FILES = {
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
}
IDX_IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
IDX_LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension


def _read_idx(file: Path, magic: int, ndim: int, limit: int | None):
    import numpy as np

    opener = gzip.open if file.name.endswith(".gz") else open
    try:
        with opener(file, "rb") as f:
            head = f.read(4 + 4 * ndim)
            if len(head) < 4 + 4 * ndim:
                raise DatasetFormatError(f"{str(file)!r} is too short for an IDX header ({len(head)} bytes).")
            found = int.from_bytes(head[:4], "big")
            if found != magic:
                raise DatasetFormatError(
                    f"{str(file)!r} has IDX magic number {found}, expected {magic}; is it the right "
                    "file (images 2051, labels 2049), uncompressed or ending in .gz?"
                )
            dims = [int.from_bytes(head[4 + 4 * k : 8 + 4 * k], "big") for k in range(ndim)]
            n = dims[0] if limit is None else min(dims[0], limit)
            per_item = int(np.prod(dims[1:], dtype=np.int64)) if ndim > 1 else 1
            body = f.read(n * per_item)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DatasetFormatError(f"cannot read {str(file)!r}: {type(exc).__name__}: {exc}") from exc
    if len(body) != n * per_item:
        raise DatasetFormatError(
            f"{str(file)!r} is truncated: its header promises {dims[0]} items of shape {tuple(dims[1:])}, "
            f"but only {len(body)} of the {n * per_item} data bytes needed are there."
        )
    return np.frombuffer(body, dtype=np.uint8).reshape(n, *dims[1:]), dims[0]


def load_mnist(path, split: str = "test", limit: int | None = None, *, dtype=None):
    """MNIST (or an IDX-format sibling: Fashion-MNIST, KMNIST) from files already on disk.

    ``path`` is a folder holding ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``
    (``split="test"``) or ``train-images-idx3-ubyte`` and ``train-labels-idx1-ubyte``
    (``split="train"``), each optionally gzipped (``.gz``); ``path/raw`` and
    ``path/MNIST/raw`` (torchvision's layout) are searched too. Returns ``(images,
    labels)``: float (N, 1, rows, cols) in ``[0, 1]`` (pixel / 255) and LongTensor (N,);
    ``limit`` keeps the first ``limit`` items. Never downloads.
    """
    import torch

    _check_args(split, limit, ("test", "train"))
    root = Path(path)
    dirs = _search_dirs(root, "raw", os.path.join("MNIST", "raw"))
    files = []
    for base in _MNIST_FILES[split]:
        found = _find(dirs, [base, base + ".gz"])
        if found is None:
            wanted = " and ".join(f"{b} (or {b}.gz)" for b in _MNIST_FILES[split])
            raise DatasetNotFoundError(
                f"MNIST {split} split not found: expected {wanted} in {str(root)!r} "
                f"(or its raw/ or MNIST/raw/ folder); {base} is missing. attrbench never "
                "downloads datasets: fetch the IDX files yourself and pass their folder."
            )
        files.append(found)
    images, n_images = _read_idx(files[0], IDX_IMAGES_MAGIC, 3, limit)
    labels, n_labels = _read_idx(files[1], IDX_LABELS_MAGIC, 1, limit)
    if n_images != n_labels:
        raise DatasetFormatError(
            f"{str(files[0])!r} holds {n_images} images but {str(files[1])!r} holds {n_labels} labels."
        )
    x = torch.from_numpy(images.copy()).to(dtype or torch.get_default_dtype()).div_(255.0).unsqueeze(1)
    return x, torch.from_numpy(labels.astype("int64"))


_CIFAR_DIR = "cifar-10-batches-py"
_CIFAR_BATCHES = {"test": ("test_batch",), "train": tuple(f"data_batch_{k}" for k in range(1, 6))}
_CIFAR_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),
}


class _CifarUnpickler(pickle.Unpickler):
    """Unpickles only numpy arrays and builtin containers (a CIFAR batch needs no more)."""

    def find_class(self, module: str, name: str):
        if (module, name) in _CIFAR_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR-10 batch")


def _read_cifar_batch(file: Path):
    import numpy as np

    try:
        with open(file, "rb") as f:
            batch = _CifarUnpickler(io.BytesIO(f.read()), encoding="bytes").load()
    except Exception as exc:
        raise DatasetFormatError(
            f"cannot unpickle {str(file)!r} as a CIFAR-10 batch ({type(exc).__name__}: {exc}); expected "
            "the python version of the dataset (cifar-10-python.tar.gz, extracted)."
        ) from exc
    if not isinstance(batch, dict):
        raise DatasetFormatError(f"{str(file)!r} holds a {type(batch).__name__}, not a CIFAR-10 batch dict.")
    batch = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in batch or "labels" not in batch:
        raise DatasetFormatError(
            f"{str(file)!r} has keys {sorted(map(str, batch))}; a CIFAR-10 batch has 'data' and 'labels'."
        )
    data = np.asarray(batch["data"])
    labels = np.asarray(batch["labels"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DatasetFormatError(
            f"{str(file)!r}: 'data' is {data.dtype} of shape {data.shape}; expected uint8 of shape (N, 3072)."
        )
    if labels.ndim != 1 or len(labels) != len(data) or not np.issubdtype(labels.dtype, np.integer):
        raise DatasetFormatError(
            f"{str(file)!r}: 'labels' has shape {labels.shape} ({labels.dtype}); expected {len(data)} integers."
        )
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise DatasetFormatError(f"{str(file)!r}: labels outside 0..9 (min {labels.min()}, max {labels.max()}).")
    return data, labels


def load_cifar10(path, split: str = "test", limit: int | None = None, *, dtype=None):
    """CIFAR-10 from the python-pickle batches already on disk.

    ``path`` is the ``cifar-10-batches-py`` folder or a folder containing it. ``split="test"``
    reads ``test_batch``; ``split="train"`` reads ``data_batch_1`` ... ``data_batch_5`` in
    order. Returns ``(images, labels)``: float (N, 3, 32, 32) in ``[0, 1]`` (pixel / 255)
    and LongTensor (N,); ``limit`` keeps the first ``limit`` items (and reads only the
    batches it needs). Unpickling is restricted to numpy arrays and builtins. Never downloads.
    """
    import numpy as np
    import torch

    _check_args(split, limit, ("test", "train"))
    root = Path(path)
    folder = root if root.name == _CIFAR_DIR or not (root / _CIFAR_DIR).is_dir() else root / _CIFAR_DIR
    names = _CIFAR_BATCHES[split]
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise DatasetNotFoundError(
            f"CIFAR-10 {split} split not found: expected {', '.join(names)} in {str(folder)!r} (the "
            f"{_CIFAR_DIR} folder or a folder containing it); missing {', '.join(missing)}. attrbench "
            "never downloads datasets: extract cifar-10-python.tar.gz yourself and pass its folder."
        )
    datas, labels, have = [], [], 0
    for n in names:
        if limit is not None and have >= limit:
            break
        d, batch_labels = _read_cifar_batch(folder / n)
        datas.append(d)
        labels.append(batch_labels)
        have += len(d)
    data = np.concatenate(datas)[:limit] if datas else np.zeros((0, 3072), np.uint8)
    label = np.concatenate(labels)[:limit] if labels else np.zeros((0,), np.int64)
    x = torch.from_numpy(data.reshape(-1, 3, 32, 32).copy()).to(dtype or torch.get_default_dtype()).div_(255.0)
    return x, torch.from_numpy(label.astype("int64"))
