"""Offline evaluation: accuracy and beyond-accuracy (long-tail) measures of recommendation lists.

See :mod:`recsys.evaluation.metrics` for the exact definitions (design.md section 5). Experiments:
:mod:`.truths` (ground truths), :mod:`.splits` (seeded splits, training views), :mod:`.protocols`,
:mod:`.baselines`, :mod:`.config` (TOML), :mod:`.runner` and :mod:`.report` (``recsys evaluate``).
"""

from __future__ import annotations

from .metrics import (
    aclt,
    aplt,
    arp,
    bootstrap_ci,
    coverage,
    coverage_by_decile,
    gini,
    hit_rate_at_k,
    ild,
    long_tail_report,
    ndcg_at_k,
    novelty,
    popularity_histogram,
    precision_at_k,
    recall_at_k,
    serendipity_at_k,
    standard_error,
)

# The experiment API is imported on first use: it pulls in the feature families and models, which the metrics
# (and the `recsys` command's start-up) do not need.
_LAZY = {
    "load_config": ".config", "parse_config": ".config", "ConfigError": ".config", "ExperimentConfig": ".config",
    "run_experiment": ".runner", "write_results": ".report", "comparable": ".report",
    "Truth": ".truths", "playlist_truth": ".truths", "mpd_truth": ".truths", "collaboration_truth": ".truths",
    "genre_truth": ".truths", "community_truth": ".truths",
    "CatalogView": ".splits", "split_items": ".splits",
    "RandomBaseline": ".baselines", "MostPopular": ".baselines", "GenrePopular": ".baselines",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

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
    "serendipity_at_k",
    "standard_error",
    "coverage_by_decile",
    *_LAZY,
]
