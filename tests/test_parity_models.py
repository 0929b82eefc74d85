"""Parity over a real JVM for both zoo models (fp32, with and without BN folding).

Random initialisation with randomised BN statistics (so BN is not the identity and folding has
something to fold); inputs are synthetic PRPD images plus uniform noise. Java must match PyTorch
and the NumPy reference within 1e-5 abs + 1e-4 rel with the same argmax, on both kernel families
(the Vector API kernels and the scalar ones; conftest.java_kernels), each export made once. Also covers the bridge
itself: one JVM reused across calls, the model cache following a re-export, typed Java errors.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from conftest import KERNEL_FAMILIES
from corpus import randomize_bn
from helpers import assert_close

from pd2java.backends import reference
from pd2java.backends.java import bridge
from pd2java.backends.java.bridge import JavaError, java_layers, java_predict
from pd2java.errors import UserError
from pd2java.exporter import export
from pd2java.training.data import PRODUCTS, synthesize
from pd2java.training.models import build_model

GIS = list(PRODUCTS["gis"])


def _inputs() -> np.ndarray:
    ds = synthesize("gis", per_class=1, seed=3)
    prpd = ds.images[[0, 2, 3, 4, 6], None, :, :]
    noise = np.random.default_rng(5).uniform(0, 1, (2, 1, 60, 120)).astype(np.float32)
    return np.ascontiguousarray(np.concatenate([prpd, noise]), dtype=np.float32)


@pytest.fixture(scope="module")
def inputs() -> np.ndarray:
    return _inputs()


@pytest.mark.parametrize("java_kernels", KERNEL_FAMILIES, indirect=True, scope="module")
@pytest.mark.parametrize("fold_bn", [False, True], ids=["fp32", "fold_bn"])
@pytest.mark.parametrize("arch", ["lenet", "light"])
def test_zoo_model_java_matches_torch_and_reference(
    parity_cache, inputs, arch, fold_bn, java_kernels
):
    def prepare(folder):
        torch.manual_seed(11)
        model = randomize_bn(build_model(arch, GIS), seed=12).eval()
        manifest = export(
            model,
            folder,
            input_shape=(1, 60, 120),
            classes=GIS,
            name=f"zoo_{arch}",
            fold_bn=fold_bn,
            onnx=False,
        )
        transforms = json.loads(manifest.read_text())["transforms"]
        # recorded only where a conv + batch norm pair was folded; LeNet has no batch norm
        assert ("fold_bn" in transforms) == (fold_bn and arch == "light")
        with torch.no_grad():
            expected = model(torch.from_numpy(inputs)).numpy()
        return manifest, expected, reference.run(manifest, inputs)

    manifest, expected, ref = parity_cache(f"zoo_{arch}_{fold_bn}", prepare)
    got = java_predict(manifest, inputs)
    java_kernels.check(manifest)
    assert got.shape == (len(inputs), len(GIS))
    what = f"{arch} fold_bn={fold_bn} ({java_kernels} kernels)"
    assert_close(got, expected, what=f"{what}: Java vs PyTorch")
    assert_close(got, ref, what=f"{what}: Java vs NumPy reference")
    # The typed model info the gateway reports matches the manifest.
    info = bridge.model_info(manifest)
    assert info.classes == tuple(GIS)
    assert info.input_shape == (1, 60, 120)
    assert info.output_shape == (len(GIS),)


def _tiny(seed: int, classes: int = 3) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1),
        torch.nn.BatchNorm2d(4),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(4, classes),
        torch.nn.Softmax(dim=1),
    ).eval()


@pytest.mark.parametrize("java_kernels", KERNEL_FAMILIES, indirect=True, scope="module")
def test_layer_outputs_match_reference_node_by_node(tmp_path, java_kernels):
    model = randomize_bn(_tiny(1), seed=2)
    manifest = export(model, tmp_path, input_shape=(1, 6, 8), name="tiny", onnx=False)
    x = np.random.default_rng(0).standard_normal((1, 1, 6, 8)).astype(np.float32)
    java = java_layers(manifest, x)
    java_kernels.check(manifest)
    ref = reference.run_layers(manifest, x)
    assert list(java) == list(ref)  # same nodes, same (topological) order
    for node, value in ref.items():
        assert_close(java[node], value.reshape(-1), what=f"node {node}")


def test_one_jvm_is_reused_and_a_reexport_is_picked_up(tmp_path):
    x = np.random.default_rng(1).standard_normal((2, 1, 6, 8)).astype(np.float32)
    first = export(_tiny(1), tmp_path, input_shape=(1, 6, 8), name="m", onnx=False)
    a = java_predict(first, x)
    jvm = bridge._get_jvm()
    pid = jvm.proc.pid
    # Same path, different weights: the gateway's cache must notice (mtime/size) and reload.
    second_model = _tiny(2)
    second = export(second_model, tmp_path, input_shape=(1, 6, 8), name="m", onnx=False)
    assert second == first
    b = java_predict(second, x)
    assert bridge._get_jvm().proc.pid == pid
    with torch.no_grad():
        assert_close(b, second_model(torch.from_numpy(x)).numpy(), what="after re-export")
    assert np.abs(a - b).max() > 1e-3


def test_a_dead_jvm_is_replaced_on_the_next_call(tmp_path):
    manifest = export(_tiny(5), tmp_path, input_shape=(1, 6, 8), name="m", onnx=False)
    x = np.zeros((1, 1, 6, 8), np.float32)
    before = java_predict(manifest, x)
    jvm = bridge._get_jvm()
    jvm.proc.kill()  # the JVM this test process started (by its Popen handle, not by name)
    jvm.proc.wait(timeout=10)
    after = java_predict(manifest, x)
    assert bridge._get_jvm().proc.pid != jvm.proc.pid
    assert_close(after, before, what="after a JVM restart")


def test_the_jvm_dies_with_the_python_process(tmp_path):
    manifest = export(_tiny(6), tmp_path, input_shape=(1, 6, 8), name="m", onnx=False)
    script = (
        "import numpy as np, sys\n"
        "from pd2java.backends.java import bridge\n"
        f"bridge.java_predict({str(manifest)!r}, np.zeros((1, 1, 6, 8), np.float32))\n"
        "print(bridge._get_jvm().proc.pid, flush=True)\n"
        "import os; os._exit(0)  # no atexit: the JVM must still notice and exit\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    pid = int(out.stdout.strip().splitlines()[-1])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.2)
    assert not _alive(pid), f"JVM {pid} outlived its Python process"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: existence check only, nothing is sent
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as dead.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_java_errors_come_back_typed(tmp_path):
    manifest = export(_tiny(3), tmp_path, input_shape=(1, 6, 8), name="bad", onnx=False)
    java_predict(manifest, np.zeros((1, 1, 6, 8), np.float32))  # loads and caches the model
    weights = tmp_path / "bad.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01  # one flipped bit in the last weight; the cache must notice the change
    weights.write_bytes(bytes(data))
    with pytest.raises(JavaError) as info:
        java_predict(manifest, np.zeros((1, 1, 6, 8), np.float32))
    assert info.value.code == "WEIGHTS_CHECKSUM_MISMATCH"
    assert "bad.safetensors" in str(info.value)
    assert info.value.java_class == "org.pd2java.runtime.Pd2JavaException"


def test_wrong_input_shape_is_a_clear_error(tmp_path):
    manifest = export(_tiny(4), tmp_path, input_shape=(1, 6, 8), name="m", onnx=False)
    with pytest.raises(UserError, match=r"\(1, 1, 6, 9\).*\(N, 1, 6, 8\)"):
        java_predict(manifest, np.zeros((1, 1, 6, 9), np.float32))
    with pytest.raises(JavaError, match="missing.manifest.json") as missing:
        java_predict(tmp_path / "missing.manifest.json", np.zeros((1, 1, 6, 8), np.float32))
    assert missing.value.code == "IO_ERROR"
