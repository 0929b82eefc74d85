"""Train one model per product: ``pd2java train-many ROOT -o OUT``.

ROOT holds one dataset folder per product (``ROOT/<product>/<class>/<image>``, each as ``pd2java
train`` reads it, each with its own classes). For every product, :func:`run_product` (the
per-product task, also what a Dask worker runs) trains a model on a stratified share of the images,
exports it to ``OUT/<product>/`` (the layout of the Java ``ModelRegistry``: one folder per model
id, exactly one ``*.manifest.json`` in it), scores the export with the NumPy reference on the
held-out images and writes the model card; the parent writes ``OUT/summary.txt`` and
``OUT/summary.json``.

Held-out split: with ``test_fraction`` > 0 (0.2 by default) a stratified share of each class
(seeded by ``seed``; at least one image of every class with two or more) is set aside before
training and never seen by it; the rest is what ``train`` splits into training and validation.
With ``test_fraction=0`` the report scores the validation split, which also picked the best epoch,
so that figure is optimistic.

Publishing and resuming: a product is built in ``OUT/.<product>.tmp/`` (the registry ignores
names starting with ``.``) and moved to ``OUT/<product>/`` by renames only once it is complete;
its last file is ``train-many.json``, the done-marker, holding the dataset's fingerprint (SHA-256
over classes, image paths, labels and pixel values) and the options. A product whose folder holds
a marker with the same fingerprint and options and whose manifest's weights file has the size and
SHA-256 the manifest states is kept as it is; any other (new, changed, half-written) is trained
again. So an interrupted run loses no finished product: run the same command again.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import inspect
import json
import math
import os
import shutil
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pd2java.errors import UserError
from pd2java.fsutil import file_sha256
from pd2java.training.data.io import publish_dir

MARKER = "train-many.json"
MARKER_FORMAT = "pd2java.train-many"
CHECKPOINT_FILE = "model.pt"
REPORT_DIR = "report"
SUMMARY_TXT = "summary.txt"
SUMMARY_JSON = "summary.json"

# Options of ``pd2java train`` that train-many sets itself rather than forwarding.
_OWN_DESTS = {"data", "out", "help"}


@dataclass(frozen=True)
class ProductTask:
    """Everything one product's training needs; plain data, so it pickles to a worker process or
    a Dask worker on another machine (paths must then be on a shared file system)."""

    product: str
    data_dir: str
    out_root: str
    fingerprint: str
    options: dict[str, Any]
    train_kwargs: dict[str, Any] = field(default_factory=dict)
    progress: bool = False


@dataclass
class ProductResult:
    """One row of the summary."""

    product: str
    status: str  # "trained" or "kept" (finished in an earlier run)
    classes: list[str]
    images: int
    n_train: int
    n_val: int
    n_test: int
    eval_split: str  # "test" or "validation"
    accuracy: float | None
    parameters: int
    model_bytes: int  # the safetensors file
    manifest_bytes: int
    export: str  # OUT/<product>, relative to OUT
    manifest: str
    seconds: float
    fingerprint: str


# ---------------------------------------------------------------------------------------------
# Inputs


def find_products(root: str | os.PathLike[str]) -> list[Path]:
    """The product folders of ROOT (sub-folders not starting with ``.``), sorted by name.

    Refuses a missing ROOT, a ROOT with no product folders, and a ROOT that is itself one
    dataset (its sub-folders hold images directly)."""
    from pd2java.training.data.io import IMAGE_SUFFIXES

    base = Path(root)
    if not base.exists():
        raise UserError(f"{base}: folder of products does not exist")
    if not base.is_dir():
        raise UserError(
            f"{base}: is a file; give the folder holding one dataset folder per product"
        )
    products = sorted(
        (p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.name,
    )
    if not products:
        raise UserError(
            f"{base}: holds no product folders; train-many expects ROOT/<product>/<class>/<image> "
            "(one dataset folder per product)"
        )

    def holds_images_only(folder: Path) -> bool:
        entries = [e for e in folder.iterdir() if not e.name.startswith(".")]
        images = any(e.is_file() and e.suffix.lower() in IMAGE_SUFFIXES for e in entries)
        return images and not any(e.is_dir() for e in entries)

    direct = [p.name for p in products if holds_images_only(p)]
    if direct:
        raise UserError(
            f"{base}: sub-folder(s) {', '.join(direct)} hold images directly, so {base} looks like "
            "one dataset (one folder per class), not a folder of products; train it with "
            "pd2java train, or give train-many the folder that holds one dataset folder per product"
        )
    return products


def fingerprint(dataset: Any, base: Path) -> str:
    """SHA-256 over the dataset's classes and, per image, its path relative to ``base``, its
    label and its pixel values (float32): what training reads, whatever the file format."""
    h = hashlib.sha256()
    h.update(json.dumps(list(dataset.classes)).encode())
    for i in range(len(dataset)):
        source = dataset.sources[i] if dataset.sources else str(i)
        try:
            source = Path(source).relative_to(base).as_posix()
        except ValueError:
            pass
        h.update(f"\0{source}\0{int(dataset.labels[i])}\0".encode())
        h.update(dataset.images[i].tobytes())
    return h.hexdigest()


def load_product(path: Path) -> Any:
    """The product's dataset, or a UserError naming the product."""
    from pd2java.training.data import load_dataset

    try:
        return load_dataset(path)
    except UserError as exc:
        raise UserError(f"product {path.name!r}: {exc}") from None


