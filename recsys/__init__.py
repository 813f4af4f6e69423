"""recsys: music discovery from the Anna's Archive Spotify metadata alone, weighted towards the long tail.

Data flow: source (SQLite dump, CSV datasets, demo generator) -> :class:`Catalog` (Parquet + manifest)
-> features -> similarity model (``similar_items -> (ids, scores)``) -> long-tail layer -> app / CLI.
"""

__version__ = "0.1.0"

import os as _os

# Arrow's default allocator (mimalloc) keeps the pages of freed buffers in the heaps of the threads that
# allocated them (Arrow's readers), where numpy and hnswlib cannot reuse them and release_unused() does not reach:
# a feature build of 300k generated artists peaked at 792 MB and kept 293 MB resident afterwards, with the system
# allocator 563 and 63 MB (benchmarks/README.md). Arrow reads the variable when it first allocates, so this holds
# unless Arrow was used before recsys was imported; set the variable yourself to choose another.
_os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

from .catalog import Catalog, CatalogWriter, EntityIndex  # noqa: E402
from .errors import (  # noqa: E402
    AmbiguousNameError,
    CatalogError,
    DataError,
    ModelFileError,
    NotFittedError,
    RecsysError,
    SchemaError,
    SourceError,
    UnknownIdError,
)

__all__ = [
    "__version__",
    "Catalog",
    "CatalogWriter",
    "EntityIndex",
    "RecsysError",
    "SourceError",
    "SchemaError",
    "DataError",
    "CatalogError",
    "UnknownIdError",
    "AmbiguousNameError",
    "NotFittedError",
    "ModelFileError",
]
