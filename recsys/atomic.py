"""Write-then-rename helpers, so an interrupted or failed job never leaves a half-written output.

A directory output is built in a hidden sibling ``.NAME.tmp-XXXX`` and renamed into place only when the
``with`` block finishes without an exception. ``KeyboardInterrupt`` counts as an exception: Ctrl-C removes the
temporary directory and leaves any existing output as it was.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import OutputExistsError

__all__ = ["atomic_dir", "atomic_file", "write_json_atomic", "sha256_file"]


@contextlib.contextmanager
def atomic_dir(out: str | os.PathLike, *, force: bool = False, what: str = "output") -> Iterator[Path]:
    """Yield a temporary directory that becomes ``out`` when the block succeeds.

    Parameters
    ----------
    out : path
        Final directory.
    force : bool
        Replace an existing ``out``. Without it an existing ``out`` raises :class:`OutputExistsError`
        before any work starts.
    what : str
        Word used in messages ("catalog", "model", ...).
    """
    out = Path(out)
    if out.exists() and not force:
        raise OutputExistsError(
            f"{what} path {str(out)!r} already exists",
            hint="choose another path, or pass --force (force=True) to replace it",
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        yield tmp
        if out.exists():
            # Swap via a second rename so the old output survives until the new one is complete.
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            old.rmdir()
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def atomic_file(out: str | os.PathLike, *, force: bool = True, what: str = "output") -> Iterator[Path]:
    """Yield a temporary file path in ``out``'s directory that replaces ``out`` when the block succeeds."""
    out = Path(out)
    if out.exists() and not force:
        raise OutputExistsError(f"{what} file {str(out)!r} already exists", hint="pass --force to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{out.name}.tmp-", dir=out.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json_atomic(path: str | os.PathLike, obj: object) -> None:
    """Write ``obj`` as indented UTF-8 JSON via a temporary file."""
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n", encoding="utf-8")


def sha256_file(path: str | os.PathLike, *, chunk: int = 1 << 22) -> str:
    """Hex SHA-256 of a file, read in 4 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