def split_indices(labels: Any, test_fraction: float, seed: int) -> tuple[Any, Any]:
    """Training (train + validation) and held-out test indices, stratified (``stratified_split``
    with a seed of its own, so the test split does not follow the validation split)."""
    from pd2java.training.train import stratified_split

    if not 0.0 <= test_fraction < 1.0:
        raise UserError(f"--test-fraction must be in [0, 1), got {test_fraction}")
    return stratified_split(labels, test_fraction, seed + 7919)


# ---------------------------------------------------------------------------------------------
# Finished or not


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _manifest_of(folder: Path) -> Path | None:
    found = [
        p for p in folder.glob("*.manifest.json") if p.is_file() and not p.name.startswith(".")
    ]
    return found[0] if len(found) == 1 else None


def finished_marker(folder: Path, fingerprint_: str, options: Mapping[str, Any]) -> dict | None:
    """The done-marker of a product folder when the product is finished for this dataset and
    these options (export complete: one manifest, its weights file of the stated size and
    SHA-256); else None."""
    marker = _read_json(folder / MARKER)
    if not isinstance(marker, dict) or marker.get("format") != MARKER_FORMAT:
        return None
    if marker.get("fingerprint") != fingerprint_ or marker.get("options") != _plain(options):
        return None
    manifest = _manifest_of(folder)
    if manifest is None:
        return None
    weights = (_read_json(manifest) or {}).get("weights") or {}
    file = folder / str(weights.get("file", ""))
    if not weights.get("file") or not file.is_file():
        return None
    if file.stat().st_size != weights.get("bytes") or file_sha256(file) != weights.get("sha256"):
        return None
    return marker


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value))


# ---------------------------------------------------------------------------------------------
# The per-product task


