"""Atomic file writes, shared by every writer in pd2java, and the check that a path can be
created, made before any work is done.

A file is written under a temporary name in its target folder (same file system, so the rename is
atomic) and renamed into place only once it is complete; on any failure the temporary file is
removed and the target is left as it was.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pd2java.errors import UserError


@contextmanager
def atomic_path(target: str | os.PathLike[str], *, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it over ``target`` if the block succeeds.

    ``suffix`` lets writers that pick a format from the extension (matplotlib) see the right one.
    """
    target = Path(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_can_create(path: Path, refusal: str, *, folder_word: str = "") -> None:
    """Refuse a ``path`` that cannot be created: its nearest existing ancestor must be a folder
    this process can write into. Each message is ``refusal`` (``"cannot write X"``), a colon and
    the reason; ``folder_word`` is put before the ancestor in the not-writable reason."""
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UserError(f"{refusal}: {ancestor} is not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise UserError(f"{refusal}: {folder_word}{ancestor} is not writable")


def write_bytes_atomic(target: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def write_text_atomic(target: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` with ``\\n`` line ends to ``target`` atomically."""
    with atomic_path(target) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)
    return Path(target)


def replace_marked_block(path: str | os.PathLike[str], begin: str, end: str, block: str) -> Path:
    """Replace the text of ``path`` from marker ``begin`` through marker ``end`` by ``block``
    (which carries the markers again), atomically: how benchmarks record their results in docs.
    Refuses a file without both markers."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if begin not in text or end not in text:
        raise UserError(f"{path}: markers {begin} / {end} not found")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return write_text_atomic(path, head + block + tail)


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file's bytes, as lowercase hex, read one MiB at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
