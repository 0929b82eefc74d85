"""THE shared corpus of small test modules, run through every backend (torch, NumPy reference,
Java) with the same helper (tests/helpers.py).

``CORPUS`` is a list of ``(name, factory, (C, H, W))``. Each factory builds a fresh module with
deterministic weights (it seeds torch itself) and, where it has batch norm, randomised running
statistics so that BN is not the identity. Every module maps (N, C, H, W) to (N, K): the manifest
format describes a 1-D per-sample output.

Covered: conv sweeps (channels x groups x kernel x stride x padding x dilation x odd/even sizes,
with and without bias), batch norm with and without affine, every activation and pool, every
functional form the fx front end accepts, residual blocks, a module called twice, dropout and
identity (removed at export), and both zoo models (pd2java.training.models when present, else a local copy
built exactly as docs/PRPD.md section 4).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from pd2java.training.models import PDLightModel, PDModel

Shape = tuple[int, int, int]


def randomize_bn(module: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm2d non-trivial running stats and affine params (deterministic)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(torch.randn(c, generator=gen) * 0.5)
                m.running_var.copy_(torch.rand(c, generator=gen) * 1.5 + 0.25)
                if m.affine:
                    m.weight.copy_(torch.rand(c, generator=gen) * 1.5 + 0.25)
                    m.bias.copy_(torch.randn(c, generator=gen) * 0.3)
    return module


def _seeded(factory: Callable[[], nn.Module], seed: int = 0) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        torch.manual_seed(seed)
        return randomize_bn(factory(), seed).eval()

    return build


# --- conv sweep -------------------------------------------------------------------------------


def _conv_case(
    cin: int,
    cout: int,
    k: int | tuple[int, int],
    s: int,
    p: int | tuple[int, int],
    d: int,
    g: int,
    bias: bool,
) -> Callable[[], nn.Module]:
    return lambda: nn.Sequential(
        nn.Conv2d(cin, cout, k, stride=s, padding=p, dilation=d, groups=g, bias=bias),
        nn.Flatten(),
    )


# (cin, cout, kernel, stride, padding, dilation, groups, bias, input (C, H, W))
_CONV_SWEEP = [
    (1, 4, 3, 1, 1, 1, 1, True, (1, 8, 10)),
    (3, 5, 3, 2, 1, 1, 1, True, (3, 9, 11)),
    (3, 6, 3, 2, 0, 1, 3, False, (3, 10, 8)),
    (4, 4, 3, 1, 1, 1, 4, False, (4, 7, 9)),  # depthwise
    (4, 8, 3, 2, 1, 1, 4, True, (4, 9, 9)),  # depthwise with multiplier 2
    (2, 3, 5, 1, 2, 1, 1, True, (2, 11, 12)),
    (2, 4, 3, 1, 2, 2, 2, True, (2, 9, 10)),  # dilation
    (3, 3, (1, 3), 1, (0, 1), 1, 1, True, (3, 6, 7)),  # non-square kernel
    (2, 2, 1, 3, 0, 1, 1, False, (2, 10, 11)),  # 1x1 strided
    (6, 4, 2, 2, 0, 1, 2, True, (6, 8, 8)),  # even kernel, grouped
]


def _conv_name(row: tuple) -> str:
    cin, cout, k, s, p, d, g, bias, shape = row
    ks = f"{k[0]}x{k[1]}" if isinstance(k, tuple) else f"{k}"
    ps = f"{p[0]}x{p[1]}" if isinstance(p, tuple) else f"{p}"
    return (
        f"conv_c{cin}to{cout}_k{ks}_s{s}_p{ps}_d{d}_g{g}_{'b' if bias else 'nob'}"
        f"_{shape[1]}x{shape[2]}"
    )


# --- small blocks ------------------------------------------------------------------------------


class ResidualBlock(nn.Module):
    """conv-bn-relu-conv-bn + identity, then relu (a + b)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(x + y)


class ResidualNet(nn.Module):
    """Stem, two nested residual blocks (torch.add form in the second), pool, linear, softmax."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(2, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU())
        self.blocks = nn.Sequential(ResidualBlock(6), nn.Sequential(ResidualBlock(6)))
        self.proj = nn.Conv2d(6, 6, 1)
        self.fc = nn.Linear(6, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = torch.add(self.blocks(x), self.proj(x))
        x = F.adaptive_avg_pool2d(x, 1)
        return F.softmax(self.fc(torch.flatten(x, 1)), dim=1)


class Functional(nn.Module):
    """Every functional form the fx front end accepts, one after the other."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 3 * 3, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        a = F.relu(x)
        b = F.relu6(x)
        x = torch.add(a, b)
        x = F.leaky_relu(x, 0.3)
        x = torch.clamp(self.conv2(x), 0, 6)
        x = F.max_pool2d(x, 2)
        x = F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
        x = torch.sigmoid(x) + x
        x = x.view(x.size(0), -1)
        return torch.sigmoid(self.fc(x))


