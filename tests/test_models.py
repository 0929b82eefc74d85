"""The model zoo: exact sizes and shapes of docs/PRPD.md section 4, heads, fx tracing, the registry."""

from __future__ import annotations

import pytest
import torch
import torch.fx
from torch import nn

from pd2java.errors import UserError
from pd2java.training.models import (
    ARCHS,
    PDLightModel,
    PDModel,
    build_model,
    canonical_arch,
    count_buffers,
    count_parameters,
)

SIX = ["corona", "surface", "void", "floating", "particle", "noise"]


def test_exact_parameter_counts_with_six_classes() -> None:
    assert count_parameters(PDModel(SIX)) == 734_246
    assert count_parameters(PDLightModel(SIX)) == 202_950


def test_light_model_buffer_values() -> None:
    light = PDLightModel(SIX)
    # docs/PRPD.md's 8,284 = running_mean + running_var (8,256) + one counter per BN layer (28).
    assert count_buffers(light) == 8_284
    assert count_buffers(light, statistics_only=True) == 8_256
    assert count_buffers(PDModel(SIX)) == 0


def test_parameter_count_follows_the_number_of_classes() -> None:
    # Only the last linear layer depends on the classes: 33 values per class for lenet (32 + 1),
    # 257 for light (256 + 1).
    assert count_parameters(PDModel(SIX + ["x"])) - count_parameters(PDModel(SIX)) == 33
    assert count_parameters(PDLightModel(SIX + ["x"])) - count_parameters(PDLightModel(SIX)) == 257


def _stage_shapes(model: nn.Module, modules: list[nn.Module], x: torch.Tensor) -> list[tuple]:
    shapes: list[tuple] = []
    hooks = [
        m.register_forward_hook(lambda _m, _i, o: shapes.append(tuple(o.shape[1:])))
        for m in modules
    ]
    try:
        with torch.no_grad():
            model.eval()(x)
    finally:
        for h in hooks:
            h.remove()
    return shapes


def test_light_feature_map_shapes() -> None:
    model = PDLightModel(SIX)
    stages = [model.stem, model.blocks[2], model.blocks[5], model.blocks[8], model.last]
    shapes = _stage_shapes(model, stages, torch.rand(2, 1, 60, 120))
    assert shapes == [(32, 30, 60), (24, 15, 30), (32, 8, 15), (64, 4, 8), (256, 4, 8)]


def test_lenet_feature_map_shapes() -> None:
    model = PDModel(SIX)
    pools = [m for m in model.features if isinstance(m, nn.MaxPool2d)]
    shapes = _stage_shapes(model, pools, torch.rand(2, 1, 60, 120))
    assert shapes == [(32, 30, 60), (64, 15, 30), (128, 7, 15), (256, 3, 7)]
    assert model.classifier[0].in_features == 256 * 3 * 7


def test_light_blocks_add_the_input_back_only_when_shapes_match() -> None:
    model = PDLightModel(SIX)
    residual = [block.use_residual for block in model.blocks]
    assert residual == [False, False, True, False, True, True, False, True, True]
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert all(c.bias is None for c in convs)
    depthwise = [c for c in convs if c.groups > 1]
    assert len(depthwise) == 9 and all(c.groups == c.in_channels for c in depthwise)
    slopes = {m.negative_slope for m in model.modules() if isinstance(m, nn.LeakyReLU)}
    assert slopes == {0.2}


@pytest.mark.parametrize("cls", [PDModel, PDLightModel])
def test_forward_is_head_of_logits(cls: type[nn.Module]) -> None:
    torch.manual_seed(0)
    model = cls(SIX).eval()
    x = torch.rand(3, 1, 60, 120)
    with torch.no_grad():
        logits = model.forward_logits(x)
        probs = model(x)
    assert logits.shape == probs.shape == (3, 6)
    torch.testing.assert_close(probs, torch.softmax(logits, dim=1))
    torch.testing.assert_close(probs.sum(1), torch.ones(3))
    sig = cls(SIX, head="sigmoid").eval()
    sig.load_state_dict(model.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(sig(x), torch.sigmoid(logits))


@pytest.mark.parametrize("cls", [PDModel, PDLightModel])
def test_models_trace_with_fx_including_the_head(cls: type[nn.Module]) -> None:
    torch.manual_seed(1)
    model = cls(SIX).eval()
    graph = torch.fx.symbolic_trace(model)
    targets = {n.target for n in graph.graph.nodes if n.op == "call_module"}
    assert "head" in targets  # the probability head is part of what gets exported
    x = torch.rand(2, 1, 60, 120)
    with torch.no_grad():
        torch.testing.assert_close(graph(x), model(x), rtol=0, atol=0)


def test_registry_and_aliases() -> None:
    assert ARCHS["lenet"] is PDModel and ARCHS["light"] is PDLightModel
    assert canonical_arch("PDModel") == "lenet"
    assert canonical_arch("PDLightModel") == "light"
    model = build_model("PDLightModel", SIX, head="sigmoid")
    assert isinstance(model, PDLightModel) and model.config() == {"head": "sigmoid"}
    rebuilt = build_model(model.arch, model.classes, **model.config())
    assert rebuilt.config() == model.config() and rebuilt.classes == SIX
    assert build_model("lenet", SIX, dropout=0.3).config() == {"head": "softmax", "dropout": 0.3}


def test_bad_model_arguments_are_user_errors() -> None:
    with pytest.raises(UserError, match="unknown architecture 'resnet'.*lenet, light"):
        build_model("resnet", SIX)
    with pytest.raises(UserError, match="unknown config key.*width.*accepted: head"):
        build_model("light", SIX, width=2)
    with pytest.raises(UserError, match="unknown probability head 'relu'"):
        PDModel(SIX, head="relu")
    with pytest.raises(UserError, match="at least 2 classes"):
        PDLightModel(["only"])
    with pytest.raises(UserError, match="unique"):
        PDLightModel(["a", "a"])
    with pytest.raises(UserError, match="list of class names"):
        PDModel("abc")
