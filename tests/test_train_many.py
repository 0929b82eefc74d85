"""``pd2java train-many``: one model per product, published atomically, resumed after an
interruption (a real run killed with SIGINT and SIGKILL), bad input refused, and the same task on
Dask's local cluster."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from pd2java.backends.manifest import load
from pd2java.cli import build_parser, main
from pd2java.errors import UserError
from pd2java.training.data import save_dataset, synthesize
from pd2java.training.train_many import MARKER, SUMMARY_JSON, SUMMARY_TXT, train_many

# Tiny and fast: lenet, one epoch, a handful of images per class.
FAST = {"arch": "lenet", "epochs": 1, "seed": 0, "threads": 1}
FAST_CLI = ["--arch", "lenet", "--epochs", "1", "--seed", "0", "-q"]


def _product(root: Path, name: str, kind: str, seed: int, per_class: int = 4) -> Path:
    ds = synthesize(kind, per_class=per_class, seed=seed)
    return save_dataset(ds, root / name, preview=False)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("products")
    _product(base, "gis-a", "gis", 0)
    _product(base, "trafo-b", "transformer", 1)
    return base


def _published(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.is_dir() and not p.name.startswith("."))


def _assert_complete(folder: Path) -> dict:
    manifests = list(folder.glob("*.manifest.json"))
    assert len(manifests) == 1, manifests  # what the Java ModelRegistry requires
    load(manifests[0])  # the strict reader: sizes, SHA-256, shapes, golden self-test
    marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    assert marker["product"] == folder.name
    return marker


def test_trains_exports_evaluates_and_resumes(root: Path, tmp_path: Path) -> None:
    out = tmp_path / "models"
    lines: list[str] = []
    result = train_many(root, out, progress=False, say=lines.append, **FAST)
    assert [r["product"] for r in result.rows] == ["gis-a", "trafo-b"] and not result.failures
    assert _published(out) == ["gis-a", "trafo-b"]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary left
    for row in result.rows:
        marker = _assert_complete(out / row["product"])
        assert row["status"] == "trained" and row["eval_split"] == "test"
        # The held-out images are set aside before training and are never trained on.
        assert row["n_train"] + row["n_val"] + row["n_test"] == row["images"]
        assert len(marker["test_sources"]) == row["n_test"] >= len(row["classes"])
        report = json.loads((out / row["product"] / "report" / "report.json").read_text())
        assert report["n"] == row["n_test"] and report["accuracy"] == row["accuracy"]
        assert (out / row["product"] / "report" / "index.html").is_file()
    assert len(result.rows[0]["classes"]) == 7 and len(result.rows[1]["classes"]) == 6
    summary = json.loads((out / SUMMARY_JSON).read_text(encoding="utf-8"))
    assert [p["product"] for p in summary["products"]] == ["gis-a", "trafo-b"]
    text = (out / SUMMARY_TXT).read_text(encoding="utf-8")
    assert "gis-a/gis_a.manifest.json" in text and "trafo-b" in text

    # Run again: both are finished, nothing is trained.
    stamp = (out / "gis-a" / MARKER).stat().st_mtime_ns
    again = train_many(root, out, progress=False, say=lines.append, **FAST)
    assert [r["status"] for r in again.rows] == ["kept", "kept"]
    assert (out / "gis-a" / MARKER).stat().st_mtime_ns == stamp

    # Other training options: everything is retrained (the marker records them).
    changed = train_many(root, out, progress=False, say=lines.append, **{**FAST, "seed": 1})
    assert [r["status"] for r in changed.rows] == ["trained", "trained"]


def test_changed_or_half_written_products_are_redone(root: Path, tmp_path: Path) -> None:
    out = tmp_path / "models"
    train_many(root, out, progress=False, say=lambda _: None, **FAST)
    # A product whose data changed, one whose folder lost a file, and a stale temporary.
    data = tmp_path / "root"
    for name in ("gis-a", "trafo-b"):
        _product(
            data, name, "gis" if name == "gis-a" else "transformer", 0 if name == "gis-a" else 1
        )
    first = data / "gis-a" / "void" / "0.npy"
    np.save(first, np.zeros((60, 120), np.float32))
    weights = next((out / "trafo-b").glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:-10])  # truncated
    (out / ".trafo-b.tmp").mkdir()
    (out / ".trafo-b.tmp" / "junk").write_text("half-written")
    result = train_many(data, out, progress=False, say=lambda _: None, **FAST)
    assert [r["status"] for r in result.rows] == ["trained", "trained"]
    assert not (out / ".trafo-b.tmp").exists()
    for name in ("gis-a", "trafo-b"):
        _assert_complete(out / name)
    assert json.loads((out / "gis-a" / MARKER).read_text())["data"] == str(data / "gis-a")


def test_bad_input_is_refused_before_any_training(tmp_path: Path) -> None:
    out = tmp_path / "out"
    empty_root = tmp_path / "empty"
    empty_root.mkdir()
    with pytest.raises(UserError, match="holds no product folders"):
        train_many(empty_root, out, **FAST)

    root = tmp_path / "root"
    _product(root, "good", "gis", 0)
    one = root / "one-class" / "void"
    one.mkdir(parents=True)
    np.save(one / "0.npy", np.zeros((60, 120), np.float32))
    empty_class = root / "empty-class"
    _product(root, "empty-class", "gis", 2)
    for f in (empty_class / "noise").iterdir():
        f.unlink()
    with pytest.raises(UserError) as caught:
        train_many(root, out, **FAST)
    text = str(caught.value)
    assert "2 of 3 product folder(s)" in text
    assert "product 'one-class'" in text and "needs at least 2" in text
    assert "product 'empty-class'" in text and "'noise' holds no images" in text
    assert not out.exists()  # nothing was written

    # A single dataset given as ROOT is named as such.
    with pytest.raises(UserError, match="looks like one dataset"):
        train_many(root / "good", out, **FAST)
    # Options are checked too.
    with pytest.raises(UserError, match="--jobs"):
        train_many(root, out, jobs=0, **FAST)


def test_cli_forwards_every_train_option(root: Path) -> None:
    parser = build_parser()
    verbs = parser._subparsers._group_actions[0].choices
    train_opts = {s for a in verbs["train"]._actions for s in a.option_strings}
    many_opts = {s for a in verbs["train-many"]._actions for s in a.option_strings}
    # Every option of pd2java train (including ones added later) is accepted by train-many,
    # except the output, which train-many owns.
    assert train_opts - {"-o", "--out"} <= many_opts


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.05)


@pytest.mark.parametrize("how", ["SIGINT", "SIGKILL"])
def test_an_interrupted_run_loses_no_finished_product(tmp_path: Path, how: str) -> None:
    root = tmp_path / "root"
    for i, (kind, per_class) in enumerate((("gis", 4), ("transformer", 8), ("gis", 8))):
        _product(root, f"p{i}", kind, i, per_class)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "pd2java", "train-many", str(root), "-o", str(out), *FAST_CLI]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # SIGINT to the serial run (as Ctrl-C would), SIGKILL to the whole process group of a
    # parallel run (parent and workers die at once, nothing gets to clean up); the re-run is
    # serial (one process pool per test file is enough on a 2-core machine).
    jobs = ["--jobs", "1"] if how == "SIGINT" else ["--jobs", "2"]
    proc = subprocess.Popen(
        command + jobs,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _wait_for(out / "p0" / MARKER, proc)
        if how == "SIGINT":
            proc.send_signal(signal.SIGINT)
        else:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode != 0
    marker = _assert_complete(out / "p0")
    # Whatever is published is complete; anything else is a dot-folder the registry ignores.
    for name in _published(out):
        _assert_complete(out / name)
    stamp = (out / "p0" / MARKER).stat().st_mtime_ns

    rerun = subprocess.run(
        command + ["--jobs", "1"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads((out / SUMMARY_JSON).read_text(encoding="utf-8"))
    status = {p["product"]: p["status"] for p in summary["products"]}
    assert status["p0"] == "kept" and set(status) == {"p0", "p1", "p2"}
    assert (out / "p0" / MARKER).stat().st_mtime_ns == stamp
    assert json.loads((out / "p0" / MARKER).read_text())["fingerprint"] == marker["fingerprint"]
    assert _published(out) == ["p0", "p1", "p2"]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    for name in ("p1", "p2"):
        _assert_complete(out / name)


def test_cli_reports_failures_and_summary(root: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert main(["train-many", str(root), "-o", str(out), *FAST_CLI, "--test-fraction", "0"]) == 0
    text = capsys.readouterr().out
    assert "validation" in text and "summary.txt" in text
    summary = json.loads((out / SUMMARY_JSON).read_text())
    assert {p["eval_split"] for p in summary["products"]} == {"validation"}
    assert main(["train-many", str(tmp_path / "missing"), "-o", str(out)]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_dask_local_cluster_runs_the_same_task(root: Path, tmp_path: Path) -> None:
    pytest.importorskip(
        "dask.distributed",
        reason="dask[distributed] is not installed (pip install 'pd2java[dask]')",
    )
    out = tmp_path / "out"
    result = train_many(root, out, dask="local", jobs=2, progress=False, say=lambda _: None, **FAST)
    assert not result.failures and [r["status"] for r in result.rows] == ["trained", "trained"]
    for name in ("gis-a", "trafo-b"):
        _assert_complete(out / name)
    serial = train_many(root, tmp_path / "serial", progress=False, say=lambda _: None, **FAST)
    # Same seed, same thread count: the Dask workers train the same weights as the serial run.
    for a, b in zip(result.rows, serial.rows, strict=True):
        assert a["accuracy"] == b["accuracy"]
        sha = [
            json.loads(next((base / a["product"]).glob("*.manifest.json")).read_text())["weights"][
                "sha256"
            ]
            for base in (out, tmp_path / "serial")
        ]
        assert sha[0] == sha[1]
