"""Saving and loading fitted models: ``model.json`` + ``arrays.npz``, never pickle.

A model directory holds ``model.json`` (format name and version, the model's registry name, its constructor
parameters, free-form metadata such as the catalog it was built from, and the SHA-256 of the arrays file) and
``arrays.npz`` (the fitted state, loaded with ``allow_pickle=False``). Only classes in
:data:`recsys.models.base.MODEL_REGISTRY` can be constructed, so a file from a stranger cannot run code.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import atomic_dir, sha256_file
from .errors import ModelFileError
from .mapped import map_npz, write_npz
from .models import MODEL_REGISTRY, SimilarityModel

__all__ = ["MODEL_FORMAT", "MODEL_FORMAT_VERSION", "save_model", "load_model", "read_model_info",
           "read_versioned_json"]

MODEL_FORMAT = "recsys-model"
MODEL_FORMAT_VERSION = 1
_INFO, _ARRAYS = "model.json", "arrays.npz"


def save_model(model: SimilarityModel, path: str | os.PathLike, *, metadata: dict[str, Any] | None = None,
               force: bool = False) -> Path:
    """Write a fitted model to directory ``path`` (atomically; refused if it exists unless ``force``)."""
    model._require_fitted()
    state = model._get_state()
    with atomic_dir(path, force=force, what="model") as tmp:
        write_npz(tmp / _ARRAYS, {"n_items_": np.array(model.n_items_), **state})
        info = {
            "format": MODEL_FORMAT,
            "format_version": MODEL_FORMAT_VERSION,
            "model": model.name,
            "params": model.get_params(),
            "arrays": _ARRAYS,
            "arrays_sha256": sha256_file(tmp / _ARRAYS),
            "metadata": metadata or {},
        }
        (tmp / _INFO).write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return Path(path)


def read_versioned_json(path: str | os.PathLike, name: str, fmt: str, version: int) -> dict[str, Any]:
    """Read ``path/name``, a JSON object with ``format == fmt`` and ``format_version == version``.

    Raises :class:`ModelFileError` naming the file and what is wrong (no such directory or file, not JSON, another
    format, another version).
    """
    p = Path(path)
    ipath = p / name
    if not p.is_dir() or not ipath.is_file():
        raise ModelFileError(f"{str(p)!r} is not a model directory (no {name})",
                             hint="build one with `recsys build CATALOG --model NAME --out DIR`")
    try:
        info = json.loads(ipath.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelFileError(f"{str(ipath)!r} is not valid JSON ({e})", hint="rebuild it with `recsys build`") from e
    if not isinstance(info, dict) or info.get("format") != fmt:
        raise ModelFileError(f"{str(ipath)!r} is not a {fmt} file", hint="rebuild it with `recsys build`")
    if info.get("format_version") != version:
        raise ModelFileError(f"{str(ipath)!r} has format version {info.get('format_version')!r}; this recsys reads "
                             f"version {version}", hint="rebuild it with this recsys")
    return info


def read_model_info(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check ``model.json`` of a model directory (format, version, known model)."""
    info = read_versioned_json(path, _INFO, MODEL_FORMAT, MODEL_FORMAT_VERSION)
    if info.get("model") not in MODEL_REGISTRY:
        raise ModelFileError(f"{str(Path(path) / _INFO)!r} names an unknown model {info.get('model')!r}; known: "
                             f"{sorted(MODEL_REGISTRY)}", hint="rebuild the model, or upgrade recsys")
    return info


def load_model(path: str | os.PathLike) -> tuple[SimilarityModel, dict[str, Any]]:
    """Load a model directory. Returns ``(model, info)`` where ``info`` is the parsed ``model.json``."""
    p = Path(path)
    info = read_model_info(p)
    apath = p / info.get("arrays", _ARRAYS)
    if not apath.is_file():
        raise ModelFileError(f"model directory {str(p)!r} lacks {apath.name}", hint="rebuild the model")
    if sha256_file(apath) != info.get("arrays_sha256"):
        raise ModelFileError(f"{str(apath)!r} does not match the checksum in {_INFO}: damaged or altered",
                             hint="rebuild the model")
    cls = MODEL_REGISTRY[info["model"]]
    try:
        model = cls(**info.get("params", {}))
    except TypeError as e:
        raise ModelFileError(f"{str(p)!r}: parameters do not fit {cls.__name__}: {e}", hint="rebuild the model") from e
    # Arrays are read from the file when the model asks for each one (np.load's NpzFile is a lazy mapping), so a
    # model can let go of a big array (HNSW's graph bytes) before it reads the next.
    try:
        with np.load(apath, allow_pickle=False) as z:
            # the arrays a model reads through a memory map (HNSW's rows, the size of X) stay on disk until used
            mapped = map_npz(apath, [n for n in getattr(cls, "_mapped_arrays", ()) if f"{n}.npy" in z.zip.namelist()])
            model._set_state(_Arrays(z, mapped))
            model.n_items_ = int(z["n_items_"])
    except (ValueError, OSError, KeyError, zipfile.BadZipFile) as e:  # damaged, or arrays missing
        raise ModelFileError(f"cannot read {str(apath)!r}: {e}", hint="rebuild the model") from e
    return model, info


class _Arrays(Mapping):
    """A saved model's arrays by name: the memory-mapped ones, else read from the archive when asked for."""

    def __init__(self, npz: Any, mapped: dict[str, np.ndarray]) -> None:
        self._npz, self._mapped = npz, mapped

    def __getitem__(self, name: str) -> np.ndarray:
        return self._mapped[name] if name in self._mapped else self._npz[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._npz.files)

    def __len__(self) -> int:
        return len(self._npz.files)

    def __contains__(self, name: object) -> bool:
        return name in self._npz.files

