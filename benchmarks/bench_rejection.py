"""Benchmark: calibration and rejection of a default-trained model on the GIS synthetic task.

For each seed s: train (or load with ``--checkpoint``) a model on ``synthesize("gis",
per_class=80, seed=s)`` with the default recipe; ``train`` fits the temperature and the
max-probability threshold on its 20% validation split (target false reject 2%). Then measure,
with the threshold as stored:

- in distribution: ``synthesize("gis", per_class=100, seed=1000 + s)`` (the training benchmark's
  test set): the share rejected, the accuracy on all and on the accepted images, the ECE before
  and after temperature scaling;
- the outlier sets of ``pd2java.training.calibrate.outlier_sets`` (all-zero, uniform noise, the
  transformer class set, GIS defects recorded with a 5x gain so they clip): the share rejected.

For comparison only, the energy score (logsumexp of the calibrated logits) with its own threshold
fitted on the same validation split for the same target; the runtime cannot compute it from the
exported probabilities (docs/TRAINING.md, "Calibration and rejection").

    OMP_NUM_THREADS=1 python benchmarks/bench_rejection.py --seeds 0 --threads 1 -o bench-rej

Writes ``OUT/rejection.json`` and prints a markdown table. Figures depend on the seed; the
training time depends on the machine's load and is not reported.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from pd2java.training.calibrate import (
    expected_calibration_error,
    max_probability,
    outlier_sets,
    rejection_stats,
    rejection_threshold,
    softmax,
)
from pd2java.training.checkpoint import load_checkpoint
from pd2java.training.data import synthesize
from pd2java.training.train import stratified_split, train


def _outputs(model: torch.nn.Module, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities (the model's own float32 head) and logits, in float64."""
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).unsqueeze(1)
    probs, logits = [], []
    with torch.no_grad():
        for i in range(0, len(x), 256):
            z = model.forward_logits(x[i : i + 256])
            logits.append(z)
            probs.append(model.head(z))
    return torch.cat(probs).double().numpy(), torch.cat(logits).double().numpy()


def _energy(logits: np.ndarray) -> np.ndarray:
    top = logits.max(axis=1)
    return top + np.log(np.exp(logits - top[:, None]).sum(axis=1))


def run_seed(seed: int, arch: str, out: Path, checkpoint: Path | None, n: int) -> dict:
    train_set = synthesize("gis", per_class=80, seed=seed)
    test_set = synthesize("gis", per_class=100, seed=1000 + seed)
    if checkpoint is None:
        checkpoint = out / f"{arch}-seed{seed}.pt"
        train(train_set, arch=arch, out=checkpoint, seed=seed, progress=True)
    ckpt = load_checkpoint(checkpoint)
    cal = ckpt.calibration
    if cal is None:
        raise SystemExit(f"{checkpoint} has no calibration: {ckpt.metrics.get('calibration_note')}")
    rej = cal["rejection"]
    threshold = rej["threshold"]
    model = ckpt.build_model()
    # The validation split train() used (same seed, same fraction), for the energy threshold.
    _, val_idx = stratified_split(train_set.labels, ckpt.recipe["val_fraction"], seed)
    _, val_logits = _outputs(model, train_set.images[val_idx])
    energy_threshold = rejection_threshold(_energy(val_logits), rej["target_false_reject"])

    probs, logits = _outputs(model, test_set.images)
    labels = test_set.labels
    pred = probs.argmax(axis=1)
    test_stats = rejection_stats(max_probability(probs), threshold, pred, labels)
    energy_test = rejection_stats(_energy(logits), energy_threshold, pred, labels)
    rows = [
        {
            "set": "in-distribution test",
            "n": len(labels),
            "rejected": test_stats.rejection_rate,
            "energy_rejected": energy_test.rejection_rate,
            "accuracy": float((pred == labels).mean()),
            "accepted_accuracy": test_stats.accepted_accuracy,
        }
    ]
    for name, images in outlier_sets("gis", n, seed=seed).items():
        p, z = _outputs(model, images)
        rows.append(
            {
                "set": name,
                "n": len(images),
                "rejected": rejection_stats(max_probability(p), threshold).rejection_rate,
                "energy_rejected": rejection_stats(_energy(z), energy_threshold).rejection_rate,
                "mean_max_probability": float(max_probability(p).mean()),
            }
        )
    t = cal["temperature"]
    return {
        "seed": seed,
        "arch": ckpt.arch,
        "checkpoint": str(checkpoint),
        "temperature": t,
        "threshold": threshold,
        "energy_threshold": energy_threshold,
        "target_false_reject": rej["target_false_reject"],
        "val_false_reject": rej["val_false_reject"],
        "n_val": rej["n_val"],
        "ece_val_before": cal["ece_before"],
        "ece_val_after": cal["ece_after"],
        "ece_test_before": expected_calibration_error(softmax(logits * t), labels),
        "ece_test_after": expected_calibration_error(probs, labels),
        "rows": rows,
    }


def table(result: dict) -> str:
    head = (
        f"seed {result['seed']}, {result['arch']}: T = {result['temperature']:.3f}, "
        f"threshold {result['threshold']:.4f} (max probability; target false reject "
        f"{100 * result['target_false_reject']:g}%, {100 * result['val_false_reject']:.2f}% of "
        f"{result['n_val']} validation images), ECE validation "
        f"{100 * result['ece_val_before']:.2f}% -> {100 * result['ece_val_after']:.2f}%, test "
        f"{100 * result['ece_test_before']:.2f}% -> {100 * result['ece_test_after']:.2f}%"
    )
    lines = [
        head,
        "",
        "| images | n | rejected (max probability) | rejected (energy, comparison) | notes |",
        "|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        if "accuracy" in r:
            note = (
                f"accuracy {100 * r['accuracy']:.2f}% on all, "
                f"{100 * r['accepted_accuracy']:.2f}% on the accepted"
            )
        else:
            note = f"mean max probability {r['mean_max_probability']:.3f}"
        lines.append(
            f"| {r['set']} | {r['n']} | {100 * r['rejected']:.1f}% | "
            f"{100 * r['energy_rejected']:.1f}% | {note} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--arch", default="light")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--n", type=int, default=100, help="images per outlier set (about)")
    parser.add_argument(
        "--checkpoint",
        type=Path,
        help="a checkpoint trained on synth gis per_class=80 with the first seed (skip training)",
    )
    parser.add_argument("-o", "--out", type=Path, default=Path("bench-rejection-out"))
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    for i, seed in enumerate(args.seeds):
        result = run_seed(seed, args.arch, args.out, args.checkpoint if i == 0 else None, args.n)
        results.append(result)
        print(table(result), flush=True)
        print(flush=True)
        (args.out / "rejection.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
