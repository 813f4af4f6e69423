"""recsys: music discovery from the Anna's Archive Spotify metadata alone, weighted towards the long tail.

Data flow: source (SQLite dump, CSV datasets, demo generator) -> :class:`Catalog` (Parquet + manifest)
-> features -> similarity model (``similar_items -> (ids, scores)``) -> long-tail layer -> app / CLI.
"""

__version__ = "0.1.0"

import os as _os

if "ARROW_DEFAULT_MEMORY_POOL" not in _os.environ:
    # Arrow's default allocator (mimalloc) keeps the pages of freed buffers for its own reuse: after a feature
    # build of 300k generated artists 258 MB stayed resident with nothing allocated, 6x what the system allocator
    # kept, and numpy and hnswlib cannot reuse them (benchmarks/README.md). Set the variable to choose another.
    import pyarrow as _pa

    _pa.set_memory_pool(_pa.system_memory_pool())

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
