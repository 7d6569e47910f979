"""The larger subjects: ``digits28/*`` (784 features) and ``shapes/*`` (3×32×32, with
evidence masks), the Recipe's ``arch`` field, and ``attrbench train``.

The accuracy tests build the subjects through the normal cache (``ATTRBENCH_CACHE`` as
set), so a run after ``attrbench train "digits28/*" "shapes/*"`` (as ``.ci/run`` does) reads
them from it; on a cold cache they train (each well under a minute of one thread).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np
import pytest
import torch
from scipy.stats import chi2_contingency

from attrbench import cli
from attrbench.methods.registry import SUBJECT_TAGS
from attrbench.subjects import digits, digits28, registry, shapes, training
from attrbench.subjects.resnet import BasicBlock

LARGER = [*digits28.RECIPES, *shapes.RECIPES]


@pytest.fixture(scope="module")
def built():
    """Every larger subject, built once (from the cache when it is warm)."""
    return {n: (digits28 if n.startswith("digits28/") else shapes).subject(n) for n in LARGER}


# -- the data ------------------------------------------------------------------------------


def test_shapes_generator_is_deterministic():
    """Same seed, same bytes (numpy RandomState only); another seed, other images."""
    a, b = shapes.generate.__wrapped__(3, 40), shapes.generate.__wrapped__(3, 40)
    for x, y in zip(a[:3], b[:3]):
        assert x.tobytes() == y.tobytes()
    assert a[3] == b[3]
    assert a[0].tobytes() != shapes.generate.__wrapped__(4, 40)[0].tobytes()


def _shape_of(mask):
    """The class of a target mask, read from its geometry alone (an independent decoding of
    ``shape_mask``): a square fills its bounding box; a triangle has a one-pixel apex row
    and a full base row; a disc of integer radius has one-pixel top and bottom rows; a plus
    has equal top and bottom bars wider than a pixel and a full middle row."""
    rows, cols = np.nonzero(mask.any(1))[0], np.nonzero(mask.any(0))[0]
    box = mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    top, bottom, width = box[0].sum(), box[-1].sum(), box.shape[1]
    if box.all():
        return "square"
    if top == 1 and bottom == width:
        return "triangle"
    if top == 1 and bottom == 1:
        return "disc"
    if top == bottom > 1 and box[box.shape[0] // 2].all():
        return "plus"
    return "unknown"


def test_evidence_is_exactly_the_target_colour_and_decides_the_class():
    """For every image: the mask is non-empty, every pixel inside it has the target colour,
    no pixel outside it does (the background stays in [0.35, 0.5] and the distractor
    colours have red 0), and the mask's geometry gives back the label."""
    x, y, evidence, _ = shapes.generate()
    red = np.all(x == np.asarray(shapes.TARGET_COLOUR, dtype=np.float32)[None, :, None, None], axis=1)
    assert evidence.any(axis=(1, 2)).all()
    assert np.array_equal(red, evidence)
    assert x[:, 0][~evidence].max() <= 0.5
    assert [_shape_of(m) for m in evidence] == [shapes.CLASSES[c] for c in y]
    assert x.min() >= 0.0 and x.max() <= 1.0


def test_distractors_carry_no_class_information():
    """Every class co-occurs with every distractor shape in the training split, and a
    chi-square test of independence between the label and the distractor shapes (one count
    per distractor) does not reject at the 1 % level."""
    _, y, _, kinds = shapes.generate()
    table = np.zeros((len(shapes.CLASSES), len(shapes.CLASSES)), dtype=int)
    for label, ks in zip(y[: shapes.N_TRAIN], kinds[: shapes.N_TRAIN]):
        assert 1 <= len(ks) <= 2
        for k in ks:
            table[label, k] += 1
    assert (table > 0).all()
    assert chi2_contingency(table).pvalue > 0.01


def test_digits28_is_digits_upsampled_with_the_same_split():
    """Same labels row for row as ``digits`` (same split); values stay in [−1, 1]; the mean
    over each image is preserved up to the interpolation's border effects (bilinear
    interpolation is a convex combination of the 8×8 pixels)."""
    small, large = digits.data(digits.RECIPES["digits/cnn_relu"]), digits28.data(digits28.RECIPES["digits28/cnn_relu"])
    assert torch.equal(small.y_test, large.y_test) and torch.equal(small.y_train, large.y_train)
    assert large.x_test.shape == (len(small.x_test), 1, 28, 28)
    assert large.x_test.min() >= -1 and large.x_test.max() <= 1
    diff = (large.x_test.mean((1, 2, 3)) - small.x_test.mean((1, 2, 3))).abs()
    assert float(diff.max()) < 0.1


# -- the Recipe's arch field ----------------------------------------------------------------


def _key_without_arch(recipe, data):
    """``training.cache_key`` as it was before Recipe had ``arch`` and ``pool``: the same
    blob with the recipe dict of the other fields (``dataclasses.asdict`` of the old one)."""
    digest = hashlib.sha256()
    for t in (data.x_train, data.y_train, data.x_test, data.y_test):
        digest.update(str((str(t.dtype), tuple(t.shape))).encode())
        digest.update(t.contiguous().numpy().tobytes())
    old = {f.name: getattr(recipe, f.name) for f in dataclasses.fields(recipe) if f.name not in ("arch", "pool")}
    blob = {
        "format": training.CACHE_FORMAT,
        "recipe": json.loads(json.dumps(old)),
        "data_sha256": digest.hexdigest(),
        "torch": str(torch.__version__),
    }
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()


