"""Offline MNIST / CIFAR-10 loaders (real file formats written here) and the optional
ResNet-18 subject (its error without torchvision; a stub torchvision; the real one)."""

import gzip
import pickle
import struct
import subprocess
import sys
import types

import numpy as np
import pytest
import torch
from torch import nn

from attrbench.errors import InputShapeError, PluginError
from attrbench.subjects import Subject
from attrbench.subjects import vision
from attrbench.subjects.vision import (
    RESNET18_TAGS,
    DatasetArgumentError,
    DatasetFormatError,
    DatasetNotFoundError,
    VisionUnavailableError,
    WeightsFormatError,
    load_cifar10,
    load_mnist,
    resnet18_subject,
)

# --------------------------------------------------------------------------- MNIST


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape) + array.tobytes()


def write_mnist(folder, n=7, rows=28, cols=28, prefix="t10k", gz=False, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, rows, cols), dtype=np.uint8)
    labels = rng.integers(0, 10, size=(n,), dtype=np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in (
        (f"{prefix}-images-idx3-ubyte", idx_bytes(images, 2051)),
        (f"{prefix}-labels-idx1-ubyte", idx_bytes(labels, 2049)),
    ):
        if gz:
            with gzip.open(folder / (name + ".gz"), "wb") as f:
                f.write(data)
        else:
            (folder / name).write_bytes(data)
    return images, labels


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_reads_idx_files_exactly(tmp_path, gz):
    images, labels = write_mnist(tmp_path, gz=gz)
    x, y = load_mnist(tmp_path)
    assert x.shape == (7, 1, 28, 28) and x.dtype == torch.get_default_dtype()
    assert y.dtype == torch.long and y.shape == (7,)
    assert torch.equal((x * 255).round().to(torch.uint8)[:, 0], torch.from_numpy(images))
    assert torch.equal(y, torch.from_numpy(labels).long())
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0


def test_load_mnist_train_split_limit_dtype_and_torchvision_layout(tmp_path):
    images, labels = write_mnist(tmp_path / "MNIST" / "raw", n=9, prefix="train", gz=True)
    x, y = load_mnist(tmp_path, split="train", limit=4, dtype=torch.float64)
    assert x.shape == (4, 1, 28, 28) and x.dtype == torch.float64
    torch.testing.assert_close(x[:, 0], torch.from_numpy(images[:4]).double() / 255, rtol=0, atol=0)
    assert torch.equal(y, torch.from_numpy(labels[:4]).long())
    assert len(load_mnist(tmp_path, split="train", limit=100)[0]) == 9


def test_load_mnist_missing_files_name_what_is_expected(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="t10k-images-idx3-ubyte") as info:
        load_mnist(tmp_path)
    assert isinstance(info.value, FileNotFoundError)
    assert "never downloads" in str(info.value)
    write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DatasetNotFoundError, match="t10k-labels-idx1-ubyte is missing"):
        load_mnist(tmp_path)
    with pytest.raises(DatasetNotFoundError, match="train-images-idx3-ubyte"):
        load_mnist(tmp_path, split="train")


def test_load_mnist_malformed_files_raise_format_errors(tmp_path):
    images, labels = write_mnist(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(images, 2049))  # labels' magic
    with pytest.raises(DatasetFormatError, match="magic number 2049, expected 2051"):
        load_mnist(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(images, 2051)[:-10])
    with pytest.raises(DatasetFormatError, match="truncated"):
        load_mnist(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00")
    with pytest.raises(DatasetFormatError, match="too short"):
        load_mnist(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(images[:5], 2051))
    with pytest.raises(DatasetFormatError, match="5 images but .* 7 labels"):
        load_mnist(tmp_path)
    assert issubclass(DatasetFormatError, InputShapeError)


def test_load_mnist_corrupt_gzip_is_a_format_error(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte").rename(tmp_path / "t10k-images-idx3-ubyte.gz")
    with pytest.raises(DatasetFormatError, match="cannot read"):
        load_mnist(tmp_path)


@pytest.mark.parametrize("kwargs", [{"split": "validation"}, {"limit": -1}, {"limit": 2.5}])
def test_loaders_reject_bad_arguments(tmp_path, kwargs):
    write_mnist(tmp_path)
    with pytest.raises(DatasetArgumentError):
        load_mnist(tmp_path, **kwargs)
    with pytest.raises(DatasetArgumentError):
        load_cifar10(tmp_path, **kwargs)


# --------------------------------------------------------------------------- CIFAR-10


def write_cifar_batch(file, n, seed, protocol=pickle.HIGHEST_PROTOCOL, numpy1_names=False):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, size=n)]
    batch = {b"batch_label": b"testing batch", b"labels": labels, b"data": data, b"filenames": [b"x.png"] * n}
    blob = pickle.dumps(batch, protocol=protocol)
    if numpy1_names:  # what the original files (numpy 1, pickle protocol 2) reference
        blob = blob.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    file.write_bytes(blob)
    return data, labels


