"""The quick tier's network: a small ResNet, shaped like torchvision's so fastai treats it the same.

``MiniResNet`` has a stem, four residual stages and a source classifier (pool, flatten, linear),
all direct children of one ``nn.Sequential``. fastai's ``create_body`` keeps the first five
children (``cut=5``, as ``cut=-2`` does for a torchvision ResNet) and adds its own head.
"""
from torch import nn

STAGE_WIDTHS = (16, 32, 64, 128)
BODY_CHILDREN = 5  # stem + four stages


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a shortcut (projected when the shape changes)."""

    def __init__(self, c_in, c_out, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


def stage(c_in, c_out, stride, blocks):
    return nn.Sequential(BasicBlock(c_in, c_out, stride), *[BasicBlock(c_out, c_out) for _ in range(blocks - 1)])


class MiniResNet(nn.Sequential):
    """Stem, four stages (layer groups for fastai) and a classifier for the source task."""

    def __init__(self, n_classes, widths=STAGE_WIDTHS, blocks=(1, 1, 1, 1), n_in=3):
        w = widths
        super().__init__(
            nn.Sequential(nn.Conv2d(n_in, w[0], 3, 1, 1, bias=False), nn.BatchNorm2d(w[0]), nn.ReLU(inplace=True)),
            stage(w[0], w[0], 2, blocks[0]),
            stage(w[0], w[1], 2, blocks[1]),
            stage(w[1], w[2], 2, blocks[2]),
            stage(w[2], w[3], 2, blocks[3]),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(w[3], n_classes),
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
