"""Shapes: a procedural 3×32×32 image task whose class evidence is known pixel by pixel.

In the spirit of AttributionLab (Zhang et al., 2023) and FunnyBirds (Hesse et al., 2023):
the class is decided by one object whose pixels are known, so an attribution can be scored
against a ground-truth evidence mask. Every image (pixel values in [0, 1]) holds

* a textured background: each channel is 0.35 + 0.15·u, u a 5×5 grid of uniform [0, 1)
  draws bilinearly interpolated to 32×32 (smooth, low-amplitude noise; values in
  [0.35, 0.5], far from the target colour);
* ONE target object in saturated red (1, 0, 0): its shape is the class — 0 square,
  1 disc, 2 triangle (apex up), 3 plus — with a random half-size 5..7 px and a random
  centre keeping it inside the image;
* 1 or 2 distractor objects in green (0, 0.8, 0), blue (0, 0.2, 1) or cyan (0, 0.8, 0.8),
  half-size 3..5 px, whose shape, colour and count are drawn uniformly at random and
  independently of the label, so they carry no class information; their bounding boxes
  (plus a 1 px margin) are disjoint from the target's, so no distractor touches it.

Every draw comes from one ``numpy.random.RandomState(seed)`` (no torch RNG), so the same
seed gives the same bytes; the first 2000 images are the training split, the next 600 the
test split. ``truth["evidence"]`` is a bool tensor (N, 32, 32): exactly the pixels drawn in
the target colour in test image i (row i of ``inputs``); ``truth["image_shape"]`` is
(32, 32). ``baseline`` zeros (black), ``domain`` (0, 1); every subject is tagged ``large``
(3072 features) and ``image``.

Subjects (Adam on cross-entropy, minibatches of 64, seed 0, one thread; measured with
torch 2.13 on the 2-core development machine; "train s" is the training's CPU time,
``time.process_time``, i.e. its time on an idle core — the shared machine at load ~12 took
several times that in wall time). Both must reach 0.95 (the task is not harder than
digits for these networks: the ResNet, translation-invariant by its global pooling, is
perfect; a plain CNN with 2×2 pooling and a dense layer over 32×16×16 features reached
only 0.90 in 15 epochs, hence the 4×4 pooling):

==============  ==========================================  ======  =====  ========  =======
subject         network                                     epochs  lr     accuracy  train s
==============  ==========================================  ======  =====  ========  =======
shapes/cnn      conv 8, conv 16, 4×4 avgpool, dense 64      15      2e-3   0.9933    9.0
shapes/resnet   stem 8, block 8, block 16 (stride 2), GAP   10      2e-3   1.0000    25.5
==============  ==========================================  ======  =====  ========  =======

(convolutions 3×3; the ResNet's blocks are described in ``attrbench.subjects.resnet``:
the first has an identity shortcut, the second a 1×1 stride-2 projection.)

Importing this module only registers factories; the images are drawn when a subject is
built.
"""

from __future__ import annotations

import functools

from attrbench.subjects.registry import register_subject
from attrbench.subjects.training import Recipe

SIZE = 32
N_TRAIN, N_TEST = 2000, 600
DATA_SEED = 0
CLASSES = ("square", "disc", "triangle", "plus")
TARGET_COLOUR = (1.0, 0.0, 0.0)
DISTRACTOR_COLOURS = ((0.0, 0.8, 0.0), (0.0, 0.2, 1.0), (0.0, 0.8, 0.8))
TARGET_HALF = (5, 7)  # inclusive range of the target's half-size, pixels
DISTRACTOR_HALF = (3, 5)
PLACEMENT_TRIES = 50
DATA = (
    f"attrbench.subjects.shapes.generate(RandomState({DATA_SEED})): {N_TRAIN} train then {N_TEST} test "
    f"3x{SIZE}x{SIZE} images; class = shape of the red object"
)
DOMAIN = (0.0, 1.0)
IMAGE_SHAPE = (SIZE, SIZE)
MIN_ACCURACY = 0.95