def test_load_cifar10_test_batch_exactly(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    data, labels = write_cifar_batch(folder / "test_batch", 6, seed=1)
    for path in (tmp_path, folder):  # the folder or its parent
        x, y = load_cifar10(path)
        assert x.shape == (6, 3, 32, 32) and y.dtype == torch.long
        expected = torch.from_numpy(data.reshape(6, 3, 32, 32)).to(x.dtype) / 255
        torch.testing.assert_close(x, expected, rtol=0, atol=0)
        assert y.tolist() == labels
    # channel-major rows: the first 1024 values are the red plane, row by row
    assert torch.equal((x[0, 0, 0, :] * 255).round().to(torch.uint8), torch.from_numpy(data[0, :32]))
    assert torch.equal((x[0, 1, 0, :] * 255).round().to(torch.uint8), torch.from_numpy(data[0, 1024:1056]))


def test_load_cifar10_reads_numpy1_protocol2_batches(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    data, labels = write_cifar_batch(folder / "test_batch", 3, seed=2, protocol=2, numpy1_names=True)
    assert b"numpy.core.multiarray" in (folder / "test_batch").read_bytes()
    x, y = load_cifar10(folder)
    assert torch.equal((x * 255).round().to(torch.uint8).reshape(3, -1), torch.from_numpy(data))
    assert y.tolist() == labels


def test_load_cifar10_train_split_concatenates_batches_and_limits(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    written = [write_cifar_batch(folder / f"data_batch_{k}", 2, seed=10 + k) for k in range(1, 6)]
    x, y = load_cifar10(tmp_path, split="train", dtype=torch.float64)
    assert x.shape == (10, 3, 32, 32) and x.dtype == torch.float64
    all_data = np.concatenate([d for d, _ in written])
    assert torch.equal((x * 255).round().to(torch.uint8).reshape(10, -1), torch.from_numpy(all_data))
    assert y.tolist() == sum((batch_labels for _, batch_labels in written), [])
    x3, y3 = load_cifar10(tmp_path, split="train", limit=3)
    assert x3.shape == (3, 3, 32, 32) and y3.tolist() == y.tolist()[:3]
    # limit reads only the batches it needs
    (folder / "data_batch_5").write_bytes(b"not a pickle")
    assert len(load_cifar10(tmp_path, split="train", limit=4)[0]) == 4
    with pytest.raises(DatasetFormatError, match="data_batch_5"):
        load_cifar10(tmp_path, split="train")


def test_load_cifar10_missing_files_name_what_is_expected(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="test_batch") as info:
        load_cifar10(tmp_path)
    assert isinstance(info.value, FileNotFoundError) and "cifar-10-batches-py" in str(info.value)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for k in (1, 2, 4):
        write_cifar_batch(folder / f"data_batch_{k}", 1, seed=k)
    with pytest.raises(DatasetNotFoundError, match="missing data_batch_3, data_batch_5"):
        load_cifar10(tmp_path, split="train")


def test_load_cifar10_malformed_batches_raise_format_errors(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    file = folder / "test_batch"
    cases = {
        "not a CIFAR-10 batch dict": [1, 2, 3],
        "'data' and 'labels'": {b"data": np.zeros((2, 3072), np.uint8)},
        "expected uint8 of shape": {b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]},
        "expected 2 integers": {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]},
        "outside 0..9": {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 12]},
    }
    for message, obj in cases.items():
        file.write_bytes(pickle.dumps(obj))
        with pytest.raises(DatasetFormatError, match=message):
            load_cifar10(folder)
    file.write_bytes(b"garbage")
    with pytest.raises(DatasetFormatError, match="cannot unpickle"):
        load_cifar10(folder)


class Evil:
    def __reduce__(self):
        return (print, ("unpickling ran code",))


def test_load_cifar10_refuses_pickles_that_run_code(tmp_path, capsys):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    with pytest.raises(DatasetFormatError, match="not allowed"):
        load_cifar10(folder)
    assert "unpickling ran code" not in capsys.readouterr().out


# --------------------------------------------------------------------------- ResNet-18


def test_vision_module_imports_without_torchvision():
    code = (
        "import sys; sys.modules['torchvision'] = None\n"
        "import attrbench.subjects.builtins, attrbench.subjects.vision as v\n"
        "assert sys.modules['torchvision'] is None and callable(v.resnet18_subject)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_resnet18_subject_without_torchvision_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)
    with pytest.raises(VisionUnavailableError, match=r'pip install "attrbench\[vision\]"') as info:
        resnet18_subject()
    assert isinstance(info.value, PluginError) and isinstance(info.value, ImportError)


def test_resnet18_is_not_a_standard_subject():
    from attrbench.subjects.registry import _LEDGER

    assert not any(entry.module == vision.__name__ for entry in _LEDGER)


class TinyResNet(nn.Module):
    """Stands in for torchvision's resnet18 (same attribute names for what we use)."""

    def __init__(self, num_classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


@pytest.fixture
def stub_torchvision(monkeypatch):
    tv = types.ModuleType("torchvision")
    tv.models = types.SimpleNamespace(resnet18=lambda weights=None, num_classes=1000: TinyResNet(num_classes))
    monkeypatch.setitem(sys.modules, "torchvision", tv)
    return tv


def test_resnet18_subject_with_stub_random_init_is_seeded_and_frozen(stub_torchvision):
    state = torch.random.get_rng_state()
    s = resnet18_subject(n_images=3, image_size=32, seed=5)
    assert torch.equal(state, torch.random.get_rng_state())  # global RNG untouched
    assert isinstance(s, Subject) and s.tags == RESNET18_TAGS and s.domain == (0.0, 1.0)
    assert s.inputs.shape == (3, 3, 32, 32) and s.baseline is None
    assert float(s.inputs.min()) >= 0 and float(s.inputs.max()) <= 1
    assert not s.model.training and not any(p.requires_grad for p in s.model.parameters())
    with torch.no_grad():
        assert torch.equal(s.targets, s.model(s.inputs).argmax(1))
    again = resnet18_subject(n_images=3, image_size=32, seed=5)
    assert torch.equal(again.inputs, s.inputs)
    assert all(torch.equal(a, b) for a, b in zip(s.model.parameters(), again.model.parameters()))
    other = resnet18_subject(n_images=3, image_size=32, seed=6)
    assert not torch.equal(other.inputs, s.inputs)


def test_resnet18_subject_with_stub_loads_weights_and_normalises(stub_torchvision, tmp_path):
    net = TinyResNet(num_classes=7)
    torch.save({"state_dict": {f"module.{k}": v for k, v in net.state_dict().items()}}, tmp_path / "w.pth")
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    s = resnet18_subject(tmp_path / "w.pth", inputs=x, targets=3, baseline=torch.full((1, 3, 1, 1), 0.5))
    assert s.truth["num_classes"] == 7 and s.targets.tolist() == [3, 3]
    assert s.tags == RESNET18_TAGS | {"nonzero_baseline"}
    net.eval()
    mean = torch.tensor(vision.IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(vision.IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(s.model(x), net((x - mean) / std))
    raw = resnet18_subject(tmp_path / "w.pth", inputs=x, normalize=False)
    with torch.no_grad():
        torch.testing.assert_close(raw.model(x), net(x))


def test_resnet18_subject_with_stub_reports_bad_weights_and_inputs(stub_torchvision, tmp_path):
    with pytest.raises(DatasetNotFoundError, match="weights file"):
        resnet18_subject(tmp_path / "missing.pth")
    torch.save({"conv1.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(WeightsFormatError, match="do not fit"):
        resnet18_subject(tmp_path / "bad.pth")
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(WeightsFormatError, match="cannot read"):
        resnet18_subject(tmp_path / "junk.pth")
    with pytest.raises(InputShapeError, match=r"\(N, 3, H, W\)"):
        resnet18_subject(inputs=torch.rand(2, 1, 28, 28))


def test_registering_resnet18_as_documented(stub_torchvision):
    from functools import partial

    from attrbench.subjects.registry import SubjectRegistry

    registry = SubjectRegistry(discovered=True)  # isolated: no built-ins, no plugins
    registry.register("vision/resnet18", partial(resnet18_subject, image_size=32, n_images=2), tags=RESNET18_TAGS)
    subject = registry.get("vision/resnet18")
    assert subject.name == "vision/resnet18" and subject.tags == RESNET18_TAGS


def test_resnet18_subject_with_real_torchvision():
    pytest.importorskip(
        "torchvision", reason="torchvision is an optional extra (attrbench[vision]); it has no CPU build on this index"
    )
    s = resnet18_subject(n_images=2, image_size=32, num_classes=10, seed=0)
    assert s.inputs.shape == (2, 3, 32, 32) and s.tags == RESNET18_TAGS
    assert any(isinstance(m, nn.MaxPool2d) for m in s.model.modules())
    with torch.no_grad():
        assert s.model(s.inputs).shape == (2, 10)
    again = resnet18_subject(n_images=2, image_size=32, num_classes=10, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(s.model.parameters(), again.model.parameters()))


def test_resnet18_subject_with_real_torchvision_loads_a_state_dict(tmp_path):
    tv = pytest.importorskip(
        "torchvision", reason="torchvision is an optional extra (attrbench[vision]); it has no CPU build on this index"
    )
    net = tv.models.resnet18(weights=None, num_classes=4).eval()
    torch.save(net.state_dict(), tmp_path / "r18.pth")
    x = torch.rand(1, 3, 32, 32)
    s = resnet18_subject(tmp_path / "r18.pth", inputs=x, normalize=False)
    with torch.no_grad():
        torch.testing.assert_close(s.model(x), net(x))
