"""``pd2java compress``: low-rank factorisation, structured pruning and distillation, each alone
and combined, on tiny synthetic data and one epoch. What is checked: the maths of each step, that
the compressed checkpoint reloads (weights only) into the very same net and exports with Java
parity, what the recipe records, and that every bad input is refused before any work, leaving no
file behind."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from corpus import randomize_bn
from helpers import assert_backends_match, assert_close, torch_forward
from torch import nn

from pd2java.cli import main
from pd2java.errors import UserError
from pd2java.training import checkpoint as checkpoint_module
from pd2java.training.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from pd2java.training.compress import (
    LOW_RANK_MIN_WEIGHTS,
    compress,
    distillation_loss,
    factorize,
    linear_layers,
    parse_low_rank,
    prune_channels,
)
from pd2java.training.data import PRODUCTS, Dataset, synthesize
from pd2java.training.models import (
    LIGHT_HIDDEN,
    PDLightModel,
    PDModel,
    build_model,
    count_parameters,
)

GIS = list(PRODUCTS["gis"])
DATA = "synth:gis?per_class=2&seed=5"
MISSING_DATA = "/nonexistent/compress-data"  # any step error must come before this is read


def _lenet(seed: int = 1) -> PDModel:
    torch.manual_seed(seed)
    return PDModel(GIS).eval()


def _light(seed: int = 2) -> PDLightModel:
    torch.manual_seed(seed)
    return randomize_bn(PDLightModel(GIS), seed=seed).eval()


@pytest.fixture(scope="module")
def tiny() -> Dataset:
    return synthesize("gis", per_class=2, seed=5)


@pytest.fixture(scope="module")
def images(tiny: Dataset) -> torch.Tensor:
    noise = torch.rand(2, 1, 60, 120, generator=torch.Generator().manual_seed(9))
    return torch.cat([torch.from_numpy(tiny.images[:4]).unsqueeze(1), noise])


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("compress-src")
    paths = {}
    for name, model in (("lenet", _lenet()), ("light", _light())):
        paths[name] = save_checkpoint(Checkpoint.from_model(model), folder / f"{name}.pt")
    return paths


def _assert_reloads_identically(path: Path, model: nn.Module, x: torch.Tensor) -> Checkpoint:
    """The file loads with weights_only=True and rebuilds exactly ``model``: same config, same
    tensors, the same outputs bit for bit."""
    raw = torch.load(path, weights_only=True)
    assert raw["config"] == model.config()
    ckpt = load_checkpoint(path)
    rebuilt = ckpt.build_model()
    assert rebuilt.config() == model.config()
    state = model.state_dict()
    assert rebuilt.state_dict().keys() == state.keys()
    for key, value in rebuilt.state_dict().items():
        assert torch.equal(value, state[key]), key
    with torch.no_grad():
        assert torch.equal(rebuilt(x), model.eval()(x))
    return ckpt


def _linear_ops(manifest: Path) -> int:
    from pd2java.backends import reference

    return sum(n.op == "linear" for n in reference.load(manifest).graph.nodes)


def _export_and_check_java(path: Path, model: nn.Module, x: torch.Tensor, out: Path) -> Path:
    assert main(["export", str(path), "-o", str(out), "--no-onnx", "--no-java"]) == 0
    manifest = out / f"{path.stem}.manifest.json"
    assert_backends_match(manifest, x, torch_forward(model.eval(), x), path.stem)
    return manifest


# --- low-rank ---------------------------------------------------------------------------------


def test_parse_low_rank_tells_ranks_from_energies() -> None:
    assert parse_low_rank("8") == 8 and isinstance(parse_low_rank("8"), int)
    assert parse_low_rank("0.9") == 0.9 and parse_low_rank("1.0") == 1.0
    assert isinstance(parse_low_rank("1.0"), float) and parse_low_rank(" 3 ") == 3
    for bad, match in (
        ("0", "at least 1"),
        ("-2", "at least 1"),
        ("1.5", r"in \(0, 1\]"),
        ("0.0", r"in \(0, 1\]"),
        ("nan", r"in \(0, 1\]"),
        ("eight", "neither a rank"),
    ):
        with pytest.raises(UserError, match=match):
            parse_low_rank(bad)


def test_factorize_is_the_truncated_svd(images: torch.Tensor) -> None:
    model = _lenet()
    small, record = factorize(model, 8)
    pair = small.classifier[0]
    assert isinstance(pair, nn.Sequential) and [type(m) for m in pair] == [nn.Linear, nn.Linear]
    assert (pair[0].in_features, pair[0].out_features, pair[0].bias) == (5376, 8, None)
    assert (pair[1].in_features, pair[1].out_features) == (8, 64)
    assert small.config()["low_rank"] == {"classifier.0": 8}
    # B @ A is the best rank-8 approximation of W (Eckart-Young), the bias is unchanged.
    w = model.classifier[0].weight.detach().double()
    u, s, vh = torch.linalg.svd(w, full_matrices=False)
    best = (u[:, :8] * s[:8]) @ vh[:8]
    product = pair[1].weight.detach().double() @ pair[0].weight.detach().double()
    torch.testing.assert_close(product, best, rtol=1e-5, atol=1e-6)
    assert torch.equal(pair[1].bias, model.classifier[0].bias)
    info = record["layers"]["classifier.0"]
    assert info["rank"] == 8 and info["rank_before"] is None
    assert info["parameters_before"] == 5376 * 64 + 64
    assert info["parameters_after"] == 8 * (5376 + 64) + 64
    assert info["energy_kept"] == pytest.approx(float(s[:8].square().sum() / s.square().sum()))
    assert record["parameters_after"] == count_parameters(small)
    assert record["parameters_before"] - record["parameters_after"] == 5376 * 64 - 8 * 5440
    # Only the big layer by default; the others stay dense.
    assert sorted(linear_layers(small)) == ["classifier.0", "classifier.2", "classifier.5"]
    assert 64 * 32 <= LOW_RANK_MIN_WEIGHTS < 5376 * 64


def test_energy_picks_the_smallest_rank_and_an_exact_low_rank_layer_is_kept_exactly(
    images: torch.Tensor,
) -> None:
    model = _lenet()
    gen = torch.Generator().manual_seed(4)
    with torch.no_grad():  # make the big layer exactly rank 3
        a, b = torch.randn(64, 3, generator=gen), torch.randn(3, 5376, generator=gen) * 0.01
        model.classifier[0].weight.copy_(a @ b)
    small, record = factorize(model, 0.999999)
    assert record["mode"] == "energy" and record["layers"]["classifier.0"]["rank"] == 3
    assert_close(torch_forward(small, images), torch_forward(model, images), what="rank-3 layer")

    other = _lenet()
    _, half = factorize(other, 0.5)
    rank = half["layers"]["classifier.0"]["rank"]
    s = torch.linalg.svd(other.classifier[0].weight.detach().double()).S
    share = torch.cumsum(s.square(), 0) / s.square().sum()
    assert share[rank - 1] >= 0.5 > share[rank - 2]
    assert half["layers"]["classifier.0"]["energy_kept"] == pytest.approx(float(share[rank - 1]))


def test_a_factorised_layer_can_be_factorised_again() -> None:
    small, _ = factorize(_lenet(), 16)
    smaller, record = factorize(small, 4, ["classifier.0"])
    assert smaller.config()["low_rank"] == {"classifier.0": 4}
    info = record["layers"]["classifier.0"]
    assert info["rank_before"] == 16 and info["rank"] == 4
    assert info["parameters_before"] == 16 * 5440 + 64
    assert "classifier.0 (5376 -> 64, rank 4)" in linear_layers(smaller)["classifier.0"].describe()


def test_low_rank_refusals() -> None:
    lenet, light = _lenet(), _light()
    with pytest.raises(UserError) as err:
        factorize(lenet, 4, ["classifier.9", "classifier.2"])
    text = str(err.value)
    assert "no linear layer classifier.9" in text
    assert "classifier.0 (5376 -> 64), classifier.2 (64 -> 32), classifier.5 (32 -> 7)" in text
    with pytest.raises(UserError, match="no linear layer of this light model has more than"):
        factorize(light, 4)
    with pytest.raises(UserError, match=r"rank 100 is above the largest possible rank.*64"):
        factorize(lenet, 100)
    # Rank 63 of a 5376 x 64 layer costs more than the layer; energy 1.0 needs full rank.
    with pytest.raises(UserError, match="does not make it smaller.*at most 63"):
        factorize(lenet, 64)
    with pytest.raises(UserError, match="energy 1.0 needs rank 64.*does not make it smaller"):
        factorize(lenet, 1.0)
    with pytest.raises(UserError, match=r"classifier \(256 -> 7\).*does not make it smaller"):
        factorize(light, 7, ["classifier"])
    # A hand-made config naming no linear layer is refused by the constructor itself.
    with pytest.raises(UserError, match="not a linear layer of PDModel; its linear layers"):
        build_model("lenet", GIS, low_rank={"features.0": 2})
    with pytest.raises(UserError, match=r"must be an integer in \[1, 7\]"):
        build_model("light", GIS, low_rank={"classifier": 8})


# --- pruning ----------------------------------------------------------------------------------


def test_pruning_light_removes_the_smallest_gamma_channels(images: torch.Tensor) -> None:
    model = _light()
    # In every expanding block, silence the half of the channels with the smallest gamma (both
    # BNs' gamma and beta zero): those channels then add nothing, so removing them is exact.
    silenced = {}
    with torch.no_grad():
        for i, block in enumerate(model.blocks):
            if len(block.conv) != 4:
                continue
            expand_bn, dw_bn = block.conv[0][1], block.conv[1][1]
            width = expand_bn.num_features
            quiet = torch.randperm(width, generator=torch.Generator().manual_seed(i))[: width // 2]
            for bn in (expand_bn, dw_bn):
                bn.weight[quiet] = 0.0
                bn.bias[quiet] = 0.0
            silenced[i] = set(quiet.tolist())
    small, record = prune_channels(model, 0.5)
    assert small.hidden_widths == (32, 48, 72, 72, 96, 96, 96, 192, 192)
    assert small.config()["hidden_widths"] == list(small.hidden_widths)
    assert record["criterion"] == "bn_gamma" and record["config_key"] == "hidden_widths"
    assert record["widths_before"] == list(LIGHT_HIDDEN)
    for i, quiet in silenced.items():
        old = model.blocks[i].conv
        new = small.blocks[i].conv
        kept = [c for c in range(old[0][1].num_features) if c not in quiet]  # original order
        assert torch.equal(new[0][0].weight, old[0][0].weight[kept])
        assert torch.equal(new[0][1].running_var, old[0][1].running_var[kept])
        assert torch.equal(new[1][0].weight, old[1][0].weight[kept])
        assert new[1][0].groups == len(kept)
        assert torch.equal(new[2].weight, old[2].weight[:, kept])
        assert torch.equal(new[3].weight, old[3].weight)  # the projection's BN keeps its width
    assert count_parameters(small) == record["parameters_after"] < record["parameters_before"]
    assert_close(torch_forward(small, images), torch_forward(model, images), what="pruned light")


def test_pruning_lenet_ranks_by_filter_l1_and_slices_the_flattened_linear(
    images: torch.Tensor,
) -> None:
    model = _lenet()
    with torch.no_grad():  # zero filters contribute nothing: ReLU(0) = 0, max-pool keeps 0
        for conv in model.features[::3]:
            dead = torch.arange(0, conv.out_channels, 4)  # a quarter of each layer
            conv.weight[dead] = 0.0
            conv.bias[dead] = 0.0
    small, record = prune_channels(model, 0.25)
    assert small.conv_widths == (24, 48, 96, 192)
    assert record["criterion"] == "l1" and record["config_key"] == "conv_widths"
    assert small.classifier[0].in_features == 192 * 21
    assert_close(torch_forward(small, images), torch_forward(model, images), what="pruned lenet")


def test_pruning_follows_a_factorised_first_linear(images: torch.Tensor) -> None:
    factored, _ = factorize(_lenet(), 8)
    with torch.no_grad():
        last = factored.features[9]
        last.weight[128:] = 0.0
        last.bias[128:] = 0.0
    small, record = prune_channels(factored, 0.5)
    assert small.config()["low_rank"] == {"classifier.0": 8}
    assert small.classifier[0][0].in_features == 128 * 21
    assert record["widths_after"] == [16, 32, 64, 128]
    # The conv layers before the last lost channels too, so outputs differ; the last conv's
    # channels and the linear columns were kept together: the product still reads them.
    assert torch.equal(
        small.classifier[0][0].weight, factored.classifier[0][0].weight[:, : 128 * 21]
    )


def test_prune_refusals() -> None:
    for bad in (0, 0.0, 1, 1.0, 1.5, -0.2, float("nan")):
        with pytest.raises(UserError, match=r"--prune must be a fraction in \(0, 1\)"):
            prune_channels(_lenet(), bad)
    with pytest.raises(UserError, match="nothing to prune.*removes no expansion channels"):
        prune_channels(_light(), 0.002)  # floor(0.002 x 384) = 0: the widest block keeps all
    tiny = build_model("lenet", GIS, conv_widths=[1, 1, 1, 1])
    with pytest.raises(UserError, match=r"nothing to prune.*widths \[1, 1, 1, 1\]"):
        prune_channels(tiny, 0.9)
    for bad in ([0, 1, 1, 1], [1, 2, 3], "abcd", [1.5, 2, 2, 2]):
        with pytest.raises(UserError, match="conv_widths must be a list of 4 channel counts"):
            build_model("lenet", GIS, conv_widths=bad)
    with pytest.raises(UserError, match="without expansion has width 32, got 16"):
        build_model("light", GIS, hidden_widths=[16, *LIGHT_HIDDEN[1:]])


# --- distillation -----------------------------------------------------------------------------


def test_distillation_loss_is_hintons() -> None:
    gen = torch.Generator().manual_seed(0)
    s, t = torch.randn(5, 4, generator=gen), torch.randn(5, 4, generator=gen)
    y = torch.tensor([0, 1, 2, 3, 0])
    temp, alpha = 3.0, 0.6
    p_t = torch.softmax(t / temp, 1)
    kl = (p_t * (p_t.log() - torch.log_softmax(s / temp, 1))).sum(1).mean()
    expected = alpha * temp**2 * kl + (1 - alpha) * F.cross_entropy(s, y)
    torch.testing.assert_close(distillation_loss(s, t, y, temp, alpha), expected)
    torch.testing.assert_close(distillation_loss(s, t, y, temp, 0.0), F.cross_entropy(s, y))
    assert float(distillation_loss(t, t, y, temp, 1.0)) == pytest.approx(0.0, abs=1e-7)


# --- compress: each step alone and combined ---------------------------------------------------


def test_low_rank_alone_then_reload_and_java_parity(
    saved: dict[str, Path], images: torch.Tensor, tmp_path: Path
) -> None:
    out = tmp_path / "lr.pt"
    result = compress(saved["lenet"], DATA, out=out, low_rank=8, epochs=1, progress=False)
    ckpt = _assert_reloads_identically(out, result.model, images)
    steps = ckpt.recipe["steps"]
    assert [s["step"] for s in steps] == ["low_rank", "fine_tune"]
    assert steps[0]["spec"] == 8 and steps[0]["layers"]["classifier.0"]["rank"] == 8
    assert steps[1]["epochs"] == 1 and steps[1]["best_epoch"] == 1
    assert steps[1]["val_accuracy_before"] == steps[0]["val_accuracy_after"]
    assert steps[0]["val_accuracy_before"] == ckpt.metrics["val_accuracy_before"]
    assert ckpt.metrics["val_accuracy"] == steps[-1]["val_accuracy_after"]
    assert ckpt.recipe["source"]["checkpoint"] == str(saved["lenet"])
    assert ckpt.recipe["source"]["parameters"] == ckpt.metrics["parameters_before"] == 734_279
    assert ckpt.metrics["parameters"] == 734_279 - (5376 * 64 - 8 * 5440)
    assert len(ckpt.history) == 1 and ckpt.metrics["n_train"] == ckpt.metrics["n_val"] == 7
    manifest = _export_and_check_java(out, result.model, images, tmp_path / "exp")
    assert _linear_ops(manifest) == 4  # the factorised layer is two linear nodes


def test_prune_alone_then_reload_and_java_parity(
    saved: dict[str, Path], images: torch.Tensor, tmp_path: Path
) -> None:
    out = tmp_path / "pruned.pt"
    result = compress(saved["light"], DATA, out=out, prune=0.5, epochs=1, progress=False)
    ckpt = _assert_reloads_identically(out, result.model, images)
    assert ckpt.config["hidden_widths"] == [32, 48, 72, 72, 96, 96, 96, 192, 192]
    steps = ckpt.recipe["steps"]
    assert [s["step"] for s in steps] == ["prune", "fine_tune"]
    assert steps[0]["fraction"] == 0.5 and steps[0]["criterion"] == "bn_gamma"
    assert all(
        isinstance(s[k], float)
        for s in steps
        for k in ("val_accuracy_before", "val_accuracy_after")
    )
    # Fine-tuning moved the weights and the BN statistics of the pruned net, and they are part
    # of what reloads bit for bit.
    pruned, _ = prune_channels(load_checkpoint(saved["light"]).build_model(), 0.5)
    for key in ("blocks.1.conv.0.0.weight", "blocks.1.conv.0.1.running_mean"):
        assert not torch.equal(result.model.state_dict()[key], pruned.state_dict()[key]), key
    _export_and_check_java(out, result.model, images, tmp_path / "exp")


def test_distill_alone_records_the_teacher(saved: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "student.pt"
    result = compress(
        saved["lenet"],
        DATA,
        out=out,
        distill_from=saved["light"],
        temperature=2.0,
        alpha=0.5,
        epochs=1,
        augment=False,
        progress=False,
    )
    ckpt = load_checkpoint(out)
    (step,) = ckpt.recipe["steps"]
    assert step["step"] == "distill" and step["teacher"] == str(saved["light"])
    assert step["teacher_arch"] == "light" and step["teacher_parameters"] == 203_207
    assert (step["temperature"], step["alpha"], step["augment"]) == (2.0, 0.5, False)
    assert isinstance(step["teacher_val_accuracy"], float)
    assert ckpt.config == {"head": "softmax", "dropout": 0.5}  # the architecture is unchanged
    # The weights did move.
    before = load_checkpoint(saved["lenet"]).state_dict["classifier.5.weight"]
    assert not torch.equal(result.model.classifier[5].weight, before)


def test_same_seed_gives_the_same_compressed_weights(saved: dict[str, Path]) -> None:
    runs = [
        compress(saved["lenet"], DATA, prune=0.5, epochs=1, seed=3, progress=False)
        for _ in range(2)
    ]
    for key, value in runs[0].checkpoint.state_dict.items():
        assert torch.equal(value, runs[1].checkpoint.state_dict[key]), key
    assert not torch.are_deterministic_algorithms_enabled()


def test_all_steps_through_the_cli(
    saved: dict[str, Path],
    images: torch.Tensor,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "small.pt"
    code = main(
        [
            "compress",
            str(saved["lenet"]),
            "-o",
            str(out),
            "--data",
            DATA,
            "--low-rank",
            "0.5",
            "--low-rank-layers",
            "classifier.0",
            "--prune",
            "0.5",
            "--distill-from",
            str(saved["light"]),
            "--epochs",
            "1",
            "--lr",
            "5e-4",
            "--batch-size",
            "4",
            "--seed",
            "2",
            "-q",
        ]
    )
    text = capsys.readouterr().out
    assert code == 0, text
    assert "low-rank: classifier.0 rank" in text and "prune 0.5 (l1)" in text
    assert "distill from" in text and f"wrote {out}" in text
    ckpt = load_checkpoint(out)
    steps = ckpt.recipe["steps"]
    assert [s["step"] for s in steps] == ["low_rank", "prune", "distill"]
    assert steps[0]["mode"] == "energy" and steps[0]["spec"] == 0.5
    assert steps[2]["lr"] == 5e-4 and steps[2]["batch_size"] == 4
    assert ckpt.recipe["seed"] == 2 and ckpt.recipe["data"] == DATA
    assert ckpt.config["conv_widths"] == [16, 32, 64, 128]
    assert set(ckpt.config["low_rank"]) == {"classifier.0"}
    assert ckpt.metrics["parameters"] < 0.25 * ckpt.metrics["parameters_before"]
    model = ckpt.build_model()
    manifest = _export_and_check_java(out, model, images, tmp_path / "exp")
    assert _linear_ops(manifest) == 4
    # evaluate takes it too
    assert main(["evaluate", str(out), DATA]) == 0
    assert "accuracy" in capsys.readouterr().out


# --- bad inputs: clear errors, nothing written --------------------------------------------------


def test_bad_inputs_are_refused_before_any_work(saved: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "never.pt"
    folder = save_checkpoint(
        Checkpoint.from_model(PDLightModel(list(reversed(GIS)))), tmp_path / "reversed.pt"
    )
    cases = [
        ({"distill_from": folder}, "same classes in the same order"),
        ({"prune": 1.0}, r"--prune must be a fraction in \(0, 1\)"),
        ({"prune": 0.0}, r"--prune must be a fraction in \(0, 1\)"),
        ({"low_rank": 8, "low_rank_layers": ["head"]}, "no linear layer head.*classifier.0"),
        ({"low_rank": "1.5"}, r"energy fraction must be in \(0, 1\]"),
        ({"low_rank_layers": ["classifier.0"]}, "give --low-rank too"),
        ({"prune": 0.001}, "nothing to prune"),
        ({}, "nothing to do"),
        ({"prune": 0.5, "temperature": 2.0}, "give --distill-from too"),
        ({"distill_from": saved["light"], "epochs": 0}, "at least one epoch"),
        ({"distill_from": saved["light"], "alpha": 1.5}, r"--alpha must be in \[0, 1\]"),
        ({"distill_from": saved["light"], "temperature": 0.0}, "--temperature must be a positive"),
        ({"prune": 0.5, "epochs": -1}, "--epochs must be a whole number"),
        ({"prune": 0.5, "lr": 0.0}, "--lr must be a positive number"),
    ]
    for kwargs, match in cases:
        # The data does not exist: each refusal must come before it is read.
        with pytest.raises(UserError, match=match):
            compress(saved["lenet"], MISSING_DATA, out=out, progress=False, **kwargs)
    with pytest.raises(UserError, match="not found"):  # and the data is read after the checks
        compress(saved["lenet"], MISSING_DATA, out=out, prune=0.5, progress=False)
    with pytest.raises(UserError, match="it is a directory"):
        compress(saved["lenet"], DATA, out=tmp_path, prune=0.5, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reversed.pt"]


def test_cli_errors_exit_1_and_write_nothing(
    saved: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.pt"
    base = ["compress", str(saved["lenet"]), "-o", str(out), "--data", MISSING_DATA, "-q"]
    for extra, message in (
        (["--prune", "1.2"], "--prune must be a fraction in (0, 1)"),
        (["--low-rank", "4", "--low-rank-layers", "classifier.0,fc9"], "no linear layer fc9"),
        (["--distill-from", str(tmp_path / "none.pt")], "does not exist"),
    ):
        assert main(base + extra) == 1
        err = capsys.readouterr().err
        assert err.startswith("pd2java compress: error: ") and message in err, err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_an_interrupted_save_leaves_no_checkpoint(
    saved: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The save is cut off half-way (as by Ctrl-C): no file at the target, no temporary file,
    and a checkpoint already there is left as it was."""
    real_save = torch.save

    def save_then_interrupt(obj, handle, *args, **kwargs):
        real_save(obj, handle, *args, **kwargs)
        handle.truncate(100)
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint_module.torch, "save", save_then_interrupt)
    out = tmp_path / "small.pt"
    with pytest.raises(KeyboardInterrupt):
        compress(saved["lenet"], DATA, out=out, prune=0.5, epochs=0, progress=False)
    assert list(tmp_path.iterdir()) == []
    out.write_bytes(b"an older checkpoint")
    args = ["compress", str(saved["lenet"]), "-o", str(out), "--data", DATA, "--prune", "0.5"]
    assert main([*args, "--epochs", "0", "-q"]) == 130
    assert out.read_bytes() == b"an older checkpoint"
    assert [p.name for p in tmp_path.iterdir()] == ["small.pt"]


def test_epochs_zero_keeps_the_structural_result(saved: dict[str, Path]) -> None:
    result = compress(saved["lenet"], DATA, low_rank=8, epochs=0, val_fraction=0, progress=False)
    (step,) = result.checkpoint.recipe["steps"]
    assert step["step"] == "low_rank" and step["val_accuracy_after"] is None
    direct, _ = factorize(load_checkpoint(saved["lenet"]).build_model(), 8)
    for key, value in direct.state_dict().items():
        assert torch.equal(value, result.model.state_dict()[key]), key
    assert result.checkpoint.history == [] and result.checkpoint.metrics["n_val"] == 0
    assert result.checkpoint.metrics["parameters"] == count_parameters(direct)