@pytest.mark.parametrize("name", ["digits/mlp_relu", "digits/cnn_softplus"])
def test_plain_recipes_keep_their_cache_keys(name):
    recipe = digits.RECIPES[name]
    assert recipe.arch == "plain" and recipe.pool == 2
    assert "arch" not in recipe.as_dict() and "pool" not in recipe.as_dict()
    data = digits.data(recipe)
    assert training.cache_key(recipe, data) == _key_without_arch(recipe, data)


def test_resnet_recipe_key_names_its_arch():
    recipe = shapes.RECIPES["shapes/resnet"]
    assert recipe.as_dict()["arch"] == "resnet"
    split, _ = shapes.data()
    plain = dataclasses.replace(recipe, arch="plain")
    assert training.cache_key(recipe, split) != training.cache_key(plain, split)
    with pytest.raises(ValueError, match="unknown architecture"):
        training.untrained_model(dataclasses.replace(recipe, arch="vgg"))


def test_resnet_has_batchnorm_and_skip_connections():
    """BatchNorm2d layers, an identity and a projection block; no max-pooling; zeroing a
    block's last BatchNorm leaves act(shortcut(x)) (the skip is added, not a side path);
    leaf modules are registered in the order the forward pass runs them."""
    with training.deterministic(0):
        model = training.untrained_model(shapes.RECIPES["shapes/resnet"]).eval()
    kinds = [type(m) for m in model.modules()]
    assert torch.nn.BatchNorm2d in kinds and torch.nn.MaxPool2d not in kinds
    blocks = [m for m in model.modules() if isinstance(m, BasicBlock)]
    assert any(isinstance(b.shortcut, torch.nn.Identity) for b in blocks)
    assert any(isinstance(b.shortcut, torch.nn.Sequential) for b in blocks)
    x = torch.rand(3, blocks[0].conv1.in_channels, 8, 8)
    for block in blocks:
        with torch.no_grad():
            block.bn2.weight.zero_(), block.bn2.bias.zero_()
            x_in = x if block.conv1.in_channels == x.shape[1] else torch.rand(3, block.conv1.in_channels, 8, 8)
            assert torch.equal(block(x_in), torch.relu(block.shortcut(x_in)))
    with training.deterministic(0):
        model = training.untrained_model(shapes.RECIPES["shapes/resnet"]).eval()
    order = []
    leaves = [m for m in model.modules() if not list(m.children())]
    hooks = [m.register_forward_hook(lambda mod, i, o: order.append(mod)) for m in leaves]
    with torch.no_grad():
        model(torch.rand(2, 3, 32, 32))
    for h in hooks:
        h.remove()
    assert [id(m) for m in order] == [id(m) for m in leaves]


# -- the subjects ---------------------------------------------------------------------------


def test_registration_and_tags():
    entries = {e.name: e for e in registry._LEDGER if e.name in LARGER}
    assert set(entries) == set(LARGER)
    for name, entry in entries.items():
        assert entry.tags <= set(SUBJECT_TAGS) and "large" in entry.tags, name
    assert {"image"} <= entries["shapes/cnn"].tags
    assert {"image", "residual", "batchnorm"} <= entries["shapes/resnet"].tags
    assert {"relu", "nonsmooth"} <= entries["digits28/mlp_relu"].tags
    assert {"smooth", "nonzero_at_origin"} <= entries["digits28/cnn_softplus"].tags


@pytest.mark.parametrize("name", LARGER)
def test_subject_accuracy_and_shapes(built, name):
    subject = built[name]
    module = digits28 if name.startswith("digits28/") else shapes
    assert subject.truth["accuracy"] >= module.MIN_ACCURACY
    assert subject.inputs[0].numel() >= 784
    assert subject.truth["image_shape"] == module.IMAGE_SHAPE
    assert subject.tags == registry.default_registry.entry(name).tags


def test_shapes_evidence_is_aligned_with_the_inputs(built):
    """Row i of ``truth["evidence"]`` marks exactly the target-coloured pixels of input i."""
    subject = built["shapes/cnn"]
    evidence = subject.truth["evidence"]
    assert evidence.dtype == torch.bool and evidence.shape == (len(subject.inputs), 32, 32)
    target = torch.tensor(shapes.TARGET_COLOUR).view(1, 3, 1, 1)
    assert torch.equal((subject.inputs == target).all(1), evidence)
    assert subject.domain == (0.0, 1.0) and torch.equal(subject.baseline, torch.zeros(1, 3, 32, 32))


def test_train_command_trains_then_reads_the_cache(tmp_path, monkeypatch, capsys):
    """``attrbench train`` on a cold cache trains (from_cache no), then reads it (yes)."""
    monkeypatch.setenv(training.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(registry.default_registry, "built", {})
    assert cli.main(["train", "tabular/*", "--format", "plain"]) == 0
    first = capsys.readouterr().out.splitlines()
    monkeypatch.setattr(registry.default_registry, "built", {})
    assert cli.main(["train", "tabular/*", "--format", "plain"]) == 0
    second = capsys.readouterr().out.splitlines()
    assert first[1].split()[:3] == ["tabular/breast_cancer_mlp", second[1].split()[1], "no"]
    assert second[1].split()[2] == "yes"
    assert cli.main(["train", "nothing/*"]) == 2


def test_resnet_reloads_from_the_cache(built):
    """The ResNet's cache file (BatchNorm's int64 ``num_batches_tracked`` included) loads
    back into an equal model: the second build comes from the cache with the same state."""
    split, _ = shapes.data()
    again = training.trained("shapes/resnet", shapes.RECIPES["shapes/resnet"], split)
    assert again.from_cache and again.accuracy == built["shapes/resnet"].truth["accuracy"]
    first, second = built["shapes/resnet"].model.state_dict(), again.model.state_dict()
    assert first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)
    assert not again.model.training
