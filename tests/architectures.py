"""Small but faithful versions of real network families, built only from the supported op set.

Shared by tests/test_architectures.py (parity through torch.fx and ONNX, NumPy reference and Java
against torch) and benchmarks/bench_java.py (latency next to the zoo models). Each entry of
``ARCHITECTURES`` is an ``Arch``: a name, a factory returning a fresh module in eval mode with
deterministic, *realistic* random weights (see ``realistic``), the per-sample input shape
((C, H, W) images, (C, L) PRPS sequences, (F,) feature vectors), and whether the fx export
folds batch norm.

The networks follow their papers' structure (block order, activations, strides, shortcuts,
squeeze-and-excitation) with few channels and small inputs. Nothing is trained.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

NUM_CLASSES = 7  # the GIS PRPD class count, so the heads look like the zoo models'


def _divisible(value: float, divisor: int = 8) -> int:
    """Channel rounding of MobileNet/EfficientNet (never below 90% of the unrounded value)."""
    out = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return out + divisor if out < 0.9 * value else out


def _conv_bn(cin: int, cout: int, k: int, s: int = 1, groups: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(cin, cout, k, s, (k - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]


# --- ResNet-18 --------------------------------------------------------------------------------


class BasicBlock(nn.Module):
    """Two 3x3 conv + BN, ReLU; identity shortcut, or 1x1 conv + BN when shape changes."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            if stride != 1 or cin != cout
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return F.relu(out)