class MeanForms(nn.Module):
    """x.mean((2, 3)) and x.mean(3).mean(2) and the keepdim variant, summed."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 5, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.conv(x))
        a = x.mean((2, 3))
        b = x.mean(3).mean(2)
        c = torch.flatten(x.mean(dim=(-2, -1), keepdim=True), 1)
        return F.softmax(a + b + c, dim=-1)


class CalledTwice(nn.Module):
    """The same conv applied twice: its weights must be stored once."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.act = nn.Hardtanh(0, 6)
        self.drop = nn.Dropout(0.5)
        self.id = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.conv(x))
        x = self.drop(self.id(self.conv(x)))
        return torch.flatten(x, 1)


class ViewForms(nn.Module):
    """Reshape and clamp spellings: x.reshape(x.shape[0], -1), x.flatten(1), F.hardtanh(x, 0, 6),
    torch.clamp(x, min=0), x.relu(), x.softmax(-1), a forward flag."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1)
        self.conv2 = nn.Conv2d(3, 3, 5, padding=2, bias=False)
        self.fc = nn.Linear(3 * 4 * 5, 4)

    def forward(self, x: torch.Tensor, logits: bool = False) -> torch.Tensor:
        x = F.hardtanh(self.conv(x), 0.0, 6.0)
        y = torch.clamp(self.conv2(x), min=0) + x.relu()
        a = y.reshape(y.shape[0], -1)
        b = y.flatten(1)
        z = self.fc(a + b)
        return z if logits else z.softmax(-1)


def _pools() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(2, 3, 3),
        nn.MaxPool2d(3, stride=2, padding=1),
        nn.AvgPool2d(2, stride=1, padding=1, count_include_pad=True),
        nn.MaxPool2d((2, 3), stride=(1, 2), dilation=(2, 1)),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )


def _activations() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, bias=False),
        nn.BatchNorm2d(4),
        nn.LeakyReLU(0.2),
        nn.Conv2d(4, 4, 1),
        nn.BatchNorm2d(4, affine=False),
        nn.ReLU6(),
        nn.Conv2d(4, 4, 1),
        nn.Sigmoid(),
        nn.Flatten(),
        nn.Linear(4 * 5 * 6, 3, bias=False),
        nn.LeakyReLU(),
        nn.Linear(3, 3),
        nn.Softmax(dim=1),
    )


# --- sequence models ---------------------------------------------------------------------------


def prps_seq() -> nn.Module:
    """A small phase-resolved pulse sequence (PRPS) classifier on (N, 2, L=40) sequences:
    conv1d (plain, depthwise, strided and dilated),
    batch_norm1d, max_pool1d with a ceil_mode window, avg_pool1d, an adaptive max pool to 1.
    Zero padding only and a ceil_mode that adds a window, so its ONNX form reads back the same."""
    body = nn.Sequential(
        nn.Conv1d(2, 6, 5, padding=2),
        nn.BatchNorm1d(6),
        nn.ReLU(),
        nn.MaxPool1d(3, 2, 1, ceil_mode=True),
        nn.Conv1d(6, 6, 3, padding=1, groups=6),
        nn.AvgPool1d(2, count_include_pad=False),
        nn.Conv1d(6, 8, 3, stride=2, dilation=2),
        nn.AdaptiveMaxPool1d(1),
    )
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        body[1].running_mean.copy_(torch.randn(6, generator=gen) * 0.5)
        body[1].running_var.copy_(torch.rand(6, generator=gen) + 0.5)
    return nn.Sequential(body, nn.Flatten(1), nn.Linear(8, 4))


# --- zoo models ------------------------------------------------------------------------------


ZOO_CLASSES = ["corona", "surface", "void", "floating", "particle", "noise"]


def zoo_lenet() -> nn.Module:
    """PDModel with 6 classes."""
    return PDModel(list(ZOO_CLASSES))


def zoo_light() -> nn.Module:
    """PDLightModel with 6 classes."""
    return PDLightModel(list(ZOO_CLASSES))


CORPUS: list[tuple[str, Callable[[], nn.Module], Shape]] = [
    *[
        (_conv_name(row), _seeded(_conv_case(*row[:8]), i), row[8])
        for i, row in enumerate(_CONV_SWEEP)
    ],
    ("activations_bn", _seeded(_activations, 11), (1, 5, 6)),
    ("pools", _seeded(_pools, 12), (2, 11, 13)),
    ("residual_net", _seeded(ResidualNet, 13), (2, 6, 7)),
    ("functional_forms", _seeded(Functional, 14), (2, 6, 7)),
    ("mean_forms", _seeded(MeanForms, 15), (3, 5, 4)),
    ("called_twice", _seeded(CalledTwice, 16), (3, 4, 5)),
    ("view_forms", _seeded(ViewForms, 19), (2, 4, 5)),
    ("prps_seq", _seeded(prps_seq, 20), (2, 40)),
    ("zoo_lenet", _seeded(zoo_lenet, 17), (1, 60, 120)),
    ("zoo_light", _seeded(zoo_light, 18), (1, 60, 120)),
]

CORPUS_BY_NAME: dict[str, tuple[Callable[[], nn.Module], Shape]] = {
    name: (factory, shape) for name, factory, shape in CORPUS
}
