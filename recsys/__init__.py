"""recsys: music discovery from the Anna's Archive Spotify metadata alone, weighted towards the long tail.

Data flow: source (SQLite dump, CSV datasets, demo generator) -> :class:`Catalog` (Parquet + manifest)
-> features -> similarity model (``similar_items -> (ids, scores)``) -> long-tail layer -> app / CLI.
"""

__version__ = "0.1.0"

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
