"""Offline evaluation: accuracy and beyond-accuracy (long-tail) measures of recommendation lists.

See :mod:`recsys.evaluation.metrics` for the exact definitions (design.md section 5).
"""

from __future__ import annotations

from .metrics import (
    aclt,
    aplt,
    arp,
    bootstrap_ci,
    coverage,
    gini,
    hit_rate_at_k,
    ild,
    long_tail_report,
    ndcg_at_k,
    novelty,
    popularity_histogram,
    precision_at_k,
    recall_at_k,
)

__all__ = [
    "coverage",
    "gini",
    "arp",
    "aplt",
    "aclt",
    "novelty",
    "ild",
    "long_tail_report",
    "popularity_histogram",
    "precision_at_k",
    "recall_at_k",
    "ndcg_at_k",
    "hit_rate_at_k",
    "bootstrap_ci",
]
