"""Errors a user can act on.

Every error raised for bad input derives from :class:`RecsysError`; its message says what is wrong and
``hint`` says what to do. The CLI prints both and exits non-zero without a traceback. Lookup errors also
derive from ``KeyError`` and argument errors from ``ValueError``/``TypeError`` so callers can use the usual
Python idioms.
"""

from __future__ import annotations

__all__ = [
    "RecsysError",
    "SourceError",
    "SchemaError",
    "DataError",
    "CatalogError",
    "OutputExistsError",
    "UnknownIdError",
    "AmbiguousNameError",
    "NotFittedError",
    "ModelFileError",
]


class RecsysError(Exception):
    """Base class: a problem with the user's input, files or arguments.

    Parameters
    ----------
    message : str
        What is wrong, naming the file, table, column, parameter or id involved.
    hint : str, optional
        What the user can do about it.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class SourceError(RecsysError):
    """A source file is missing, unreadable, damaged or not what it claims to be."""


class SchemaError(SourceError):
    """A source table or column the reader needs is missing or has the wrong shape."""


class DataError(SourceError):
    """Source rows break the dump's rules (NULLs, duplicate ids, dangling keys, out-of-range values)."""


class CatalogError(RecsysError):
    """A catalog directory is missing, of an unknown format version, or altered since it was written."""


class OutputExistsError(RecsysError):
    """The output path exists and ``force`` was not given."""


class UnknownIdError(RecsysError, KeyError):
    """An id, URI, URL or name that the catalog or model does not know."""

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return RecsysError.__str__(self)


class AmbiguousNameError(UnknownIdError):
    """A name matches several entities; ``candidates`` lists them so the user can pick one by id."""

    def __init__(self, message: str, *, candidates: list[dict] | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.candidates = candidates or []


class NotFittedError(RecsysError, AttributeError):
    """A model method that needs ``fit`` was called before it."""


class ModelFileError(RecsysError):
    """A saved model is missing, damaged, of another format version or of an unknown kind."""
