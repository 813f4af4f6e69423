"""recsys: music discovery from the Anna's Archive Spotify metadata alone, weighted towards the long tail.

Data flow: source (SQLite dump, CSV datasets, demo generator) -> :class:`Catalog` (Parquet + manifest)
-> features -> similarity model (``similar_items -> (ids, scores)``) -> long-tail layer -> app / CLI.
"""

__version__ = "0.1.0"

import os as _os

if "ARROW_DEFAULT_MEMORY_POOL" not in _os.environ:
    # Arrow's default allocator (mimalloc) keeps the pages of freed buffers for its own reuse, which numpy and
    # hnswlib cannot use. This reaches the allocations pyarrow's Python calls make; Arrow's C++ readers keep their
    # default pool unless the variable is set before Arrow's first allocation (benchmarks/README.md).
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
