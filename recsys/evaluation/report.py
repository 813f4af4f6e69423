"""Write an experiment's results: ``metrics.json``, ``report.md`` (tables) and PNG plots.

Plots per evaluation (matplotlib, Agg backend, no display needed):

* ``<evaluation>-tradeoff.png``: nDCG@k against APLT (share of the list outside the short head) as the
  popularity-penalty dial moves from 0 to 1, one line per model; the other re-rankers and the baselines as
  points;
* ``<evaluation>-popularity.png``: popularity distribution of the recommendations of each model and baseline
  against the catalog's;
* ``<evaluation>-deciles.png``: catalog coverage per popularity decile (decile 1 = least popular tenth).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_dir

__all__ = ["write_results", "render_markdown", "comparable"]


def comparable(results: dict) -> dict:
    """The results without machine-dependent fields (timings), for reproducibility checks."""
    return {k: v for k, v in results.items() if k != "timings"}


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _acc(row: dict, key: str) -> str:
    e = row[key]
    s = _fmt(e["mean"])
    if e.get("ci_low") is not None:
        s += f" [{_fmt(e['ci_low'])}, {_fmt(e['ci_high'])}]"
    elif e.get("se") is not None:
        s += f" ±{_fmt(e['se'])}"
    return s


def render_markdown(results: dict, plots: dict[str, list[str]]) -> str:
    """The report text: settings, then per evaluation its truth, findings and metric tables (test split)."""
    k = results["settings"]["k"]
    lines = [f"# Experiment: {results['name']}", ""]
    if results.get("description"):
        lines += [results["description"], ""]
    src = results["source"]
    lines += ["## Setup", "",
              f"- source: {src.get('kind')} ({src['n_artists']:,} artists)"
              + (f"; artist-genre match rate {src['artist_genre_match_rate']:.1%} by normalised name"
                 if "artist_genre_match_rate" in src else ""),
              f"- k = {k}, candidate pool = {results['settings']['pool']}, short head = top "
              f"{results['settings']['head_share']:.0%} of artists by popularity, seed = {results['settings']['seed']}",
              f"- accuracy: mean over test queries with a 95% percentile bootstrap interval "
              f"({results['settings']['bootstrap']} resamples) in brackets",
              "- models: " + "; ".join(f"`{m['label']}` = {m['model']} {json.dumps(m['params'])}"
                                       + (f" weights {json.dumps(m['weights'])}" if m["weights"] else "")
                                       for m in results["settings"]["models"]),
              f"- shared feature weights: {json.dumps(results['settings']['features_weights'])}", ""]
    for ev in results["evaluations"]:
        lines += _evaluation_md(ev, k, plots.get(ev["name"], []))
    return "\n".join(lines) + "\n"


def _evaluation_md(ev: dict, k: int, plots: list[str]) -> list[str]:
    nd = f"ndcg@{k}"
    lines = [f"## {ev['name']}: truth `{ev['truth']}`, protocol `{ev['protocol']}`", ""]
    lines.append(f"- queries: {ev['queries']['validation']} validation (choices), {ev['queries']['test']} test "
                 f"(numbers below)" + (f"; {ev['n_seeds']} seeds per playlist" if ev.get("n_seeds") else ""))
    lines.append(f"- truth: {json.dumps(ev['truth_stats'])}")
    if ev["hidden_rows"]:
        lines.append(f"- hidden from the features (catalog rows): {json.dumps(ev['hidden_rows'])}")
    if ev["excluded_families"]:
        lines.append(f"- feature families forced off (they read the truth): {ev['excluded_families']}")
    lines.append(f"- short head: popularity >= {_fmt(ev['head_threshold'], 2)}; chance precision "
                 f"{_fmt(ev['chance_precision'])}")
    fam = ev.get("model_families", {})
    if fam:
        lines.append("- families per model: " + "; ".join(f"`{m}`: {', '.join(f)}" for m, f in fam.items()))
    lines.append("")
    f = ev.get("findings", {})
    if f:
        lines += ["### Findings", ""]
        bt = f["best_model_test"]
        lines.append(f"- best model on validation nDCG@{k}: `{f['best_model']}`; test nDCG@{k} {_fmt(bt[nd])}, "
                     f"{_fmt(bt['aplt'] * 100 if bt['aplt'] is not None else None, 1)}% of its recommendations "
                     f"outside the short head, coverage {_fmt(bt['coverage'])}")
        if "gain_over_genre_cosine" in f:
            lines.append(f"- against the genre TF-IDF cosine baseline (test nDCG@{k} "
                         f"{_fmt(f['genre_cosine_test'][nd])}): {f['gain_over_genre_cosine']:+.1%}")
        if "best_reranker" in f:
            b = f["best_reranker"]
            lines.append(f"- re-ranker with the largest coverage gain at <= 2% nDCG loss on validation: "
                         f"`{b['setting']}`; on test coverage {b['test_coverage_gain']:+.1%}, nDCG@{k} "
                         f"{-b['test_ndcg_loss']:+.2%}, APLT {_fmt(b['test_aplt'])}")
        else:
            lines.append("- no re-ranker setting kept nDCG within 2% of the model order on validation")
        for m, b in f.get("rerankers_by_model", {}).items():
            if m != f["best_model"]:
                lines.append(f"  - `{m}`: `{b['setting']}`, test coverage {b['test_coverage_gain']:+.1%}, "
                             f"nDCG@{k} {-b['test_ndcg_loss']:+.2%}")
        lines.append("")
    test = [r for r in ev["rows"] if r["split"] == "test"]
    head = ["scorer", "re-ranker", f"nDCG@{k}", f"P@{k}", f"R@{k}", f"hit@{k}", f"serendipity@{k}", "coverage",
            "gini", "ARP", "APLT", "ACLT", "novelty", "ILD"]

    def table(rows: list[dict]) -> list[str]:
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in rows:
            out.append("| " + " | ".join([
                f"`{r['scorer']}`" + (" (baseline)" if r["kind"] == "baseline" else ""), r["reranker"],
                _acc(r, nd), _acc(r, f"precision@{k}"), _acc(r, f"recall@{k}"), _acc(r, f"hit_rate@{k}"),
                _acc(r, f"serendipity@{k}"), _fmt(r["coverage"]), _fmt(r["gini"]), _fmt(r["arp"], 2),
                _fmt(r["aplt"]), _fmt(r["aclt"], 2), _fmt(r["novelty"], 2), _fmt(r["ild"])]) + " |")
        return out

    lines += ["### Models and baselines (model order)", ""] + table([r for r in test if r["reranker"] == "none"])
    lines += ["", "### Long-tail settings", ""] + table([r for r in test if r["reranker"] != "none"])
    val = [r for r in ev["rows"] if r["split"] == "validation" and r["reranker"] == "none"]
    lines += ["", f"### Validation split (model order; nDCG@{k} ± standard error)", "",
              "| scorer | nDCG@" + str(k) + " | APLT | coverage |", "|---|---|---|---|"]
    lines += [f"| `{r['scorer']}` | {_acc(r, nd)} | {_fmt(r['aplt'])} | {_fmt(r['coverage'])} |" for r in val]
    if plots:
        lines += ["", "### Plots", ""] + [f"![{p}]({p})" for p in plots]
    return lines + [""]


def _num(v: Any) -> float:
    return float("nan") if v is None else float(v)


def _save(fig, ax, path: Path, meta: dict) -> str:
    """Legend, tight layout, PNG (fixed metadata, so reruns are byte-identical), close; returns the file name."""
    import matplotlib.pyplot as plt

    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata=meta)
    plt.close(fig)
    return path.name


def _plots(ev: dict, k: int, folder: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nd = f"ndcg@{k}"
    test = [r for r in ev["rows"] if r["split"] == "test"]
    names = []
    meta = {"Software": None}  # no version stamp: the same results give the same file

    # trade-off curves
    fig, ax = plt.subplots(figsize=(7.5, 5))
    models = sorted({r["scorer"] for r in test if r["kind"] == "model"})
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, m in enumerate(models):
        c = colors[i % len(colors)]
        pts = [(0.0, r) if r["reranker"] == "none" else (r["rerank"]["dial"], r) for r in test
               if r["scorer"] == m and (r["reranker"] == "none" or r["reranker"].startswith("popularity_penalty"))]
        pts.sort(key=lambda t: t[0])
        ax.plot([_num(r["aplt"]) for _, r in pts], [_num(r[nd]["mean"]) for _, r in pts], "-o", color=c,
                label=f"{m} (dial 0..1)")
        for d, r in pts:
            ax.annotate(f"{d:g}", (_num(r["aplt"]), _num(r[nd]["mean"])), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
        for r in test:
            if r["scorer"] == m and r["reranker"].startswith(("xquad", "mmr")):
                ax.plot(_num(r["aplt"]), _num(r[nd]["mean"]), "^" if r["reranker"].startswith("xquad") else "s", color=c,
                        alpha=0.7)
    for r in test:
        if r["kind"] == "baseline" and r["reranker"] == "none":
            ax.plot(_num(r["aplt"]), _num(r[nd]["mean"]), "x", color="black")
            ax.annotate(r["scorer"], (_num(r["aplt"]), _num(r[nd]["mean"])), fontsize=7, xytext=(3, -9),
                        textcoords="offset points")
    ax.set_xlabel("APLT: share of recommendations outside the short head")
    ax.set_ylabel(f"nDCG@{k} (test)")
    ax.set_title(f"{ev['name']}: accuracy vs long tail (▲ xQuAD, ■ MMR, × baselines)", fontsize=10)
    ax.grid(alpha=0.3)
    names.append(_save(fig, ax, folder / f"{ev['name']}-tradeoff.png", meta))

    base = [r for r in test if r["reranker"] == "none" and "distribution" in r]
    if base:
        edges = ev["pop_hist_edges"]
        centers = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:])]
        width = (edges[1] - edges[0]) / (len(base) + 2) if len(edges) > 1 else 1.0
        fig, ax = plt.subplots(figsize=(8, 5))
        cat = np.asarray(base[0]["distribution"]["pop_hist_catalog"], dtype=float)
        ax.bar(np.asarray(centers) - width * len(base) / 2, cat / max(cat.sum(), 1), width=width, color="grey",
               label="catalog")
        for i, r in enumerate(base):
            h = np.asarray(r["distribution"]["pop_hist_recommended"], dtype=float)
            ax.bar(np.asarray(centers) - width * len(base) / 2 + (i + 1) * width, h / max(h.sum(), 1), width=width,
                   label=r["scorer"])
        ax.set_xlabel("popularity")
        ax.set_ylabel("share of items (catalog) / of recommended slots")
        ax.set_title(f"{ev['name']}: popularity of recommendations vs catalog (test)", fontsize=10)
        names.append(_save(fig, ax, folder / f"{ev['name']}-popularity.png", meta))

        fig, ax = plt.subplots(figsize=(8, 5))
        width = 0.8 / len(base)
        for i, r in enumerate(base):
            share = [np.nan if v is None else v for v in r["distribution"]["decile_coverage"]]
            ax.bar(np.arange(1, 11) - 0.4 + (i + 0.5) * width, share, width=width, label=r["scorer"])
        ax.set_xticks(range(1, 11))
        ax.set_xlabel("popularity decile of the catalog (1 = least popular)")
        ax.set_ylabel("share of the decile recommended at least once")
        ax.set_title(f"{ev['name']}: coverage per popularity decile (test)", fontsize=10)
        names.append(_save(fig, ax, folder / f"{ev['name']}-deciles.png", meta))
    return names


def write_results(results: dict, out: str | os.PathLike, *, force: bool = False) -> Path:
    """Write ``metrics.json``, ``report.md`` and the plots into ``out`` (atomically: all or nothing)."""
    k = results["settings"]["k"]
    with atomic_dir(out, force=force, what="results") as tmp:
        plots = {ev["name"]: _plots(ev, k, tmp) for ev in results["evaluations"]}
        (tmp / "metrics.json").write_text(json.dumps(results, indent=1, ensure_ascii=False, allow_nan=False) + "\n",
                                          encoding="utf-8")
        (tmp / "report.md").write_text(render_markdown(results, plots), encoding="utf-8")
    return Path(out)
