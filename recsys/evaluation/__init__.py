"""Offline evaluation: accuracy and beyond-accuracy (long-tail) measures of recommendation lists.

See :mod:`recsys.evaluation.metrics` for the exact definitions (design.md section 5). Experiments:
:mod:`.truths` (ground truths), :mod:`.splits` (seeded splits, training views), :mod:`.protocols`,
:mod:`.baselines`, :mod:`.config` (TOML), :mod:`.runner` and :mod:`.report` (``recsys evaluate``).
"""

from __future__ import annotations

from .metrics import *  # noqa: F403  (the metrics are this package's API; their list lives in metrics.__all__)
from .metrics import __all__ as _METRICS

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

__all__ = [*_METRICS, *_LAZY]
