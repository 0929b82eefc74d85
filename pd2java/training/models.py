"""The PD model zoo: the two seed architectures of docs/PRPD.md section 4, and a registry by name.

Both models take a batch of PRPD images ``(N, 1, 60, 120)`` and have two entry points:

- ``forward_logits(x)``: raw class scores. Train on these with ``nn.CrossEntropyLoss`` (the seed's
  light model put a softmax in front of its loss, which flattens the gradients; we do not).
- ``forward(x)``: class probabilities, ``head(forward_logits(x))``. The head is a submodule
  (``nn.Softmax(dim=1)`` by default, or ``nn.Sigmoid()`` as in the seed baseline, for fidelity) so
  that ``torch.fx`` traces it and the exported model outputs probabilities, not logits.

Only plain, exportable building blocks are used (Conv2d, BatchNorm2d, ReLU, LeakyReLU(0.2),
MaxPool2d(2), Linear, Dropout, AdaptiveAvgPool2d(1), flatten, residual ``+``), and ``forward`` has
no data-dependent Python control flow, so both models trace with ``torch.fx``.

A checkpoint names its architecture (``"lenet"`` or ``"light"``, or the aliases ``"PDModel"`` /
``"PDLightModel"``), its classes and its config (``model.config()``);
``build_model(arch, classes, **config)`` rebuilds it.

Compressed variants (``pd2java compress``, docs/COMPRESSION.md) are the same classes with optional
width and factorisation arguments: ``conv_widths`` (PDModel's four conv widths), ``hidden_widths``
(PDLightModel's nine inverted-residual expansion widths) and ``low_rank`` (linear layer path ->
rank, each such layer built as two linears, in -> rank without bias then rank -> out). Their
defaults give the seed architectures, and ``config()`` lists them only when they differ, so a
checkpoint written before they existed loads unchanged.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from pd2java.errors import UserError

#: Input shape (C, H, W) of every zoo model: one channel, 60 amplitude bins x 120 phase bins.
INPUT_SHAPE: tuple[int, int, int] = (1, 60, 120)

#: PDModel's conv widths, and the positions (3 x 7) of each channel of its last feature map.
LENET_WIDTHS: tuple[int, ...] = (32, 64, 128, 256)
LENET_POSITIONS = 3 * 7

HEADS = ("softmax", "sigmoid")

# (input channels, output channels, stride, expansion) of PDLightModel's inverted residual blocks,
# exactly as docs/PRPD.md section 4 lists them.
LIGHT_BLOCKS: tuple[tuple[int, int, int, int], ...] = (
    (32, 16, 1, 1),
    (16, 24, 2, 6),
    (24, 24, 1, 6),
    (24, 32, 2, 6),
    (32, 32, 1, 6),
    (32, 32, 1, 6),
    (32, 64, 2, 6),
    (64, 64, 1, 6),
    (64, 64, 1, 6),
)

#: PDLightModel's expansion widths, one per block (input channels x expansion).
LIGHT_HIDDEN: tuple[int, ...] = tuple(cin * e for cin, _cout, _stride, e in LIGHT_BLOCKS)


def _check_classes(classes: Sequence[str]) -> list[str]:
    if isinstance(classes, str):
        raise UserError(f"classes must be a list of class names, got the string {classes!r}")
    names = [str(c) for c in classes]
    if len(names) < 2:
        raise UserError(f"a classifier needs at least 2 classes, got {names!r}")
    if len(set(names)) != len(names):
        raise UserError(f"class names must be unique, got {names!r}")
    return names


def _check_widths(
    widths: Sequence[int] | None, default: Sequence[int], what: str
) -> tuple[int, ...]:
    """``widths`` (or ``default`` for None) as a tuple of positive ints of ``default``'s length."""
    if widths is None:
        return tuple(default)
    if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence):
        raise UserError(f"{what} must be a list of {len(default)} channel counts, got {widths!r}")
    values = list(widths)
    if len(values) != len(default) or not all(
        isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in values
    ):
        raise UserError(
            f"{what} must be a list of {len(default)} channel counts >= 1, got {values!r}"
        )
    return tuple(values)


def factorized_linear(in_features: int, out_features: int, rank: int, bias: bool) -> nn.Sequential:
    """A linear layer of rank ``rank`` as two: ``in -> rank`` without bias, then ``rank -> out``
    (with the original layer's bias). Plain ``nn.Sequential`` of ``nn.Linear``: fx sees two
    linear calls, so an export holds two linear nodes."""
    return nn.Sequential(
        nn.Linear(in_features, rank, bias=False), nn.Linear(rank, out_features, bias=bias)
    )


def linear_layer_names(model: nn.Module) -> list[str]:
    """Paths of ``model``'s ``nn.Linear`` layers, in definition order."""
    return [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]


