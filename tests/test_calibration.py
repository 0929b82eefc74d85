"""Calibration and rejection (pd2java.training.calibrate): the temperature fit, its fold into the
last layer, the ECE, the threshold, the checkpoint's ``calibration`` record, the manifest's
``confidence`` and what Python and Java answer on images a monitor must not be sure about
(all-zero, uniform noise, the other product's classes, heavily clipped). Tiny training only: the
rates of a properly trained model are in benchmarks/bench_rejection.py and docs/TRAINING.md."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from pd2java.cli import main
from pd2java.errors import UserError
from pd2java.exporter import export_checkpoint
from pd2java.training.calibrate import (
    CLIP_GAIN,
    DEFAULT_TARGET_FALSE_REJECT,
    ECE_BINS,
    MIN_CALIBRATION_IMAGES,
    OUTLIER_SETS,
    calibrate_model,
    energy,
    expected_calibration_error,
    fit_temperature,
    fold_temperature,
    max_probability,
    nll,
    outlier_sets,
    rejection_stats,
    rejection_threshold,
    reliability,
    softmax,
)
from pd2java.training.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from pd2java.training.data import Dataset, synthesize
from pd2java.training.evaluate import evaluate
from pd2java.training.models import PDLightModel, PDModel
from pd2java.training.train import train

GIS = synthesize("gis", per_class=1, seed=0).classes

# ---- the pieces, no training -------------------------------------------------------------------


def test_fit_temperature_recovers_the_temperature_labels_were_drawn_with() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(0.0, 3.0, (4000, 5))
    true_t = 2.5
    p = softmax(logits / true_t)
    labels = np.array([rng.choice(5, p=row) for row in p])
    t = fit_temperature(logits, labels)
    assert t == pytest.approx(true_t, rel=0.08)
    assert nll(logits, labels, t) <= nll(logits, labels, 1.0)
    assert nll(logits, labels, t) <= min(nll(logits, labels, t * f) for f in (0.9, 1.1))
    # Over-sharpened logits of a model that is always right: the optimum is a low temperature.
    sure = np.eye(3)[[0, 1, 2] * 10] * 2.0
    assert fit_temperature(sure, np.array([0, 1, 2] * 10)) < 0.5


def test_ece_and_the_reliability_diagram() -> None:
    # 10 predictions at 0.9 confidence of which 5 are right: ECE 0.4, all in bin 13 (0.867, 0.933].
    probs = np.tile([0.9, 0.1], (10, 1))
    labels = np.array([0] * 5 + [1] * 5)
    d = reliability(probs, labels)
    assert len(d["count"]) == len(d["confidence"]) == len(d["accuracy"]) == ECE_BINS
    assert d["count"][13] == 10 and sum(d["count"]) == 10
    assert d["confidence"][13] == pytest.approx(0.9) and d["accuracy"][13] == 0.5
    assert d["confidence"][0] is None and d["accuracy"][0] is None
    assert expected_calibration_error(probs, labels) == pytest.approx(0.4)
    # Perfectly calibrated in each bin: ECE 0.
    probs = np.array([[1.0, 0.0]] * 4 + [[0.5, 0.5]] * 4)
    labels = np.array([0] * 4 + [0, 0, 1, 1])
    assert expected_calibration_error(probs, labels) == pytest.approx(0.0)


def test_rejection_threshold_rejects_at_most_the_target() -> None:
    scores = np.arange(100) / 100.0
    t = rejection_threshold(scores, 0.02)
    assert t == 0.02 and rejection_stats(scores, t).rejected == 2
    assert rejection_threshold(scores, 0.0) == 0.0  # rejects none
    assert rejection_threshold(np.full(50, 0.7), 0.1) == 0.7  # ties are accepted: none rejected
    # Fewer images than 1 / target: k = 0, the lowest score, nothing of the split rejected.
    assert rejection_threshold(np.array([0.9, 0.4, 0.6]), 0.02) == 0.4
    with pytest.raises(UserError, match=r"\[0, 1\)"):
        rejection_threshold(scores, 1.0)
    stats = rejection_stats(
        np.array([0.2, 0.9, 0.8]), 0.5, np.array([1, 0, 1]), np.array([1, 0, 0])
    )
    assert stats.rejected == 1 and stats.rejection_rate == pytest.approx(1 / 3)
    assert stats.accepted_accuracy == 0.5
    assert math.isnan(
        rejection_stats(np.array([0.1]), 0.5, np.array([0]), np.array([0])).accepted_accuracy
    )


def test_energy_is_logsumexp() -> None:
    z = np.array([[1.0, 2.0, 3.0], [1000.0, 0.0, 0.0]])
    # log(e + e^2 + e^3), and no overflow for a large logit.
    assert energy(z) == pytest.approx([3.40760596, 1000.0])


@pytest.mark.parametrize("model_cls", [PDLightModel, PDModel])
def test_fold_divides_the_logits_and_leaves_the_argmax(model_cls) -> None:
    torch.manual_seed(0)
    model = model_cls(GIS).eval()
    x = torch.rand(6, 1, 60, 120)
    with torch.no_grad():
        before = model.forward_logits(x)
        fold_temperature(model, 2.5, x[:2])
        after = model.forward_logits(x)
        probs = model(x)
    torch.testing.assert_close(after, before / 2.5, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(probs, torch.softmax(before / 2.5, dim=1), rtol=1e-4, atol=1e-6)
    assert torch.equal(after.argmax(1), before.argmax(1))
    with pytest.raises(UserError, match="positive"):
        fold_temperature(model, 0.0, x[:2])


class _LinearThenOffset(torch.nn.Module):
    """A zoo-like model whose last linear layer is not the last step before the head."""

    head_name = "softmax"

    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(4, 3)
        self.head = torch.nn.Softmax(dim=1)

    def forward_logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x) + 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_logits(x))


def test_fold_refuses_a_model_whose_last_linear_is_not_last_and_restores_it() -> None:
    model = _LinearThenOffset()
    weight = model.fc.weight.detach().clone()
    with pytest.raises(UserError, match="does not produce its logits"):
        fold_temperature(model, 2.0, torch.rand(3, 4))
    assert torch.equal(model.fc.weight, weight)


def test_calibration_is_skipped_on_a_tiny_split_with_the_reason() -> None:
    model = PDLightModel(GIS).eval()
    x = torch.rand(MIN_CALIBRATION_IMAGES - 1, 1, 60, 120)
    y = torch.arange(len(x)) % len(GIS)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    result = calibrate_model(model, x, y)
    assert result.record is None and result.metrics["temperature"] == 1.0
    assert f"fewer than {MIN_CALIBRATION_IMAGES}" in result.note
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())  # untouched
    none = calibrate_model(model, x[:0], y[:0])
    assert none.record is None and "val_fraction=0" in none.note
    sigmoid = calibrate_model(
        PDModel(GIS, head="sigmoid").eval(), torch.rand(40, 1, 60, 120), y[:1].repeat(40)
    )
    assert sigmoid.record is None and "sigmoid head" in sigmoid.note


def test_outlier_sets() -> None:
    sets = outlier_sets("gis", 8, seed=1)
    assert tuple(sets) == OUTLIER_SETS
    assert not sets["all_zero"].any() and len(sets["all_zero"]) == 8
    assert sets["uniform_noise"].min() >= 0 and sets["uniform_noise"].max() <= 1
    assert len(sets["other_product"]) == 12  # 2 of each of the 6 transformer classes
    clipped = sets["clipped"]
    assert clipped.shape == (14, 60, 120) and clipped.dtype == np.float32
    # Clipping piles pulses into the top amplitude bin: it is lit in most phase columns.
    assert (clipped[:, -1] > 0).mean() > 0.5 and CLIP_GAIN > 1
    again = outlier_sets("gis", 8, seed=1)
    assert all(np.array_equal(sets[k], again[k]) for k in sets)
    assert outlier_sets("transformer", 2)["other_product"].shape[0] == 7  # one per GIS class
    with pytest.raises(UserError, match="unknown product"):
        outlier_sets("cable", 2)


# ---- tiny training, export, evaluation, Java ---------------------------------------------------


@pytest.fixture(scope="module")
def data() -> Dataset:
    return synthesize("gis", per_class=10, seed=7)


@pytest.fixture(scope="module")
def calibrated(data: Dataset, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("calibrated")
    ckpt = train(
        data,
        arch="light",
        out=folder / "light.pt",
        epochs=2,
        batch_size=8,
        val_fraction=0.5,
        seed=3,
        progress=False,
    )
    manifest = export_checkpoint(folder / "light.pt", folder / "export", onnx=False)
    return folder / "light.pt", ckpt, manifest


def test_training_records_the_calibration(data: Dataset, calibrated) -> None:
    path, ckpt, _manifest = calibrated
    cal = ckpt.calibration
    assert cal is not None and ckpt.metrics["n_val"] == 35 >= MIN_CALIBRATION_IMAGES
    for key in (
        "temperature",
        "ece_before",
        "ece_after",
        "bins",
        "reliability_before",
        "reliability_after",
        "rejection",
    ):
        assert key in cal, key
    assert cal["temperature"] > 0 and cal["bins"] == ECE_BINS
    for name in ("reliability_before", "reliability_after"):
        diagram = cal[name]
        assert set(diagram) == {"confidence", "accuracy", "count"}
        assert len(diagram["count"]) == ECE_BINS and sum(diagram["count"]) == 35
    assert cal["nll_after"] <= cal["nll_before"] + 1e-9  # T = 1 was a candidate
    rej = cal["rejection"]
    assert rej["score"] == "max_probability"
    assert rej["target_false_reject"] == DEFAULT_TARGET_FALSE_REJECT
    assert 0 <= rej["threshold"] <= 1 and rej["val_false_reject"] <= rej["target_false_reject"]
    m = ckpt.metrics
    assert m["temperature"] == cal["temperature"] and m["ece_after"] == cal["ece_after"]
    assert m["confidence_threshold"] == rej["threshold"] and "calibration_note" in m
    # Saved and loaded as is; the model's probabilities are the calibrated ones (T folded in).
    loaded = load_checkpoint(path)
    assert loaded.calibration == cal
    model = loaded.build_model()
    x = torch.from_numpy(data.images[:4]).unsqueeze(1)
    with torch.no_grad():
        torch.testing.assert_close(model(x), torch.softmax(model.forward_logits(x), 1))


def test_checkpoints_without_calibration_still_load_and_bad_records_are_refused(
    calibrated, tmp_path: Path
) -> None:
    path, ckpt, _ = calibrated
    raw = torch.load(path, weights_only=True)
    del raw["calibration"]
    torch.save(raw, tmp_path / "old.pt")
    assert load_checkpoint(tmp_path / "old.pt").calibration is None
    for bad, message in [
        ({**ckpt.calibration, "temperature": -1.0}, "positive number"),
        (
            {**ckpt.calibration, "rejection": {**ckpt.calibration["rejection"], "threshold": 2}},
            r"\[0, 1\]",
        ),
        ({**ckpt.calibration, "rejection": {"score": "max_probability"}}, "lacks"),
        ([1.0], "must be a dict"),
    ]:
        raw["calibration"] = bad
        torch.save(raw, tmp_path / "bad.pt")
        with pytest.raises(UserError, match=message):
            load_checkpoint(tmp_path / "bad.pt")


def test_no_validation_split_means_no_calibration(tmp_path: Path) -> None:
    tiny = synthesize("gis", per_class=2, seed=1)
    ckpt = train(
        tiny, arch="light", out=tmp_path / "n.pt", epochs=1, val_fraction=0, progress=False
    )
    assert ckpt.calibration is None and ckpt.metrics["temperature"] == 1.0
    assert "val_fraction=0" in ckpt.metrics["calibration_note"]
    manifest = export_checkpoint(tmp_path / "n.pt", tmp_path / "export", onnx=False)
    assert "confidence" not in json.loads(manifest.read_text())
    report = evaluate(tmp_path / "n.pt", tiny)
    assert report.confidence is None and report.rejected is None and report.ece is not None


def test_the_export_carries_the_threshold(calibrated) -> None:
    _path, ckpt, manifest = calibrated
    obj = json.loads(manifest.read_text())
    rej = ckpt.calibration["rejection"]
    assert obj["confidence"] == {
        "score": "max_probability",
        "threshold": rej["threshold"],
        "target_false_reject": rej["target_false_reject"],
    }
    assert list(obj).index("confidence") == list(obj).index("outputs") + 1
    # Writing it again gives the same bytes (exports are deterministic).
    again = export_checkpoint(_path, manifest.parent.parent / "again", onnx=False)
    assert again.read_bytes() == manifest.read_bytes()


@pytest.fixture(scope="module")
def outliers() -> dict[str, np.ndarray]:
    return outlier_sets("gis", 8, seed=0)


def test_evaluate_reports_calibration_and_rejection(calibrated, outliers, tmp_path: Path) -> None:
    path, ckpt, manifest = calibrated
    test = synthesize("gis", per_class=3, seed=1007)
    rej = ckpt.calibration["rejection"]
    for source in (path, manifest.parent):
        report = evaluate(source, test, out_dir=tmp_path / Path(source).name)
        model = ckpt.build_model()
        with torch.no_grad():
            probs = model(torch.from_numpy(test.images).unsqueeze(1)).numpy()
        scores = max_probability(probs)
        accept = scores >= rej["threshold"]
        assert report.confidence["threshold"] == rej["threshold"]
        assert report.rejected == int((~accept).sum())
        if accept.any():
            want = (probs.argmax(1)[accept] == test.labels[accept]).mean()
            assert report.accepted_accuracy == pytest.approx(want)
        assert report.ece == pytest.approx(expected_calibration_error(probs, test.labels), abs=1e-6)
        text = report.table()
        assert "expected calibration error" in text and "unsure (rejected)" in text
        blob = json.loads((tmp_path / Path(source).name / "report.json").read_text())
        assert blob["rejection"]["rejected"] == report.rejected
        assert blob["calibration"]["ece"] == pytest.approx(report.ece)
    # Only the checkpoint knows T, so only it reports the ECE before scaling.
    assert evaluate(path, test).ece_before is not None
    assert evaluate(manifest.parent, test).ece_before is None


def test_rejection_on_outliers_is_the_threshold_applied(calibrated, outliers) -> None:
    """On each outlier set, the model's own rejections (Python, PyTorch) are exactly the images
    whose max probability is below the stored threshold, and the NumPy reference run of the
    export agrees within the parity tolerance."""
    from pd2java.training.evaluate import _export_model, predict_export

    _path, ckpt, manifest = calibrated
    threshold = ckpt.calibration["rejection"]["threshold"]
    model = ckpt.build_model()
    loaded = _export_model(manifest)
    for name, images in outliers.items():
        with torch.no_grad():
            probs = model(torch.from_numpy(images).unsqueeze(1)).numpy()
        ref = predict_export(loaded, images)
        np.testing.assert_allclose(ref, probs, atol=1e-5, rtol=1e-4, err_msg=name)
        stats = rejection_stats(max_probability(probs), threshold)
        assert stats.rejected == int((probs.max(1) < threshold).sum()), name
        assert 0 <= stats.rejection_rate <= 1
        if name == "all_zero":  # one image repeated: all rejected or none
            assert stats.rejected in (0, len(images))


def test_java_confident_matches_python_on_outliers(outliers, tmp_path: Path) -> None:
    """The Java runtime's Prediction.confident() on an export equals Python's score >= threshold,
    image by image (except within the parity tolerance of the threshold); an all-zero image is no
    activity, never confident. The tiny trained model answers every image alike, so this uses a
    lenet whose last layer is scaled up (its scores spread) with the threshold at their median."""
    from pd2java.backends.java import bridge

    torch.manual_seed(0)
    model = PDModel(GIS).eval()
    with torch.no_grad():
        model.classifier[-1].weight.mul_(100.0)
        probs = {k: model(torch.from_numpy(v).unsqueeze(1)).numpy() for k, v in outliers.items()}
    active = np.concatenate([p.max(1) for k, p in probs.items() if k != "all_zero"])
    threshold = float(np.median(active))
    record = {
        "temperature": 1.0,
        "rejection": {
            "score": "max_probability",
            "threshold": threshold,
            "target_false_reject": 0.02,
        },
    }
    path = save_checkpoint(Checkpoint.from_model(model, calibration=record), tmp_path / "s.pt")
    manifest = export_checkpoint(path, tmp_path / "export", onnx=False)
    jvm = bridge._get_jvm()
    java_model = jvm.entry.model(str(manifest.absolute()), True)
    assert java_model.metadata().confidenceThreshold().getAsDouble() == threshold
    floats = jvm.gateway.jvm.org.pd2java.gateway.Floats
    answers = []
    for name, images in outliers.items():
        for i, image in enumerate(images):
            p = java_model.classify(floats.fromBytes(np.ascontiguousarray(image, "<f4").tobytes()))
            if name == "all_zero":
                assert not p.hasActivity() and not p.confident()
                continue
            score = float(probs[name][i].max())
            assert float(p.score()) == pytest.approx(score, abs=1e-5)
            if abs(score - threshold) > 1e-5:
                assert bool(p.confident()) == (score >= threshold), (name, i, score, threshold)
                answers.append(bool(p.confident()))
    assert len(answers) >= 20 and any(answers) and not all(answers)


def test_train_cli_prints_the_calibration(data: Dataset, tmp_path: Path, capsys) -> None:
    folder = tmp_path / "d"
    from pd2java.training.data import save_dataset

    save_dataset(data, folder)
    out = tmp_path / "m.pt"
    code = main(
        [
            "train",
            str(folder),
            "--arch",
            "light",
            "--epochs",
            "1",
            "--val-fraction",
            "0.5",
            "--batch-size",
            "16",
            "-q",
            "-o",
            str(out),
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "calibration: temperature" in text and "expected calibration error" in text
    assert "unsure below max_probability" in text
    assert main(["evaluate", str(out), str(folder)]) == 0
    assert "unsure (rejected)" in capsys.readouterr().out
    small = tmp_path / "s"
    save_dataset(synthesize("gis", per_class=3, seed=2), small)
    assert main(["train", str(small), "--epochs", "1", "-q", "-o", str(tmp_path / "s.pt")]) == 0
    assert "calibration skipped" in capsys.readouterr().out


def test_a_confidence_needs_a_probabilities_output(tmp_path: Path) -> None:
    from pd2java.exporter import export

    model = PDLightModel(["a", "b"]).eval()
    conf = {"score": "max_probability", "threshold": 0.6, "target_false_reject": 0.02}
    # The zoo model ends in its softmax: accepted.
    manifest = export(model, tmp_path / "p", input_shape=(1, 60, 120), onnx=False, confidence=conf)
    assert json.loads(manifest.read_text())["confidence"] == conf

    class Logits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(x)

    with pytest.raises(UserError, match="'probabilities'"):
        export(Logits(), tmp_path / "l", input_shape=(4,), onnx=False, confidence=conf)
    with pytest.raises(UserError, match="threshold"):
        export(
            model,
            tmp_path / "b",
            input_shape=(1, 60, 120),
            onnx=False,
            confidence={**conf, "threshold": 1.5},
        )
    assert not (tmp_path / "l").exists() or not any((tmp_path / "l").iterdir())
