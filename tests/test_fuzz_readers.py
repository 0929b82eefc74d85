"""Seeded fuzzing of both readers: a damaged export is refused with a typed format error, never
with any other exception, a hang or a crash (docs/FORMAT.md, error codes).

Mutations of tests/golden/tiny.*: byte flips, truncations and insertions of the manifest JSON
and of the safetensors file, and JSON-structure mutations of the manifest (a value replaced by a
value of another type, a key deleted, a node duplicated or dropped). The Python reader
(``reference.load`` + self-test) may raise only ``FormatError``; the Java runtime (through the
py4j gateway) only ``Pd2JavaException`` with a code (``conformance.verdicts``). Seeds are fixed, so a failure reproduces.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conformance.verdicts import is_typed, java_verdict, python_verdict

GOLDEN = Path(__file__).parent / "golden"
MANIFEST = (GOLDEN / "tiny.manifest.json").read_bytes()
WEIGHTS = (GOLDEN / "tiny.safetensors").read_bytes()
PER_CALL_TIMEOUT_S = 20.0

_ODD_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    1.5,
    1e308,
    2**63,
    "",
    "x",
    [],
    [1],
    [1.0, 2],
    {},
    {"a": 1},
    "\u0000",
    [[[]]],
]


def _flip(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(b))
        b[i] = rng.choice([b[i] ^ (1 << rng.randrange(8)), rng.randrange(256)])
    return bytes(b)


def _truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(len(data))]


def _insert(data: bytes, rng: random.Random) -> bytes:
    i = rng.randrange(len(data) + 1)
    junk = rng.choice(
        [
            b"\0",
            b" ",
            b"\t",
            b"{",
            b"}",
            b"[",
            b'"',
            b",",
            b"1e999",
            b"NaN",
            bytes([rng.randrange(256)]),
        ]
    )
    return data[:i] + junk * rng.randint(1, 3) + data[i:]


BYTE_MUTATIONS: list[Callable[[bytes, random.Random], bytes]] = [_flip, _truncate, _insert]


def _paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (tuple of keys/indices) to a value inside ``obj``."""
    out = [prefix] if prefix else []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, (*prefix, i))
    return out


def _structure_mutation(obj: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    path = rng.choice(_paths(obj))
    parent: Any = obj
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    kind = rng.randrange(4)
    if kind == 0 or not isinstance(parent, (dict, list)):
        parent[last] = copy.deepcopy(rng.choice(_ODD_VALUES))
    elif kind == 1:
        del parent[last]
    elif kind == 2 and isinstance(parent, list):
        parent.insert(last, copy.deepcopy(parent[last]))
    else:
        parent[last] = copy.deepcopy(rng.choice(_ODD_VALUES))
    return obj


def _fix_weights(manifest: dict[str, Any], weights: bytes) -> None:
    w = manifest.get("weights")
    if isinstance(w, dict) and w.get("file") == "tiny.safetensors":
        w["bytes"] = len(weights)
        w["sha256"] = hashlib.sha256(weights).hexdigest()


def _cases(seed: int, count: int) -> list[tuple[str, bytes, bytes]]:
    """(description, manifest bytes, weights bytes)."""
    rng = random.Random(seed)
    base = json.loads(MANIFEST)
    out = []
    for i in range(count):
        what = rng.randrange(3)
        if what == 0:  # bytes of the manifest
            mut = rng.choice(BYTE_MUTATIONS)
            out.append((f"manifest {mut.__name__} #{i}", mut(MANIFEST, rng), WEIGHTS))
        elif what == 1:  # bytes of the weights; the manifest describes the damaged file
            mut = rng.choice(BYTE_MUTATIONS)
            weights = mut(WEIGHTS, rng)
            m = copy.deepcopy(base)
            _fix_weights(m, weights)
            out.append((f"weights {mut.__name__} #{i}", json.dumps(m).encode(), weights))
        else:  # structure of the manifest
            m = _structure_mutation(base, rng)
            _fix_weights(m, WEIGHTS)
            text = json.dumps(m, allow_nan=True).encode()
            out.append((f"structure #{i}", text, WEIGHTS))
    return out


def _write(folder: Path, manifest: bytes, weights: bytes) -> Path:
    folder.mkdir(parents=True)
    (folder / "tiny.safetensors").write_bytes(weights)
    path = folder / "tiny.manifest.json"
    path.write_bytes(manifest)
    return path


def _problem(verdict: Callable[[Path, float], str], path: Path) -> str | None:
    """None when the reader accepted or gave a typed refusal, else what went wrong."""
    v = verdict(path, PER_CALL_TIMEOUT_S)
    return None if is_typed(v) else v


@pytest.fixture(scope="module")
def fuzz_corpus(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, Path]]:
    root = tmp_path_factory.mktemp("fuzz")
    return [
        (desc, _write(root / f"c{i}", manifest, weights))
        for i, (desc, manifest, weights) in enumerate(_cases(seed=20240601, count=3000))
    ]


def test_python_reader_raises_only_format_errors(fuzz_corpus: list[tuple[str, Path]]) -> None:
    problems = []
    for desc, path in fuzz_corpus:
        problem = _problem(python_verdict, path)
        if problem:
            problems.append(f"{desc} ({path}): {problem}")
    assert not problems, f"{len(problems)} of {len(fuzz_corpus)} mutations:\n" + "\n".join(
        problems[:30]
    )


def test_java_reader_raises_only_pd2java_exceptions(fuzz_corpus: list[tuple[str, Path]]) -> None:
    problems = []
    for desc, path in fuzz_corpus:
        problem = _problem(java_verdict, path)
        if problem:
            problems.append(f"{desc} ({path}): {problem}")
    assert not problems, f"{len(problems)} of {len(fuzz_corpus)} mutations:\n" + "\n".join(
        problems[:30]
    )


def test_fuzz_cases_are_reproducible() -> None:
    assert _cases(7, 20) == _cases(7, 20)