def _apply_low_rank(model: nn.Module, low_rank: Any) -> dict[str, int]:
    """Replace each linear layer named in ``low_rank`` (path -> rank) by ``factorized_linear``;
    return the checked mapping. Unknown paths, non-linear targets and ranks outside
    [1, min(in, out)] are refused, naming the model's linear layers."""
    if low_rank is None:
        return {}
    if not isinstance(low_rank, Mapping):
        raise UserError(f"low_rank must map linear layer names to ranks, got {low_rank!r}")
    checked: dict[str, int] = {}
    layers = linear_layer_names(model)
    for name in sorted(low_rank):
        rank = low_rank[name]
        target = dict(model.named_modules()).get(name) if isinstance(name, str) else None
        if not isinstance(target, nn.Linear):
            raise UserError(
                f"low_rank names {name!r}, which is not a linear layer of "
                f"{type(model).__name__}; its linear layers: {', '.join(layers)}"
            )
        limit = min(target.in_features, target.out_features)
        if not isinstance(rank, int) or isinstance(rank, bool) or not 1 <= rank <= limit:
            raise UserError(
                f"low_rank rank of {name} ({target.in_features} -> {target.out_features}) must "
                f"be an integer in [1, {limit}], got {rank!r}"
            )
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        setattr(
            parent,
            child,
            factorized_linear(
                target.in_features, target.out_features, rank, target.bias is not None
            ),
        )
        checked[name] = rank
    return checked


def _make_head(head: str) -> nn.Module:
    if head == "softmax":
        return nn.Softmax(dim=1)
    if head == "sigmoid":
        return nn.Sigmoid()
    raise UserError(f"unknown probability head {head!r}; choose one of {', '.join(HEADS)}")