def shape_mask(kind: int, cy: int, cx: int, half: int, size: int = SIZE):
    """Bool (size, size) mask of shape ``CLASSES[kind]`` centred at pixel (cy, cx) with
    half-size ``half``: every pixel lies within ``half`` of the centre in both axes."""
    import numpy as np

    dy, dx = np.ogrid[:size, :size]
    dy, dx = dy - cy, dx - cx
    box = (np.abs(dy) <= half) & (np.abs(dx) <= half)
    if kind == 0:
        return box
    if kind == 1:
        return dy * dy + dx * dx <= half * half
    if kind == 2:  # apex at the top row of the box, base the whole bottom row
        return box & (2 * np.abs(dx) <= dy + half)
    bar = max(1, half // 3)
    return box & ((np.abs(dx) <= bar) | (np.abs(dy) <= bar))


def _background(rs):
    """(3, SIZE, SIZE): 0.35 + 0.15 × a 5×5 uniform grid per channel, bilinearly upsampled."""
    import numpy as np

    grid = rs.rand(3, 5, 5)
    at = np.linspace(0, 4, SIZE)
    lo = np.minimum(at.astype(int), 3)
    w = at - lo
    rows = np.zeros((SIZE, 5))
    rows[np.arange(SIZE), lo] = 1 - w
    rows[np.arange(SIZE), lo + 1] += w
    return 0.35 + 0.15 * np.einsum("ij,cjk,lk->cil", rows, grid, rows)


def _apart(a, b, margin: int = 1) -> bool:
    """Do the boxes (cy, cx, half) a and b stay ``margin`` pixels apart?"""
    return abs(a[0] - b[0]) > a[2] + b[2] + margin or abs(a[1] - b[1]) > a[2] + b[2] + margin


def _image(rs):
    """One image: (pixels (3, H, W) float64, label, evidence (H, W) bool, distractor kinds).

    Distractors are placed by rejection sampling (up to ``PLACEMENT_TRIES`` positions each);
    when one finds no room the target's centre and all distractors are drawn again. Room
    depends on the boxes' sizes only, never on a shape, so the label stays independent of
    the distractors and of the target's position."""
    import numpy as np

    pixels = _background(rs)
    label = int(rs.randint(len(CLASSES)))
    half = int(rs.randint(TARGET_HALF[0], TARGET_HALF[1] + 1))
    while True:
        target = (int(rs.randint(half, SIZE - half)), int(rs.randint(half, SIZE - half)), half)
        distractors = []
        for _ in range(int(rs.randint(1, 3))):
            kind, colour = int(rs.randint(len(CLASSES))), int(rs.randint(len(DISTRACTOR_COLOURS)))
            d_half = int(rs.randint(DISTRACTOR_HALF[0], DISTRACTOR_HALF[1] + 1))
            for _ in range(PLACEMENT_TRIES):
                box = (int(rs.randint(d_half, SIZE - d_half)), int(rs.randint(d_half, SIZE - d_half)), d_half)
                if _apart(box, target):
                    distractors.append((kind, colour, box))
                    break
            else:
                break
        else:
            break
    for kind, colour, box in distractors:
        pixels[:, shape_mask(kind, *box)] = np.asarray(DISTRACTOR_COLOURS[colour])[:, None]
    evidence = shape_mask(label, *target)
    pixels[:, evidence] = np.asarray(TARGET_COLOUR)[:, None]
    return pixels, label, evidence, [kind for kind, _, _ in distractors]


@functools.cache
def generate(seed: int = DATA_SEED, n: int = N_TRAIN + N_TEST):
    """``n`` images from ``RandomState(seed)``: (x float32 (n, 3, H, W), y int64 (n,),
    evidence bool (n, H, W), distractor kinds: a tuple of tuples). Cached; do not mutate."""
    import numpy as np

    rs = np.random.RandomState(seed)
    images = [_image(rs) for _ in range(n)]
    x = np.stack([im[0] for im in images]).astype(np.float32)
    y = np.asarray([im[1] for im in images], dtype=np.int64)
    evidence = np.stack([im[2] for im in images])
    return x, y, evidence, tuple(tuple(im[3]) for im in images)


def data():
    """The train/test Split (fresh tensors) and the test split's evidence masks."""
    import torch

    from attrbench.subjects.training import Split

    x, y, evidence, _ = generate()
    xs, ys = torch.from_numpy(x.copy()), torch.from_numpy(y.copy())
    split = Split(xs[:N_TRAIN], ys[:N_TRAIN], xs[N_TRAIN:], ys[N_TRAIN:])
    return split, torch.from_numpy(evidence[N_TRAIN:].copy())


RECIPES: dict[str, Recipe] = {
    "shapes/cnn": Recipe(data=DATA, input_shape=(3, SIZE, SIZE), classes=len(CLASSES), activation="relu",
                         convs=(8, 16), pool=4, dense=(64,), epochs=15, lr=2e-3),
    "shapes/resnet": Recipe(data=DATA, input_shape=(3, SIZE, SIZE), classes=len(CLASSES), activation="relu",
                            convs=(8, 8, 16), dense=(), epochs=10, lr=2e-3, arch="resnet"),
}  # fmt: skip
DESCRIPTIONS = {
    "shapes/cnn": "CNN conv[8, 16]+avgpool 4x4+dense[64] (relu) on procedural 3x32x32 shapes (class = red object)",
    "shapes/resnet": "ResNet stem8+blocks[8, 16(stride 2, 1x1 projection)]+BatchNorm+global avgpool (relu) "
    "on procedural 3x32x32 shapes",
}
_BASE_TAGS = frozenset({"relu", "nonsmooth", "bias", "image", "large"})
TAGS = {"shapes/cnn": _BASE_TAGS, "shapes/resnet": _BASE_TAGS | {"residual", "batchnorm"}}


def subject(name: str):
    """Build the shapes subject ``name`` (trained now, or loaded from the cache)."""
    from attrbench.subjects.training import trained_subject

    split, evidence = data()
    return trained_subject(
        name, RECIPES[name], split, domain=DOMAIN, tags=TAGS[name], description=DESCRIPTIONS[name],
        truth={"data": DATA, "image_shape": IMAGE_SHAPE, "evidence": evidence, "classes": CLASSES},
    )  # fmt: skip


def _factory(name: str):
    # A closure (not functools.partial): the registry reads the factory's __module__.
    def build():
        return subject(name)

    build.__qualname__ = f"subject({name!r})"
    return build


for _name in RECIPES:
    register_subject(_name, tags=TAGS[_name], description=DESCRIPTIONS[_name])(_factory(_name))
del _name