def run_product(task: ProductTask) -> dict[str, Any]:
    """Train, export, evaluate and publish one product; returns its summary row (a dict).

    Self-contained, so a process pool or a Dask worker can run it: it reads the dataset, checks
    it still has the fingerprint the caller saw, works in ``OUT/.<product>.tmp`` and renames the
    finished folder to ``OUT/<product>``. Torch runs on ``train_kwargs["threads"]`` threads.
    """
    from pd2java.exporter import export_checkpoint, model_name
    from pd2java.training.checkpoint import save_checkpoint
    from pd2java.training.train import stratified_split, train

    started = time.perf_counter()
    data_dir = Path(task.data_dir)
    out_root = Path(task.out_root)
    dataset = load_product(data_dir)
    if fingerprint(dataset, data_dir) != task.fingerprint:
        raise UserError(
            f"product {task.product!r}: the dataset {data_dir} changed while train-many ran; "
            "run it again"
        )
    options = task.options
    seed = int(options.get("seed") or 0)
    test_fraction = float(options["test_fraction"])
    fit_idx, test_idx = split_indices(dataset.labels, test_fraction, seed)
    fit = dataset.subset(fit_idx)

    tmp = out_root / f".{task.product}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)  # a half-written product of an interrupted run
    tmp.mkdir(parents=True)
    try:
        kwargs = dict(task.train_kwargs)
        ckpt = train(fit, out=None, progress=task.progress, **kwargs)
        val_fraction = float(kwargs.get("val_fraction", 0.2))
        rel_test = [_relative(dataset.sources[i], data_dir) for i in test_idx]
        ckpt.recipe.update(
            {
                "data": str(data_dir),
                "train_many": {
                    "product": task.product,
                    "test_fraction": test_fraction,
                    "test_images": len(test_idx),
                    "fingerprint": task.fingerprint,
                },
            }
        )
        ckpt_path = save_checkpoint(ckpt, tmp / CHECKPOINT_FILE)
        manifest = export_checkpoint(
            ckpt_path,
            tmp,
            name=model_name(task.product),
            fold_bn=bool(options.get("fold_bn")),
            onnx=bool(options.get("onnx")),
            weights=str(options.get("weights") or "fp32"),
        )
        if len(test_idx):
            eval_set, eval_split = dataset.subset(test_idx), "test"
        else:  # the validation split train() used: same function, same seed, same images
            _, val_idx = stratified_split(fit.labels, val_fraction, int(kwargs.get("seed", 0)))
            eval_set, eval_split = fit.subset(val_idx), "validation"
        accuracy = None
        if len(eval_set):
            where = f"{eval_split} split of {data_dir} ({len(eval_set)} images)"
            report = _report(tmp, out_root / task.product, eval_set, where)
            accuracy = None if math.isnan(report.accuracy) else report.accuracy
        weights = json.loads(manifest.read_text(encoding="utf-8"))["weights"]
        result = ProductResult(
            product=task.product,
            status="trained",
            classes=list(dataset.classes),
            images=len(dataset),
            n_train=int(ckpt.metrics.get("n_train", 0)),
            n_val=int(ckpt.metrics.get("n_val", 0)),
            n_test=len(test_idx),
            eval_split=eval_split,
            accuracy=accuracy,
            parameters=int(ckpt.metrics.get("parameters", 0)),
            model_bytes=int(weights["bytes"]),
            manifest_bytes=manifest.stat().st_size,
            export=task.product,
            manifest=f"{task.product}/{manifest.name}",
            seconds=time.perf_counter() - started,
            fingerprint=task.fingerprint,
        )
        marker = {
            "format": MARKER_FORMAT,
            "product": task.product,
            "data": str(data_dir),
            "fingerprint": task.fingerprint,
            "options": _plain(options),
            "test_sources": rel_test,
            "result": asdict(result),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        from pd2java.fsutil import write_text_atomic

        write_text_atomic(tmp / MARKER, json.dumps(marker, indent=2) + "\n")  # written last
        publish_dir(tmp, out_root / task.product)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return asdict(result)


def _report(export: Path, final: Path, eval_set: Any, where: str) -> Any:
    """Score the export (NumPy reference, as Java runs it) on ``eval_set`` and write what
    ``pd2java evaluate -o`` writes into ``export/report``, naming the folder it will be
    published as rather than the temporary one."""
    from pd2java.fsutil import write_text_atomic
    from pd2java.report import write_model_card
    from pd2java.training.evaluate import _export_model, plot_confusion, predict_export, scores

    loaded = _export_model(export)
    classes = tuple(loaded.graph.classes)
    probs = predict_export(loaded, eval_set.images)  # the export's classes are the dataset's
    manifest = final / Path(loaded.path).name
    report = scores(
        eval_set.labels, probs.argmax(axis=1), classes, checkpoint=str(manifest), data=where
    )
    folder = export / REPORT_DIR
    folder.mkdir()
    write_text_atomic(folder / "report.txt", report.table() + "\n")
    write_text_atomic(folder / "report.json", json.dumps(report.to_dict(), indent=2) + "\n")
    plot_confusion(report, folder / "confusion.png")
    write_model_card(
        folder,
        export,
        dataset=eval_set,
        labels=eval_set.labels,
        probs=probs,
        report=report,
        title=final.name,
        location=str(final),
    )
    return report


def _relative(source: str, base: Path) -> str:
    try:
        return Path(source).relative_to(base).as_posix()
    except ValueError:
        return source


def _init_worker() -> None:
    """A pool worker: one torch thread (several workers share the cores)."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)


def _run_in_worker(task: ProductTask) -> dict[str, Any]:
    _init_worker()
    return run_product(task)


# ---------------------------------------------------------------------------------------------
# The whole run


@dataclass
class ManyResult:
    """What :func:`train_many` did: one row per product, in product order, and the failures."""

    out_dir: Path
    rows: list[dict[str, Any]]
    failures: dict[str, str]
    seconds: float

    def table(self) -> str:
        return summary_table(self.rows, self.failures)


def summary_table(rows: list[dict[str, Any]], failures: Mapping[str, str] | None = None) -> str:
    """The fixed-width summary table (``OUT/summary.txt``)."""
    head = ("product", "status", "classes", "images", "eval on", "accuracy", "params", "model")
    body = []
    for r in rows:
        acc = "-" if r["accuracy"] is None else f"{100 * r['accuracy']:.2f}%"
        body.append(
            (
                r["product"],
                r["status"],
                str(len(r["classes"])),
                str(r["images"]),
                f"{r['eval_split']} ({r['n_test'] if r['eval_split'] == 'test' else r['n_val']})",
                acc,
                f"{r['parameters']:,}",
                f"{r['model_bytes'] / 1024:,.0f} KB",
            )
        )
    extra = ("export", "seconds")
    lines_data = [
        (*b, r["manifest"], f"{r['seconds']:.1f}") for b, r in zip(body, rows, strict=True)
    ]
    header = (*head, *extra)
    widths = [max(len(h), *(len(row[i]) for row in lines_data)) for i, h in enumerate(header)]
    right = {2, 3, 5, 6, 7, 9}

    def fmt(cells: Iterable[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    out = [fmt(header), fmt("-" * w for w in widths)] + [fmt(row) for row in lines_data]
    for product, error in (failures or {}).items():
        out.append(f"FAILED {product}: {error}")
    return "\n".join(out)


def _write_summary(
    out: Path, rows: list[dict[str, Any]], failures: Mapping[str, str], options: Mapping[str, Any]
) -> None:
    from pd2java.fsutil import write_text_atomic
    from pd2java.training.checkpoint import library_versions

    ordered = sorted(rows, key=lambda r: r["product"])
    write_text_atomic(out / SUMMARY_TXT, summary_table(ordered, failures) + "\n")
    blob = {
        "format": "pd2java.train-many.summary",
        "options": _plain(options),
        "versions": library_versions(),
        "products": ordered,
        "failures": dict(failures),
    }
    write_text_atomic(out / SUMMARY_JSON, json.dumps(blob, indent=2) + "\n")


def _clean_leftovers(out: Path) -> None:
    """Remove half-written products and old versions left by an interrupted run."""
    for p in out.iterdir():
        if p.is_dir() and p.name.startswith(".") and (".tmp" in p.name or ".old-" in p.name):
            shutil.rmtree(p, ignore_errors=True)


@dataclass
class Plan:
    """What a run will do: the products to train (``tasks``, each a :class:`ProductTask` for
    :func:`run_product`) and the finished ones kept (``kept``: product -> summary row)."""

    out_dir: Path
    products: list[str]
    tasks: list[ProductTask]
    kept: dict[str, dict[str, Any]]
    options: dict[str, Any]


def plan(
    root: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    test_fraction: float = 0.2,
    onnx: bool = False,
    fold_bn: bool = False,
    weights: str = "fp32",
    progress: bool = False,
    **train_kwargs: Any,
) -> Plan:
    """Check every product of ``root`` and decide which to train into ``out_dir`` (finished ones
    are kept, see the module docstring). Creates ``out_dir`` and removes what an interrupted run
    left in it. Bad input is a UserError naming every bad product; nothing is trained here.

    ``train_kwargs`` go to :func:`pd2java.training.train.train` (arch, preset, epochs, seed,
    ...; ``threads`` defaults to 1)."""
    from pd2java.training.train import train

    if weights not in ("fp32", "fp16", "int8"):
        raise UserError(f"--weights must be fp32, fp16 or int8, got {weights!r}")
    accepted = set(inspect.signature(train).parameters) - {"data", "out", "progress"}
    unknown = sorted(set(train_kwargs) - accepted)
    if unknown:
        raise UserError(f"train() takes no option(s) {', '.join(unknown)}")
    train_kwargs = {"threads": 1, **{k: v for k, v in train_kwargs.items() if v is not None}}
    seed = int(train_kwargs.get("seed", 0))
    if not 0.0 <= test_fraction < 1.0:
        raise UserError(f"--test-fraction must be in [0, 1), got {test_fraction}")

    products = find_products(root)
    out = Path(out_dir).absolute()
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: output path is a file; give a folder")
    if Path(root).absolute() == out or out.is_relative_to(Path(root).absolute()):
        raise UserError(f"{out}: the output folder must not be inside the folder of products")
    names = [p.name for p in products]
    if out.is_dir() and any(out.iterdir()):
        ours = (out / SUMMARY_JSON).exists() or any((out / n / MARKER).exists() for n in names)
        if not ours:
            raise UserError(
                f"{out}: folder exists, is not empty and was not written by train-many (no "
                f"{SUMMARY_JSON}); choose a new output folder"
            )

    # Check every product before anything is trained.
    errors: list[str] = []
    datasets: dict[str, Any] = {}
    for p in products:
        try:
            datasets[p.name] = load_product(p)
        except UserError as exc:
            errors.append(str(exc))
    if errors:
        raise UserError(
            f"{len(errors)} of {len(products)} product folder(s) in {root} cannot be trained:\n  "
            + "\n  ".join(errors)
        )
    # Training options recorded in the marker: a change of any of them retrains.
    options = {
        **{k: v for k, v in train_kwargs.items() if k != "threads"},
        "seed": seed,
        "test_fraction": test_fraction,
        "onnx": onnx,
        "fold_bn": fold_bn,
        "weights": weights,
    }
    out.mkdir(parents=True, exist_ok=True)
    _clean_leftovers(out)

    kept: dict[str, dict[str, Any]] = {}
    tasks: list[ProductTask] = []
    for p in products:
        fp = fingerprint(datasets.pop(p.name), p)
        marker = finished_marker(out / p.name, fp, options)
        if marker is not None:
            kept[p.name] = {**marker["result"], "status": "kept"}
            continue
        tasks.append(
            ProductTask(
                product=p.name,
                data_dir=str(p.absolute()),
                out_root=str(out),
                fingerprint=fp,
                options=options,
                train_kwargs=train_kwargs,
                progress=progress,
            )
        )
    return Plan(out, names, tasks, kept, options)


def train_many(
    root: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    jobs: int = 1,
    test_fraction: float = 0.2,
    onnx: bool = False,
    fold_bn: bool = False,
    weights: str = "fp32",
    dask: str | None = None,
    progress: bool = True,
    say: Callable[[str], None] | None = None,
    **train_kwargs: Any,
) -> ManyResult:
    """Train, export and evaluate one model per product folder of ``root`` into ``out_dir``
    (:func:`plan`, then :func:`run_product` per product) and write the summary.

    ``jobs`` products run at once in spawned processes (one torch thread each); ``dask``
    (``"local"`` or a scheduler address) runs them on a Dask cluster instead. ``progress`` shows
    the training progress bar (serial runs only).
    """
    started = time.perf_counter()
    say = say or (lambda text: print(text, flush=True))
    if jobs < 1:
        raise UserError(f"--jobs must be at least 1, got {jobs}")
    planned = plan(
        root,
        out_dir,
        test_fraction=test_fraction,
        onnx=onnx,
        fold_bn=fold_bn,
        weights=weights,
        progress=progress and jobs == 1 and dask is None,
        **train_kwargs,
    )
    out, names, tasks, options = planned.out_dir, planned.products, planned.tasks, planned.options
    rows: dict[str, dict[str, Any]] = dict(planned.kept)
    failures: dict[str, str] = {}
    total = len(names)
    kept = sorted(rows)
    if kept:
        say(f"kept {len(kept)} finished product(s): {', '.join(kept)}")
    say(
        f"training {len(tasks)} of {total} product(s)"
        + (f" on Dask ({dask})" if dask else f", {jobs} at a time" if jobs > 1 else "")
    )

    done = len(rows)

    def finished(task: ProductTask, row: dict[str, Any] | None, error: str | None) -> None:
        nonlocal done
        done += 1
        if row is not None:
            rows[task.product] = row
            acc = "-" if row["accuracy"] is None else f"{100 * row['accuracy']:.2f}%"
            say(
                f"[{done}/{total}] {task.product}: {row['eval_split']} accuracy {acc}, "
                f"{row['model_bytes'] / 1024:,.0f} KB, {row['seconds']:.1f} s -> "
                f"{out / row['manifest']}"
            )
        else:
            failures[task.product] = error or "failed"
            say(f"[{done}/{total}] {task.product}: FAILED: {error}")
        _write_summary(out, list(rows.values()), failures, options)

    if dask is not None:
        _run_dask(tasks, dask, jobs, finished)
    elif jobs == 1 or len(tasks) <= 1:
        for task in tasks:
            say(f"[{done + 1}/{total}] {task.product}: training")
            try:
                row = run_product(task)
            except UserError as exc:
                finished(task, None, str(exc))
            else:
                finished(task, row, None)
    else:
        _run_pool(tasks, jobs, finished)
    _write_summary(out, list(rows.values()), failures, options)
    ordered = [rows[n] for n in names if n in rows]
    return ManyResult(out, ordered, failures, time.perf_counter() - started)


def _run_pool(
    tasks: list[ProductTask],
    jobs: int,
    finished: Callable[[ProductTask, dict[str, Any] | None, str | None], None],
) -> None:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=min(jobs, len(tasks)), mp_context=context, initializer=_init_worker
    ) as pool:
        pending = {pool.submit(run_product, t): t for t in tasks}
        try:
            while pending:
                ready, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in ready:
                    task = pending.pop(future)
                    try:
                        finished(task, future.result(), None)
                    except UserError as exc:
                        finished(task, None, str(exc))
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _run_dask(
    tasks: list[ProductTask],
    scheduler: str,
    jobs: int,
    finished: Callable[[ProductTask, dict[str, Any] | None, str | None], None],
) -> None:
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise UserError("--dask needs dask.distributed: pip install 'pd2java[dask]'") from None
    if not tasks:
        return
    cluster = None
    if scheduler == "local":
        cluster = LocalCluster(
            n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = Client(cluster)
    else:
        try:
            client = Client(scheduler, timeout=30)
        except OSError as exc:
            raise UserError(f"cannot reach the Dask scheduler {scheduler}: {exc}") from None
    try:
        futures = client.map(
            _run_in_worker, tasks, pure=False, key=[f"pd2java-{t.product}" for t in tasks]
        )
        by_key = {f.key: t for f, t in zip(futures, tasks, strict=True)}
        for future in as_completed(futures):
            task = by_key[future.key]
            try:
                finished(task, future.result(), None)
            except UserError as exc:
                finished(task, None, str(exc))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# ---------------------------------------------------------------------------------------------
# CLI


def _train_actions() -> list[argparse.Action]:
    """The options of ``pd2java train``, read from its own parser, so every training option it
    has (now or later) is accepted by train-many too."""
    scratch = argparse.ArgumentParser(add_help=False)
    sub = scratch.add_subparsers()
    importlib.import_module("pd2java.training.commands").add_commands(sub)
    train_parser = sub.choices["train"]
    return [a for a in train_parser._actions if a.option_strings and a.dest not in _OWN_DESTS]


def _run(args: argparse.Namespace) -> int:
    from pd2java.training.train import train

    accepted = set(inspect.signature(train).parameters)
    train_kwargs: dict[str, Any] = {}
    for action in args.train_actions:
        value = getattr(args, action.dest, None)
        if action.dest == "quiet":
            continue
        if action.dest in accepted:
            train_kwargs[action.dest] = value
        elif value != action.default:
            raise UserError(
                f"train-many cannot forward {'/'.join(action.option_strings)} to training "
                f"(train() takes no {action.dest!r} parameter)"
            )
    result = train_many(
        args.root,
        args.out,
        jobs=args.jobs,
        test_fraction=args.test_fraction,
        onnx=args.onnx,
        fold_bn=args.fold_bn,
        weights=args.weights,
        dask=args.dask,
        progress=not args.quiet,
        **train_kwargs,
    )
    print()
    print(result.table())
    print(f"\nwrote {result.out_dir / SUMMARY_TXT} and {SUMMARY_JSON} ({result.seconds:.0f} s)")
    if result.failures:
        raise UserError(
            f"{len(result.failures)} product(s) failed: {', '.join(result.failures)} "
            "(the others are published; run the command again after fixing them)"
        )
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``train-many``."""
    p = subparsers.add_parser(
        "train-many",
        help="train, export and evaluate one model per product folder",
        description="Train one model per product sub-folder of ROOT (each a dataset folder as "
        "pd2java train reads it), export each to OUT/<product>/ (the Java ModelRegistry layout), "
        "score it on a held-out split and write OUT/summary.txt and summary.json. Finished "
        "products are kept when the command is run again.",
    )
    p.add_argument("root", help="folder with one dataset folder per product")
    p.add_argument("-o", "--out", type=Path, required=True, help="output folder (registry root)")
    p.add_argument("--jobs", type=int, default=1, help="products trained at once (processes)")
    p.add_argument(
        "--test-fraction",
        type=float,
        default=0.2,
        help="share of each class held out for the report (0.2); 0 scores the validation split",
    )
    p.add_argument("--onnx", action="store_true", help="also write ONNX files")
    p.add_argument("--fold-bn", action="store_true", help="fold batch norm into convolutions")
    p.add_argument(
        "--weights", default="fp32", choices=("fp32", "fp16", "int8"), help="stored weights"
    )
    p.add_argument(
        "--dask",
        metavar="SCHEDULER",
        help="run the products on a Dask cluster: a scheduler address (tcp://host:8786) or "
        "'local' for a LocalCluster of --jobs worker processes (pip install 'pd2java[dask]')",
    )
    group = p.add_argument_group("training options (as pd2java train; threads default to 1)")
    actions = _train_actions()
    for action in actions:
        group._add_action(action)
    p.set_defaults(func=_run, train_actions=actions)