class PDModel(nn.Module):
    """The seed baseline, LeNet-5 style (docs/PRPD.md section 4).

    4 x [conv 3x3 pad 1 -> ReLU -> maxpool 2] with 32, 64, 128, 256 channels
    (60x120 -> 30x60 -> 15x30 -> 7x15 -> 3x7), flatten 5376, linear 5376->64, ReLU,
    linear 64->32, dropout, ReLU, linear 32->classes, then the probability head.
    With 6 classes: 734,246 trainable parameters.

    ``conv_widths`` (default ``LENET_WIDTHS``) sets the four conv widths (the flatten width is
    the last one x 21) and ``low_rank`` factorises linear layers (see the module docstring).
    """

    arch = "lenet"

    def __init__(
        self,
        classes: Sequence[str],
        head: str = "softmax",
        dropout: float = 0.5,
        conv_widths: Sequence[int] | None = None,
        low_rank: Mapping[str, int] | None = None,
    ):
        super().__init__()
        self.classes = _check_classes(classes)
        if not 0.0 <= float(dropout) < 1.0:
            raise UserError(f"dropout must be in [0, 1), got {dropout}")
        self.head_name = head
        self.dropout_p = float(dropout)
        self.conv_widths = _check_widths(conv_widths, LENET_WIDTHS, "conv_widths")
        layers: list[nn.Module] = []
        channels = 1
        for out in self.conv_widths:
            layers += [nn.Conv2d(channels, out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            channels = out
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Linear(channels * LENET_POSITIONS, 64),
            nn.ReLU(),
            nn.Linear(64, 32),
            nn.Dropout(self.dropout_p),
            nn.ReLU(),
            nn.Linear(32, len(self.classes)),
        )
        self.head = _make_head(head)
        self.low_rank = _apply_low_rank(self, low_rank)

    def config(self) -> dict[str, Any]:
        """With ``classes``, everything ``build_model("lenet", classes, **config)`` needs."""
        config: dict[str, Any] = {"head": self.head_name, "dropout": self.dropout_p}
        if self.conv_widths != LENET_WIDTHS:
            config["conv_widths"] = list(self.conv_widths)
        if self.low_rank:
            config["low_rank"] = dict(self.low_rank)
        return config

    def forward_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores before the head; train with cross-entropy on these."""
        return self.classifier(torch.flatten(self.features(x), 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities (what the exported model outputs)."""
        return self.head(self.forward_logits(x))


def _conv_bn_act(cin: int, cout: int, kernel: int, stride: int, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.LeakyReLU(0.2),
    )


class InvertedResidual(nn.Module):
    """MobileNetV2 block: [1x1 expand, BN, LeakyReLU] -> depthwise 3x3, BN, LeakyReLU -> 1x1
    project, BN (linear bottleneck, no activation); input added back when the shapes allow.

    ``hidden`` (default ``cin * expansion``) is the expansion width; a block without expansion
    (``expansion == 1``) has no expand conv, so its depthwise width is ``cin``."""

    def __init__(self, cin: int, cout: int, stride: int, expansion: int, hidden: int | None = None):
        super().__init__()
        hidden = cin * expansion if hidden is None else hidden
        if expansion == 1 and hidden != cin:
            raise UserError(
                f"an inverted residual block without expansion has width {cin}, got {hidden}"
            )
        layers: list[nn.Module] = []
        if expansion > 1:
            layers.append(_conv_bn_act(cin, hidden, 1, 1))
        layers.append(_conv_bn_act(hidden, hidden, 3, stride, groups=hidden))
        layers += [nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)
        # Decided at construction, so fx sees a fixed graph (no data-dependent branch).
        self.use_residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_residual:
            return x + self.conv(x)
        return self.conv(x)


class PDLightModel(nn.Module):
    """The seed light model, MobileNetV2 style (docs/PRPD.md section 4).

    Stem conv 3x3 stride 2 (1->32, BN, LeakyReLU 0.2), nine inverted residual blocks
    (``LIGHT_BLOCKS``), conv 1x1 64->256 + BN + LeakyReLU, global average pool, linear
    256->classes, then the probability head. All convs bias-free. With 6 classes: 202,950
    trainable parameters plus 8,284 BN buffer values
    (8,256 running statistics and 28 step counters). Feature maps: 32x30x60 after the stem,
    24x15x30, 32x8x15, 64x4x8, 256x4x8 before the pool.

    ``hidden_widths`` (default ``LIGHT_HIDDEN``) sets the nine blocks' expansion widths (the first
    block has no expansion: its entry stays 32) and ``low_rank`` factorises linear layers (see the
    module docstring).
    """

    arch = "light"

    def __init__(
        self,
        classes: Sequence[str],
        head: str = "softmax",
        hidden_widths: Sequence[int] | None = None,
        low_rank: Mapping[str, int] | None = None,
    ):
        super().__init__()
        self.classes = _check_classes(classes)
        self.head_name = head
        self.hidden_widths = _check_widths(hidden_widths, LIGHT_HIDDEN, "hidden_widths")
        self.stem = _conv_bn_act(1, 32, 3, 2)
        self.blocks = nn.Sequential(
            *(
                InvertedResidual(*spec, hidden=width)
                for spec, width in zip(LIGHT_BLOCKS, self.hidden_widths)
            )
        )
        self.last = _conv_bn_act(64, 256, 1, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(256, len(self.classes))
        self.head = _make_head(head)
        self.low_rank = _apply_low_rank(self, low_rank)

    def config(self) -> dict[str, Any]:
        """With ``classes``, everything ``build_model("light", classes, **config)`` needs."""
        config: dict[str, Any] = {"head": self.head_name}
        if self.hidden_widths != LIGHT_HIDDEN:
            config["hidden_widths"] = list(self.hidden_widths)
        if self.low_rank:
            config["low_rank"] = dict(self.low_rank)
        return config

    def forward_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores before the head; train with cross-entropy on these."""
        x = self.last(self.blocks(self.stem(x)))
        return self.classifier(torch.flatten(self.pool(x), 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities (what the exported model outputs)."""
        return self.head(self.forward_logits(x))


#: Architecture name -> constructor. Checkpoints store the canonical name.
ARCHS: dict[str, Callable[..., nn.Module]] = {"lenet": PDModel, "light": PDLightModel}
_ALIASES = {"PDModel": "lenet", "PDLightModel": "light"}


def canonical_arch(arch: str) -> str:
    """``"lenet"``/``"light"`` for any accepted spelling; a clear error for anything else."""
    if arch in ARCHS:
        return arch
    if arch in _ALIASES:
        return _ALIASES[arch]
    known = ", ".join([*ARCHS, *_ALIASES])
    raise UserError(f"unknown architecture {arch!r}; known: {known}")


def build_model(arch: str, classes: Sequence[str], **config: Any) -> nn.Module:
    """Build a fresh (randomly initialised) zoo model from its name and config."""
    name = canonical_arch(arch)
    ctor = ARCHS[name]
    # Check the keys here rather than catching TypeError, which would also hide real bugs.
    accepted = [p for p in inspect.signature(ctor).parameters if p != "classes"]
    unknown = sorted(set(config) - set(accepted))
    if unknown:
        raise UserError(
            f"unknown config key(s) {', '.join(unknown)} for architecture {name!r}; "
            f"accepted: {', '.join(accepted)}"
        )
    return ctor(classes, **config)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameter values."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_buffers(model: nn.Module, *, statistics_only: bool = False) -> int:
    """Number of buffer values: BN running_mean/var plus one ``num_batches_tracked`` counter per
    BN layer (docs/PRPD.md's 8,284 for PDLightModel with 6 classes counts both: 8,256 + 28).
    ``statistics_only`` leaves the counters out (they are not exported)."""
    return sum(
        b.numel()
        for name, b in model.named_buffers()
        if not (statistics_only and name.endswith("num_batches_tracked"))
    )
