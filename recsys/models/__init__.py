"""Similarity models behind one contract (:class:`SimilarityModel`); importing this registers them all."""

from .base import MODEL_REGISTRY, SimilarityModel, register_model
from .exact import ExactCosine

__all__ = ["SimilarityModel", "MODEL_REGISTRY", "register_model", "ExactCosine"]