class ResNet18(nn.Module):
    """ResNet-18: 7x7/2 stem, 3x3/2 max pool, four stages of two basic blocks (widths w..8w,
    strides 1, 2, 2, 2), adaptive average pool to 1x1, linear."""

    def __init__(self, in_ch: int = 1, width: int = 16, classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        stages = []
        cin = width
        for i, stride in enumerate((1, 2, 2, 2)):
            cout = width * 2**i
            stages.append(nn.Sequential(BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)))
            cin = cout
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(cin, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


# --- MobileNetV3-small ------------------------------------------------------------------------


class SqueezeExcite(nn.Module):
    """x * gate(fc2(act(fc1(mean_hw(x))))): the SE block of MobileNetV3 (ReLU, hardsigmoid) and
    EfficientNet (SiLU, sigmoid)."""

    def __init__(self, ch: int, squeeze: int, act: type[nn.Module], gate: type[nn.Module]) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(ch, squeeze, 1)
        self.act = act()
        self.fc2 = nn.Conv2d(squeeze, ch, 1)
        self.gate = gate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = F.adaptive_avg_pool2d(x, 1)
        return x * self.gate(self.fc2(self.act(self.fc1(s))))


class InvertedResidual(nn.Module):
    """MobileNetV3 bneck: 1x1 expand (skipped when exp == cin), kxk depthwise, optional SE,
    1x1 linear projection; residual when stride 1 and cin == cout."""

    def __init__(
        self, cin: int, k: int, exp: int, cout: int, se: bool, hs: bool, stride: int
    ) -> None:
        super().__init__()
        act = nn.Hardswish if hs else nn.ReLU
        layers: list[nn.Module] = []
        if exp != cin:
            layers += [*_conv_bn(cin, exp, 1), act()]
        layers += [*_conv_bn(exp, exp, k, stride, groups=exp), act()]
        if se:
            layers.append(SqueezeExcite(exp, _divisible(exp / 4), nn.ReLU, nn.Hardsigmoid))
        layers += _conv_bn(exp, cout, 1)
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return x + out if self.residual else out


# (kernel, expansion, out, SE, hardswish, stride): Table 2 of the MobileNetV3 paper.
_MNV3_SMALL = [
    (3, 16, 16, True, False, 2),
    (3, 72, 24, False, False, 2),
    (3, 88, 24, False, False, 1),
    (5, 96, 40, True, True, 2),
    (5, 240, 40, True, True, 1),
    (5, 240, 40, True, True, 1),
    (5, 120, 48, True, True, 1),
    (5, 144, 48, True, True, 1),
    (5, 288, 96, True, True, 2),
    (5, 576, 96, True, True, 1),
    (5, 576, 96, True, True, 1),
]


class MobileNetV3Small(nn.Module):
    """MobileNetV3-small: 3x3/2 stem with hardswish, the 11 bnecks of the paper (scaled by
    ``width``), 1x1 conv to 6x the last width, global average pool, linear + hardswish +
    dropout + linear classifier. ``se=False`` drops the squeeze-and-excitation blocks."""

    def __init__(
        self,
        in_ch: int = 1,
        width: float = 1.0,
        se: bool = True,
        classes: int = NUM_CLASSES,
        hidden: int = 1024,
    ) -> None:
        super().__init__()
        cin = _divisible(16 * width)
        layers: list[nn.Module] = [*_conv_bn(in_ch, cin, 3, 2), nn.Hardswish()]
        for k, exp, out, has_se, hs, s in _MNV3_SMALL:
            cout = _divisible(out * width)
            layers.append(
                InvertedResidual(cin, k, _divisible(exp * width), cout, has_se and se, hs, s)
            )
            cin = cout
        last = _divisible(576 * width)
        layers += [*_conv_bn(cin, last, 1), nn.Hardswish()]
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Linear(last, hidden),
            nn.Hardswish(),
            nn.Dropout(0.2),
            nn.Linear(hidden, classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


# --- EfficientNet-B0 --------------------------------------------------------------------------


class MBConv(nn.Module):
    """EfficientNet MBConv: 1x1 expand + BN + SiLU (when expand > 1), kxk depthwise + BN + SiLU,
    SE (squeeze to cin / 4, SiLU, sigmoid gate), 1x1 projection + BN; identity residual when
    stride 1 and cin == cout (no stochastic depth: inference)."""

    def __init__(self, cin: int, cout: int, k: int, stride: int, expand: int, se: bool) -> None:
        super().__init__()
        mid = cin * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [*_conv_bn(cin, mid, 1), nn.SiLU()]
        layers += [*_conv_bn(mid, mid, k, stride, groups=mid), nn.SiLU()]
        if se:
            layers.append(SqueezeExcite(mid, max(1, cin // 4), nn.SiLU, nn.Sigmoid))
        layers += _conv_bn(mid, cout, 1)
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return out + x if self.residual else out


# (expand, kernel, stride, out channels, repeats): EfficientNet-B0's stages.
_B0 = [
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
]


class EfficientNetB0(nn.Module):
    """EfficientNet-B0 scaled down by a width and a depth multiplier: 3x3/2 stem + BN + SiLU,
    the seven MBConv stages, 1x1 head conv to 1280 x width, global pool, dropout, linear."""

    def __init__(
        self,
        in_ch: int = 3,
        width: float = 0.25,
        depth: float = 0.5,
        se: bool = True,
        classes: int = NUM_CLASSES,
    ) -> None:
        super().__init__()
        cin = _divisible(32 * width)
        layers: list[nn.Module] = [*_conv_bn(in_ch, cin, 3, 2), nn.SiLU()]
        for expand, k, stride, out, repeats in _B0:
            cout = _divisible(out * width)
            for i in range(max(1, math.ceil(repeats * depth))):
                layers.append(MBConv(cin, cout, k, stride if i == 0 else 1, expand, se))
                cin = cout
        head = _divisible(1280 * width)
        layers += [*_conv_bn(cin, head, 1), nn.SiLU()]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(head, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.pool(self.features(x)).flatten(1)))


# --- U-Net-style encoder-decoder ----------------------------------------------------------------


def _double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(*_conv_bn(cin, cout, 3), nn.ReLU(), *_conv_bn(cout, cout, 3), nn.ReLU())


class UNetNoSkip(nn.Module):
    """U-Net's encoder-decoder without the skip concatenations (the format has no concat):
    double conv, max pool, double conv, max pool, bottleneck; decoder up by bilinear upsampling
    then by a 2x2/2 transposed conv, each followed by a double conv; a 1x1 conv to per-pixel
    class maps, global average pool over the map, flatten (a segmentation net read as a
    classifier), and a linear head."""

    def __init__(self, in_ch: int = 1, width: int = 8, classes: int = NUM_CLASSES) -> None:
        super().__init__()
        w = width
        self.enc1 = _double_conv(in_ch, w)
        self.enc2 = _double_conv(w, 2 * w)
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = _double_conv(2 * w, 4 * w)
        self.up1 = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.dec1 = _double_conv(4 * w, 2 * w)
        self.up2 = nn.ConvTranspose2d(2 * w, 2 * w, 2, stride=2)
        self.dec2 = _double_conv(2 * w, w)
        self.seg = nn.Conv2d(w, classes, 1)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(classes, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.enc1(x))
        x = self.pool(self.enc2(x))
        x = self.dec1(self.up1(self.bottleneck(x)))
        x = self.dec2(self.up2(x))
        return self.fc(self.gap(self.seg(x)).flatten(1))


class UNet(nn.Module):
    """U-Net with its skip concatenations: double conv, max pool, double conv, max pool,
    bottleneck; each decoder stage upsamples (bilinear, then a 2x2/2 transposed conv), joins the
    encoder's map of the same size on channels (torch.cat) and applies a double conv; a 1x1 conv
    to per-pixel class maps, global average pool, flatten and a linear head."""

    def __init__(self, in_ch: int = 1, width: int = 8, classes: int = NUM_CLASSES) -> None:
        super().__init__()
        w = width
        self.enc1 = _double_conv(in_ch, w)
        self.enc2 = _double_conv(w, 2 * w)
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = _double_conv(2 * w, 4 * w)
        self.up1 = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.dec1 = _double_conv(4 * w + 2 * w, 2 * w)
        self.up2 = nn.ConvTranspose2d(2 * w, w, 2, stride=2)
        self.dec2 = _double_conv(w + w, w)
        self.seg = nn.Conv2d(w, classes, 1)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(classes, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s1 = self.enc1(x)
        s2 = self.enc2(self.pool(s1))
        b = self.bottleneck(self.pool(s2))
        x = self.dec1(torch.cat([self.up1(b), s2], dim=1))
        x = self.dec2(torch.cat((self.up2(x), s1), 1))
        return self.fc(self.gap(self.seg(x)).flatten(1))


class TwoBranchConcat(nn.Module):
    """Two conv branches of different receptive fields (3x3, and 5x5 as 1x1 then 5x5) over a
    strided stem, concatenated on channels with the stem itself (a three-way torch.cat), then a
    1x1 fusion conv, global average pool and a linear head."""

    def __init__(self, in_ch: int = 1, width: int = 8, classes: int = NUM_CLASSES) -> None:
        super().__init__()
        w = width
        self.stem = nn.Sequential(*_conv_bn(in_ch, w, 3, 2), nn.ReLU())
        self.b3 = nn.Sequential(*_conv_bn(w, w, 3), nn.ReLU())
        self.b5 = nn.Sequential(*_conv_bn(w, w, 1), nn.ReLU(), *_conv_bn(w, w, 5), nn.ReLU())
        self.fuse = nn.Sequential(*_conv_bn(3 * w, 2 * w, 1), nn.ReLU())
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2 * w, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.fuse(torch.cat([x, self.b3(x), self.b5(x)], 1))
        return self.fc(torch.flatten(self.gap(x), 1))


# --- PRPD phase-circular CNN --------------------------------------------------------------------


class PhaseCircularCNN(nn.Module):
    """A PRPD classifier that respects the phase axis's periodicity: the (1, 60, 120) image is
    (amplitude, phase); it is first standardised with the data set's mean and std (buffers:
    ``(x - mean) / std``), then every conv pads the phase (W) axis circularly (F.pad 'circular'
    or Conv2d(padding_mode='circular')) and the amplitude axis with zeros; BN, ReLU, max pools;
    an adaptive average pool to (1, 6) phase sectors of 60 degrees, flatten, linear + BatchNorm1d
    + ReLU, dropout, linear."""

    def __init__(self, width: int = 8, classes: int = NUM_CLASSES) -> None:
        super().__init__()
        w = width
        self.register_buffer("mean", torch.full((1, 1, 1), 0.05))
        self.register_buffer("std", torch.full((1, 1, 1), 0.15))
        self.conv1 = nn.Conv2d(1, w, (5, 5), padding=(2, 0), bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        self.conv2 = nn.Conv2d(w, 2 * w, 3, padding=(1, 0), bias=False)
        self.bn2 = nn.BatchNorm2d(2 * w)
        # both axes circular here, as Conv2d offers it; amplitude wrap-around is harmless on
        # pooled maps and exercises the padding mode
        self.conv3 = nn.Conv2d(2 * w, 4 * w, 3, padding=1, padding_mode="circular")
        self.bn3 = nn.BatchNorm2d(4 * w)
        self.pool = nn.MaxPool2d(2)
        self.sectors = nn.AdaptiveAvgPool2d((1, 6))
        self.fc1 = nn.Linear(4 * w * 6, 32)
        self.bn_fc = nn.BatchNorm1d(32)
        self.drop = nn.Dropout(0.3)
        self.fc2 = nn.Linear(32, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean) / self.std
        x = F.pad(x, (2, 2, 0, 0), mode="circular")
        x = self.pool(F.relu(self.bn1(self.conv1(x))))
        x = F.pad(x, (1, 1, 0, 0), mode="circular")
        x = self.pool(F.relu(self.bn2(self.conv2(x))))
        x = F.relu(self.bn3(self.conv3(x)))
        x = torch.flatten(self.sectors(x), 1)
        return self.fc2(self.drop(F.relu(self.bn_fc(self.fc1(x)))))


# --- ConvNeXt-tiny-style ------------------------------------------------------------------------


class ConvNeXtBlock(nn.Module):
    """7x7 depthwise conv, channel norm, 1x1 to 4C, GELU, 1x1 back to C, residual. The norm over
    channels is GroupNorm(1, C) (ConvNeXt's channels-last LayerNorm needs a permute the format
    lacks); layer scale is folded into the last 1x1 conv's weights (a constant per channel)."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(ch, ch, 7, padding=3, groups=ch)
        self.norm = nn.GroupNorm(1, ch, eps=1e-6)
        self.pwconv1 = nn.Conv2d(ch, 4 * ch, 1)
        self.act = nn.GELU()
        self.pwconv2 = nn.Conv2d(4 * ch, ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.pwconv2(self.act(self.pwconv1(self.norm(self.dwconv(x)))))


class ConvNeXtTiny(nn.Module):
    """ConvNeXt-T's macro design at small width: 4x4/4 patchify stem + LayerNorm (over C, H, W
    here), stages of (3, 3, 9, 3) x ``depth`` blocks with widths w, 2w, 4w, 8w joined by norm +
    2x2/2 conv downsampling, global average pool, LayerNorm, linear. One stage uses the tanh
    GELU approximation."""

    def __init__(
        self,
        in_ch: int = 3,
        size: tuple[int, int] = (32, 32),
        width: int = 8,
        depth: float = 0.34,
        classes: int = NUM_CLASSES,
    ) -> None:
        super().__init__()
        h, w = size[0] // 4, size[1] // 4
        self.stem = nn.Sequential(
            nn.Conv2d(in_ch, width, 4, stride=4), nn.LayerNorm([width, h, w], eps=1e-6)
        )
        layers: list[nn.Module] = []
        cin = width
        for i, blocks in enumerate((3, 3, 9, 3)):
            cout = width * 2**i
            if i > 0:
                layers += [nn.GroupNorm(1, cin, eps=1e-6), nn.Conv2d(cin, cout, 2, stride=2)]
            for _ in range(max(1, round(blocks * depth))):
                block = ConvNeXtBlock(cout)
                if i == 1:
                    block.act = nn.GELU(approximate="tanh")
                layers.append(block)
            cin = cout
        self.stages = nn.Sequential(*layers)
        self.norm = nn.LayerNorm(cin, eps=1e-6)
        self.head = nn.Linear(cin, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        return self.head(self.norm(x.mean((2, 3))))


# --- PReLU / ELU / Mish classifier --------------------------------------------------------------


class ParamActClassifier(nn.Module):
    """A plain conv classifier using the parametric and smooth activations: conv + BN + PReLU
    (per channel), conv + ELU, avg pool, conv + instance norm + Mish, conv + leaky ReLU, global
    max pool, linear + PReLU (shared slope), linear, log_softmax (log-probabilities)."""

    def __init__(self, in_ch: int = 1, width: int = 8, classes: int = NUM_CLASSES) -> None:
        super().__init__()
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(in_ch, w, 3, padding=1, bias=False),
            nn.BatchNorm2d(w),
            nn.PReLU(w),
            nn.Conv2d(w, w, 3, padding=1),
            nn.ELU(alpha=1.0),
            nn.AvgPool2d(2),
            nn.Conv2d(w, 2 * w, 3, padding=1, padding_mode="reflect"),
            nn.InstanceNorm2d(2 * w, affine=True),
            nn.Mish(),
            nn.MaxPool2d(2),
            nn.Conv2d(2 * w, 4 * w, 3, padding=1, padding_mode="replicate"),
            nn.LeakyReLU(0.1),
            nn.AdaptiveMaxPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Sequential(nn.Linear(4 * w, 32), nn.PReLU(), nn.Linear(32, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(self.head(self.features(x)), dim=1)


# --- Inception-like (branches summed) -----------------------------------------------------------


class ConvBNReLU(nn.Sequential):
    def __init__(self, cin: int, cout: int, k: int | tuple[int, int], **kw: int) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, k, bias=False, **kw), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
        )


class InceptionSum(nn.Module):
    """Inception-v1 module's four branches (1x1; 1x1 -> 3x3; 1x1 -> 5x5 as two 3x3 as in v2;
    3x3/1 max pool -> 1x1) plus a factorised 1x7 -> 7x1 branch (v3), with equal widths and
    SUMMED instead of concatenated (the format has no concat)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        r = max(4, cout // 2)
        self.b1 = ConvBNReLU(cin, cout, 1)
        self.b2 = nn.Sequential(ConvBNReLU(cin, r, 1), ConvBNReLU(r, cout, 3, padding=1))
        self.b3 = nn.Sequential(
            ConvBNReLU(cin, r, 1), ConvBNReLU(r, r, 3, padding=1), ConvBNReLU(r, cout, 3, padding=1)
        )
        self.b4 = nn.Sequential(nn.MaxPool2d(3, 1, 1), ConvBNReLU(cin, cout, 1))
        self.b5 = nn.Sequential(
            ConvBNReLU(cin, r, 1),
            ConvBNReLU(r, r, (1, 7), padding=(0, 3)),
            ConvBNReLU(r, cout, (7, 1), padding=(3, 0)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b1(x) + self.b2(x) + self.b3(x) + self.b4(x) + self.b5(x)


class InceptionLike(nn.Module):
    """GoogLeNet-like: 7x7/2 stem, 3x3/2 max pool (ceil mode off), 1x1 + 3x3 convs, two
    inception modules, max pool, one more module, global average pool, dropout, linear."""

    def __init__(self, in_ch: int = 3, width: int = 8, classes: int = NUM_CLASSES) -> None:
        super().__init__()
        w = width
        self.stem = nn.Sequential(
            ConvBNReLU(in_ch, w, 7, stride=2, padding=3),
            nn.MaxPool2d(3, 2, 1),
            ConvBNReLU(w, w, 1),
            ConvBNReLU(w, 2 * w, 3, padding=1),
        )
        self.inc3a = InceptionSum(2 * w, 2 * w)
        self.inc3b = InceptionSum(2 * w, 4 * w)
        self.pool = nn.MaxPool2d(3, 2, 1)
        self.inc4a = InceptionSum(4 * w, 4 * w)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(0.4)
        self.fc = nn.Linear(4 * w, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inc3b(self.inc3a(self.stem(x)))
        x = self.inc4a(self.pool(x))
        return self.fc(self.drop(torch.flatten(self.gap(x), 1)))


# --- FPN-style top-down pyramid -----------------------------------------------------------------


class FPNLite(nn.Module):
    """A Feature Pyramid Network on a small backbone: three conv stages (strides 2, 2, 2),
    lateral 1x1 convs, a top-down path of nearest x2 upsampling added to each lateral, 3x3
    smoothing convs (padding='same'), then the finest level pooled (global average) into a
    linear head; hardtanh (clamp) and ReLU6 as the activations."""

    def __init__(self, in_ch: int = 1, width: int = 8, classes: int = NUM_CLASSES) -> None:
        super().__init__()
        w = width
        self.c2 = nn.Sequential(*_conv_bn(in_ch, w, 3, 2), nn.ReLU6())
        self.c3 = nn.Sequential(*_conv_bn(w, 2 * w, 3, 2), nn.ReLU6())
        self.c4 = nn.Sequential(*_conv_bn(2 * w, 4 * w, 3, 2), nn.ReLU6())
        self.lat2, self.lat3, self.lat4 = (nn.Conv2d(c, w, 1) for c in (w, 2 * w, 4 * w))
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.smooth3 = nn.Conv2d(w, w, 3, padding="same")
        self.smooth2 = nn.Conv2d(w, w, 3, padding="same")
        self.act = nn.Hardtanh(-2.0, 2.0)
        self.fc = nn.Linear(w, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c2 = self.c2(x)
        c3 = self.c3(c2)
        p4 = self.lat4(self.c4(c3))
        p3 = self.act(self.smooth3(self.lat3(c3) + self.up(p4)))
        p2 = self.act(self.smooth2(self.lat2(c2) + self.up(p3)))
        return self.fc(F.adaptive_avg_pool2d(p2, 1).flatten(1))


# --- realistic random weights -------------------------------------------------------------------


NORMS = (nn.BatchNorm2d, nn.BatchNorm1d, nn.GroupNorm, nn.LayerNorm, nn.InstanceNorm2d)


def realistic(model: nn.Module, shape: tuple[int, int, int], seed: int) -> nn.Module:
    """Random weights that keep activations in a trained network's range, then eval mode.

    Convs get He-normal weights (so depth neither explodes nor vanishes the signal), linears
    LeCun-normal ones (logits of order one), biases and
    norm/PReLU parameters moderate random values; batch norm running statistics are then
    *measured* on a batch of random inputs of the kinds the tests use (cumulative average in train mode), as a trained
    network's statistics would match its data: every BN normalises to roughly unit scale, and
    parity is compared on non-trivial, non-saturated activations."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                fan_in = m.weight[0].numel() if isinstance(m, nn.Conv2d) else m.weight.shape[0]
                std = math.sqrt(2.0 / fan_in)
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * std)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
            elif isinstance(m, nn.Linear):
                std = math.sqrt(1.0 / m.in_features)
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * std)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
            elif isinstance(m, NORMS):
                if getattr(m, "weight", None) is not None:
                    m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                    m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.2)
            elif isinstance(m, nn.PReLU):
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) * 0.35 + 0.05)
        bns = [m for m in model.modules() if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d))]
        if bns:
            for m in bns:
                m.reset_running_stats()
                m.momentum = None  # cumulative average over the calibration batch
            model.train()
            batch = torch.rand((16, *shape), generator=gen)  # images in [0, 1)
            batch[8:12] *= torch.rand((4, *shape), generator=gen) < 0.1  # sparse maps
            batch[12:] = torch.randn((4, *shape), generator=gen)  # and signed inputs
            model(batch)
            for m in bns:
                m.momentum = 0.1
    return model.eval()


class PRPSConv1dNet(nn.Module):
    """A PRPS (phase-resolved pulse sequence) classifier: C channels (pulse counts and amplitude
    statistics per phase bin) over L phase bins. The phase axis wraps at 360 degrees, so every
    padding on it is circular (F.pad and padding_mode='circular'); conv1d + BatchNorm1d, a
    depthwise-separable block with SiLU, a dilated conv, max and ceil-mode average pools, an
    adaptive average pool to 1 and a linear head."""

    def __init__(self, in_ch: int = 4, width: int = 16, classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv1d(in_ch, width, 7, bias=False), nn.BatchNorm1d(width), nn.ReLU()
        )
        self.block = nn.Sequential(
            nn.MaxPool1d(2),
            nn.Conv1d(width, width, 5, padding=2, padding_mode="circular", groups=width),
            nn.BatchNorm1d(width),
            nn.SiLU(),
            nn.Conv1d(width, 2 * width, 1, bias=False),
            nn.BatchNorm1d(2 * width),
            nn.SiLU(),
            nn.AvgPool1d(3, 2, ceil_mode=True),
            nn.Conv1d(2 * width, 2 * width, 3, padding=2, dilation=2, padding_mode="circular"),
            nn.ReLU(),
            nn.AdaptiveAvgPool1d(1),
            nn.Flatten(),
            nn.Dropout(0.2),
            nn.Linear(2 * width, classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(self.stem(F.pad(x, (3, 3), mode="circular")))


class StatsMLP(nn.Module):
    """An MLP on 32 statistical PD features per sample (pulse counts, mean and max amplitudes,
    skewness and kurtosis per half cycle, ...): standardisation with the training set's mean
    and std inside the model, two hidden layers with BatchNorm1d, ReLU/GELU and dropout."""

    def __init__(self, features: int = 32, hidden: int = 64, classes: int = NUM_CLASSES) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(32)
        self.register_buffer("mean", torch.rand(features, generator=gen) * 2)
        self.register_buffer("std", torch.rand(features, generator=gen) + 0.5)
        self.body = nn.Sequential(
            nn.Linear(features, hidden),
            nn.BatchNorm1d(hidden),
            nn.ReLU(),
            nn.Dropout(0.2),
            nn.Linear(hidden, hidden // 2),
            nn.BatchNorm1d(hidden // 2),
            nn.GELU(),
            nn.AlphaDropout(0.1),
            nn.Linear(hidden // 2, classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body((x - self.mean) / self.std)


class AuxHeadNet(nn.Module):
    """A PRPD classifier with an auxiliary head on its middle stage (GoogLeNet's deep
    supervision): forward returns (main logits, auxiliary logits), both exported."""

    def __init__(self, in_ch: int = 1, width: int = 8, classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.stem = nn.Sequential(*_conv_bn(in_ch, width, 3), nn.ReLU(), nn.MaxPool2d(2))
        self.mid = nn.Sequential(*_conv_bn(width, 2 * width, 3), nn.ReLU(), nn.MaxPool2d(2))
        self.aux = nn.Sequential(
            nn.AdaptiveAvgPool2d((2, 4)),
            nn.Conv2d(2 * width, width, 1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(8 * width, classes),
        )
        self.top = nn.Sequential(
            *_conv_bn(2 * width, 4 * width, 3, 2), nn.ReLU(), nn.AdaptiveAvgPool2d(1)
        )
        self.fc = nn.Linear(4 * width, classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m = self.mid(self.stem(x))
        return self.fc(torch.flatten(self.top(m), 1)), self.aux(m)


@dataclass(frozen=True)
class Arch:
    name: str
    build: Callable[[], nn.Module]  # a fresh module in eval mode, same weights every call
    shape: tuple[int, ...]
    fold_bn: bool  # what the fx export of the tests uses
    note: str


def _arch(
    name: str,
    make: Callable[[], nn.Module],
    shape: tuple[int, ...],
    fold_bn: bool,
    note: str,
    seed: int,
) -> Arch:
    def build() -> nn.Module:
        torch.manual_seed(seed)
        return realistic(make(), shape, seed)

    return Arch(name, build, shape, fold_bn, note)


PRPD = (1, 60, 120)

ARCHITECTURES: list[Arch] = [
    _arch(
        "resnet18",
        lambda: ResNet18(1, width=16),
        PRPD,
        True,
        "basic blocks, identity and 1x1/2 downsample shortcuts, adaptive avg pool",
        1,
    ),
    _arch(
        "mobilenetv3_small",
        lambda: MobileNetV3Small(1, width=1.0),
        PRPD,
        True,
        "hardswish, depthwise, SE (hardsigmoid gate)",
        2,
    ),
    _arch(
        "efficientnet_b0",
        lambda: EfficientNetB0(3, width=0.25, depth=0.5),
        (3, 64, 64),
        False,
        "MBConv, SiLU, depthwise 3x3/5x5, SE (sigmoid gate)",
        3,
    ),
    _arch(
        "unet_noskip",
        lambda: UNetNoSkip(1, width=8),
        (1, 32, 48),
        True,
        "encoder-decoder, bilinear upsample and conv_transpose2d",
        4,
    ),
    _arch(
        "prpd_phase_circular",
        lambda: PhaseCircularCNN(width=8),
        PRPD,
        False,
        "input standardisation (sub, div), circular pad on the phase axis, circular conv, "
        "adaptive avg pool to (1, 6), BatchNorm1d head",
        5,
    ),
    _arch(
        "convnext_tiny",
        lambda: ConvNeXtTiny(3, (32, 32), width=8),
        (3, 32, 32),
        False,
        "patchify stem, LayerNorm, GroupNorm(1, C), 7x7 depthwise, GELU (exact and tanh)",
        6,
    ),
    _arch(
        "param_act_classifier",
        lambda: ParamActClassifier(1, width=8),
        (1, 28, 36),
        False,
        "PReLU, ELU, Mish, instance norm, reflect/replicate padding, log_softmax",
        7,
    ),
    _arch(
        "inception_sum",
        lambda: InceptionLike(3, width=8),
        (3, 40, 40),
        True,
        "parallel 1x1/3x3/5x5/pool/1x7-7x1 branches summed",
        8,
    ),
    _arch(
        "fpn_lite",
        lambda: FPNLite(1, width=8),
        (1, 32, 64),
        True,
        "top-down pyramid: lateral 1x1, nearest x2 upsample + add, padding='same', clamp",
        9,
    ),
    _arch(
        "unet_skip",
        lambda: UNet(1, width=8),
        (1, 32, 64),
        True,
        "encoder-decoder with skip concatenations (torch.cat on channels)",
        10,
    ),
    _arch(
        "two_branch_concat",
        lambda: TwoBranchConcat(1, width=8),
        (1, 32, 64),
        True,
        "3x3 and 1x1 -> 5x5 branches concatenated with the stem (three-way cat), 1x1 fusion",
        11,
    ),
    _arch(
        "prps_conv1d",
        lambda: PRPSConv1dNet(4, width=16),
        (4, 120),
        True,
        "(C, L) PRPS sequences: circular F.pad and circular convs on the phase axis, conv1d + "
        "BatchNorm1d, depthwise-separable SiLU block, dilation, max and ceil-mode avg pools",
        14,
    ),
    _arch(
        "stats_mlp",
        lambda: StatsMLP(32),
        (32,),
        True,
        "(32,) feature vectors: input standardisation, linear + BatchNorm1d, GELU, dropouts",
        12,
    ),
    _arch(
        "aux_head",
        lambda: AuxHeadNet(1, width=8),
        (1, 32, 64),
        True,
        "two outputs: main logits and an auxiliary head on the middle stage",
        13,
    ),
]

ARCH_BY_NAME = {a.name: a for a in ARCHITECTURES}
