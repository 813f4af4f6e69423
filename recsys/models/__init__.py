"""Similarity models behind one contract (:class:`SimilarityModel`); importing this registers them all.

Importing :class:`HNSWIndex` does not import hnswlib (an optional extra); fitting or loading one does.
"""

from .als import ALSEmbedding
from .ann import HNSWIndex
from .base import MODEL_REGISTRY, SimilarityModel, register_model
from .exact import ExactCosine
from .itemknn import ItemKNN

__all__ = ["SimilarityModel", "MODEL_REGISTRY", "register_model", "ExactCosine", "ItemKNN", "ALSEmbedding",
           "HNSWIndex"]
