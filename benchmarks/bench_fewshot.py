"""Benchmark: few-shot training, from scratch vs fine-tuned from the shipped synthetic-pretrained
light model, with k = 5, 10, 20, 50 images per class and 3 seeds.

"Real" data is stood in for by a held-out synthetic configuration never used for pretraining or
for tuning the fine-tuning recipe, a *different monitor*:

- difficulty 0.9 (pretraining: 0.6), so more nuisance: noise band, impulses, short and long
  records, second sources;
- a systematic phase-reference offset of +10 degrees and an amplitude calibration of x0.8 applied
  to every pulse (pretraining: centred offset, unit gain on average);
- the synthesizer's ``classic`` randomization (pretraining uses its default, ``wide``;
  ``--stand-in-randomization wide`` gives a stand-in with the pretraining's own priors);
- its own seeds: the training pool from seed 7000 + s, the test set (30 per class) from 8000.

For each k and seed s: k images per class drawn (seeded) from the pool; 20% of each class held
out for validation (at least one image); then

- ``scratch``: ``train(slice, arch="light", batch_size=16, epochs=12)`` with the default preset
  (one-cycle, peak lr 3e-3);
- ``finetuned``: ``train(slice, init=PRETRAINED, preset="finetune", epochs=12)`` (constant lr
  3e-4, stronger augmentation, early stopping with patience 6);

the same budget of 12 epochs each (the presets' own 15 and 30 would take the full run past 20
minutes on a busy 2-core machine).

and both are scored on the same test set. One torch thread. Prints a markdown table (mean +- sample
std over seeds) and writes every run to ``OUT/runs.jsonl`` as it finishes.

    python benchmarks/bench_fewshot.py -o bench-fewshot-out            # the full benchmark
    python benchmarks/bench_fewshot.py --quick -o /tmp/fewshot-quick   # smoke run, < 1 minute

Speed figures depend on the machine and its load; they are measured here, never asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from pd2java.training.data import PRODUCTS, Dataset, normalize_counts
from pd2java.training.data import synth as synth_module
from pd2java.training.finetune import few_shot, load_parent, pretrained_path
from pd2java.training.train import train

#: The stand-in "real" data: a monitor the pretraining never saw.
STAND_IN: dict[str, Any] = {
    "product": "gis",
    "difficulty": 0.9,
    "phase_offset_deg": 10.0,
    "amplitude_scale": 0.8,
    "randomization": "classic",  # --stand-in-randomization wide: the pretraining's own priors
    "pool_seed": 7000,
    "test_seed": 8000,
}


#: Images per class of each seed's training pool that the k images are drawn from.
POOL_PER_CLASS = 50


def stand_in(per_class: int, seed: int, spec: dict[str, Any] = STAND_IN) -> Dataset:
    """``per_class`` images per class of the stand-in monitor (see the module docstring)."""
    product = spec["product"]
    classes = PRODUCTS[product]
    images = np.empty((len(classes) * per_class, 60, 120), dtype=np.float32)
    labels = np.repeat(np.arange(len(classes), dtype=np.int64), per_class)
    slot = 0
    for c, name in enumerate(classes):
        for i in range(per_class):
            rng = synth_module.image_rng(seed, product, c, i)
            phase, amp = synth_module.record_pulses(
                product, name, rng, float(spec["difficulty"]), spec["randomization"]
            )
            phase = phase + spec["phase_offset_deg"]
            amp = amp * spec["amplitude_scale"]
            images[slot] = normalize_counts(synth_module.histogram(phase, amp))
            slot += 1
    return Dataset(images=images, labels=labels, classes=classes)


def accuracy(model: torch.nn.Module, data: Dataset) -> float:
    x = torch.from_numpy(data.images).unsqueeze(1)
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(x[i : i + 256]).argmax(1) for i in range(0, len(x), 256)])
    return float((pred.numpy() == data.labels).mean())


def run(
    ks: list[int],
    seeds: list[int],
    out: Path,
    *,
    pretrained: str,
    test_per_class: int,
    scratch_epochs: int | None,
    finetune_epochs: int | None,
    methods: tuple[str, ...] = ("scratch", "finetuned"),
    spec: dict[str, Any] = STAND_IN,
) -> list[dict[str, Any]]:
    out.mkdir(parents=True, exist_ok=True)
    log = out / "runs.jsonl"
    log.write_text("", encoding="utf-8")
    # A fixed pool per seed, so a run with other ks draws the same k images per class.
    pool_size = max(POOL_PER_CLASS, *ks)
    test = stand_in(test_per_class, spec["test_seed"], spec)
    options = {
        "scratch": {"arch": "light", "batch_size": 16, "epochs": scratch_epochs},
        "finetuned": {"init": pretrained, "preset": "finetune", "epochs": finetune_epochs},
    }
    # The pretrained model as it is, no fine-tuning (possible here: the stand-in has its classes).
    parent = load_parent(pretrained)
    zero_shot = {
        "k": 0,
        "seed": None,
        "method": "pretrained as is",
        "test_accuracy": accuracy(parent.checkpoint.build_model(), test),
    }
    rows: list[dict[str, Any]] = [zero_shot]
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(zero_shot) + "\n")
    jobs = [(s, k, m) for s in seeds for k in ks for m in methods]
    bar = tqdm(jobs, desc="few-shot runs", unit="run", dynamic_ncols=True)
    pools: dict[int, Dataset] = {}
    for seed, k, method in bar:
        bar.set_postfix(seed=seed, k=k, method=method)
        if seed not in pools:
            pools = {seed: stand_in(pool_size, spec["pool_seed"] + seed, spec)}
        data = few_shot(pools[seed], k, seed)
        started = time.perf_counter()
        ckpt = train(data, seed=seed, progress=False, threads=1, **options[method])
        seconds = time.perf_counter() - started
        row = {
            "k": k,
            "seed": seed,
            "method": method,
            "test_accuracy": accuracy(ckpt.build_model(), test),
            "val_accuracy": ckpt.metrics.get("val_accuracy"),
            "epochs_run": ckpt.metrics.get("epochs_run"),
            "best_epoch": ckpt.metrics.get("best_epoch"),
            "n_train": ckpt.metrics["n_train"],
            "n_val": ckpt.metrics["n_val"],
            "seconds": seconds,
        }
        rows.append(row)
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")
    bar.close()
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    def stats(values: list[float]) -> str:
        if not values:
            return "-"
        mean = 100 * statistics.mean(values)
        std = 100 * statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{mean:.1f}% +- {std:.1f}"

    lines = [
        (
            "| k per class | train/val images | scratch | fine-tuned | gain (points) "
            "| fine-tune epochs run | seconds (scratch / fine-tuned, mean) |"
        ),
        "|---|---|---|---|---|---|---|",
    ]
    for k in sorted({r["k"] for r in rows if r["k"] > 0}):
        by = {
            m: [r for r in rows if r["k"] == k and r["method"] == m]
            for m in ("scratch", "finetuned")
        }
        acc = {m: [r["test_accuracy"] for r in by[m]] for m in by}
        gain = "-"
        if acc["scratch"] and acc["finetuned"]:
            gain = f"{100 * (statistics.mean(acc['finetuned']) - statistics.mean(acc['scratch'])):+.1f}"
        epochs = "/".join(str(r["epochs_run"]) for r in by["finetuned"]) or "-"
        secs = " / ".join(
            f"{statistics.mean(r['seconds'] for r in by[m]):.0f}" if by[m] else "-" for m in by
        )
        first = (by["scratch"] or by["finetuned"])[0]
        lines.append(
            f"| {k} | {first['n_train']}/{first['n_val']} | {stats(acc['scratch'])} "
            f"| {stats(acc['finetuned'])} | {gain} | {epochs} | {secs} |"
        )
    seeds = sorted({r["seed"] for r in rows if r["seed"] is not None})
    lines.append("")
    lines.append(f"seeds: {', '.join(map(str, seeds))}; test accuracy on the stand-in monitor")
    for r in rows:
        if r["method"] == "pretrained as is":
            lines.append(f"pretrained model as is, no fine-tuning: {100 * r['test_accuracy']:.1f}%")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--out", type=Path, default=Path("bench-fewshot-out"))
    parser.add_argument("--ks", type=int, nargs="+", default=[5, 10, 20, 50])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--test-per-class", type=int, default=30)
    parser.add_argument(
        "--pretrained", default="gis", help="checkpoint to fine-tune (default: the shipped gis)"
    )
    parser.add_argument("--scratch-epochs", type=int, default=12, help="epochs from scratch (12)")
    parser.add_argument(
        "--finetune-epochs", type=int, default=12, help="most epochs fine-tuning (12)"
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        choices=("scratch", "finetuned"),
        default=["scratch", "finetuned"],
        help="which to run (default both)",
    )
    parser.add_argument(
        "--stand-in-randomization",
        choices=synth_module.RANDOMIZATIONS,
        default=STAND_IN["randomization"],
        help="the stand-in monitor's synthesizer randomization (default classic)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: k=3, one seed, 1 epoch, 2 test images"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.ks, args.seeds, args.test_per_class = [3], [0], 2
        args.scratch_epochs = args.finetune_epochs = 1
    torch.set_num_threads(1)
    path = None
    if args.pretrained in ("gis", "transformer"):
        shipped = pretrained_path(args.pretrained)
        path = shipped.relative_to(shipped.parent.parent.parent)  # pd2java/pretrained/NAME.pt
    spec = {**STAND_IN, "randomization": args.stand_in_randomization}
    started = time.perf_counter()
    rows = run(
        args.ks,
        args.seeds,
        args.out,
        pretrained=args.pretrained,
        test_per_class=args.test_per_class,
        scratch_epochs=args.scratch_epochs,
        finetune_epochs=args.finetune_epochs,
        methods=tuple(args.methods),
        spec=spec,
    )
    text = table(rows)
    minutes = (time.perf_counter() - started) / 60
    text += f"\npretrained: {path or args.pretrained}; stand-in: {json.dumps(spec)}"
    text += f"\n{minutes:.1f} min in all, one torch thread"
    (args.out / "table.md").write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
