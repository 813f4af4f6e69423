"""The ``recsys evaluate`` subcommand: run an experiment config, write ``results/NAME/``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

__all__ = ["add_parser", "cmd_evaluate"]


def cmd_evaluate(a: argparse.Namespace) -> int:
    from ..errors import OutputExistsError
    from .config import load_config
    from .report import write_results
    from .runner import run_experiment

    cfg = load_config(a.config)
    out = Path(a.out) if a.out else Path("results") / cfg.name
    if out.exists() and not a.force:  # before the run, not after minutes of work
        raise OutputExistsError(f"results directory {str(out)!r} already exists",
                                hint="pass --force to replace it, or --out another directory")
    t0 = time.perf_counter()
    results = run_experiment(cfg, progress=not a.quiet)
    write_results(results, out, force=a.force)
    if not a.quiet:
        print(f"experiment {cfg.name!r} done in {time.perf_counter() - t0:.0f}s: {out}/metrics.json, "
              f"{out}/report.md and plots", file=sys.stderr)
        k = cfg.k
        for ev in results["evaluations"]:
            f = ev.get("findings", {})
            if f:
                print(f"  {ev['name']}: best model {f['best_model']!r}, test nDCG@{k} "
                      f"{f['best_model_test'][f'ndcg@{k}']:.4f}", file=sys.stderr)
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``evaluate`` on the ``recsys`` subcommand parsers."""
    s = subparsers.add_parser(
        "evaluate", help="run an experiment config: models, baselines and long-tail settings against ground truths",
        description="Run an experiment (TOML config: catalog, ground truths, models with parameters, long-tail "
                    "settings, k, seed) and write metrics.json, report.md and PNG plots. The same config and seed "
                    "give the same numbers.")
    s.add_argument("--config", required=True, help="experiment config, e.g. experiments/tidytuesday.toml")
    s.add_argument("--out", default=None, help="results directory (default results/NAME)")
    s.add_argument("--force", action="store_true", help="replace an existing results directory")
    s.add_argument("--quiet", action="store_true", help="no progress output")
    s.set_defaults(func=cmd_evaluate)
    return s
