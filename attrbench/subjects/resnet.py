"""A small ResNet (He et al., 2016, "Deep residual learning", §3 and Fig. 2) for the
``shapes/resnet`` subject: BatchNorm and skip connections, no max-pooling.

``stem conv 3×3 + BN + act``, then one basic block per width (``out = act(BN(conv(act(BN(
conv(x))))) + shortcut(x))``, the shortcut being the identity when the width and stride
stay, else a stride-2 1×1 convolution + BN, the "projection shortcut" of §3.3), then global
average pooling, optional dense layers, and a linear layer to the class scores.

Modules are registered in forward order (the shortcut is computed first), so that
``named_modules()`` lists them in the order the forward pass runs them.
"""

from __future__ import annotations

from torch import nn


class BasicBlock(nn.Module):
    """Two 3×3 convolutions with BatchNorm; ``out = act(main(x) + shortcut(x))``."""

    def __init__(self, channels: int, out: int, stride: int, act, dtype) -> None:
        super().__init__()
        kw = {"dtype": dtype}
        if stride != 1 or channels != out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(channels, out, 1, stride=stride, bias=False, **kw), nn.BatchNorm2d(out, **kw)
            )
        else:
            self.shortcut = nn.Identity()
        self.conv1 = nn.Conv2d(channels, out, 3, stride=stride, padding=1, bias=False, **kw)
        self.bn1 = nn.BatchNorm2d(out, **kw)
        self.act1 = act()
        self.conv2 = nn.Conv2d(out, out, 3, padding=1, bias=False, **kw)
        self.bn2 = nn.BatchNorm2d(out, **kw)
        self.act2 = act()

    def forward(self, x):
        identity = self.shortcut(x)
        out = self.bn2(self.conv2(self.act1(self.bn1(self.conv1(x)))))
        out = out + identity
        return self.act2(out)


def resnet(input_shape, widths, dense, classes: int, act, dtype) -> nn.Sequential:
    """Stem (``widths[0]`` channels), one :class:`BasicBlock` per width (stride 2 where the
    width grows), global average pooling, ``dense`` layers, a linear layer to ``classes``."""
    channels = input_shape[0]
    kw = {"dtype": dtype}
    layers: list = [nn.Conv2d(channels, widths[0], 3, padding=1, bias=False, **kw), nn.BatchNorm2d(widths[0], **kw),
                    act()]  # fmt: skip
    channels = widths[0]
    for out in widths:
        layers.append(BasicBlock(channels, out, 2 if out != channels else 1, act, dtype))
        channels = out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    for out in dense:
        layers += [nn.Linear(channels, out, **kw), act()]
        channels = out
    layers.append(nn.Linear(channels, classes, **kw))
    return nn.Sequential(*layers)
