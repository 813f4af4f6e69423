"""`recsys evaluate` end to end: the committed reduced config reproduces its committed metrics.json exactly, the
same seed gives the same numbers, and the results directory has its report and plots."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from recsys.cli import main
from recsys.evaluation.config import load_config, parse_config
from recsys.evaluation.report import comparable
from recsys.evaluation.runner import run_experiment

REPO = Path(__file__).resolve().parents[2]
REDUCED = REPO / "experiments" / "demo-reduced.toml"
COMMITTED = REPO / "results" / "demo-reduced" / "metrics.json"


def _with_cache(path: Path, cache: Path, tmp_path: Path) -> Path:
    """A copy of a committed config whose generated data goes to ``cache`` (not the repository's .cache)."""
    import tomllib

    data = tomllib.loads(path.read_text(encoding="utf-8"))
    data["cache_dir"] = str(cache)
    out = tmp_path / path.name
    out.write_text(_toml(data), encoding="utf-8")
    assert tomllib.loads(out.read_text(encoding="utf-8")) == data
    return out


def _toml(data: dict) -> str:
    def val(v):
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, list):
            return "[" + ", ".join(val(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {val(x)}" for k, x in v.items()) + " }"
        raise TypeError(v)

    out = [f"{k} = {val(v)}" for k, v in data.items() if not isinstance(v, (dict, list)) or
           (isinstance(v, list) and not (v and isinstance(v[0], dict)))]
    for k, v in data.items():
        if isinstance(v, dict):
            out.append(f"[{k}]")
            out += [f"{kk} = {val(vv)}" for kk, vv in v.items()]
        elif isinstance(v, list) and v and isinstance(v[0], dict):
            for item in v:
                out.append(f"[[{k}]]")
                out += [f"{kk} = {val(vv)}" for kk, vv in item.items()]
    return "\n".join(out) + "\n"


@pytest.fixture(scope="module")
def reduced_run(tmp_path_factory):
    if not COMMITTED.is_file():
        pytest.fail(f"{COMMITTED} is missing: run `recsys evaluate --config {REDUCED.relative_to(REPO)}` and commit it")
    tmp = tmp_path_factory.mktemp("reduced")
    cfg_path = _with_cache(REDUCED, tmp / "cache", tmp)  # a synthetic source: no relative paths to keep
    out = tmp / "results"
    assert main(["evaluate", "--config", str(cfg_path), "--out", str(out), "--quiet"]) == 0
    return cfg_path, out


def test_reduced_config_reproduces_the_committed_metrics(reduced_run):
    _, out = reduced_run
    got = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    want = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert "timings" in got  # timings are written, but are the one machine-dependent part
    assert comparable(got) == comparable(want)


def test_results_directory_has_report_and_plots(reduced_run):
    _, out = reduced_run
    report = (out / "report.md").read_text(encoding="utf-8")
    for ev in ("communities", "held-out-collaborations", "held-out-genres", "playlist-continuation"):
        assert f"## {ev}:" in report
        for kind in ("tradeoff", "popularity", "deciles"):
            png = out / f"{ev}-{kind}.png"
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"({ev}-{kind}.png)" in report
    results = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    for ev in results["evaluations"]:
        scorers = {r["scorer"] for r in ev["rows"]}
        assert {"random", "most_popular", "genre_popular", "genre_cosine", "exact_cosine", "itemknn", "als",
                "hnsw"} <= scorers
        for r in ev["rows"]:
            if r["split"] == "test":
                e = r["ndcg@10"]
                assert e["mean"] is None or e["ci_low"] <= e["mean"] <= e["ci_high"]


def test_existing_results_are_not_replaced_without_force(reduced_run, capsys):
    cfg_path, out = reduced_run
    before = (out / "metrics.json").read_bytes()
    assert main(["evaluate", "--config", str(cfg_path), "--out", str(out), "--quiet"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (out / "metrics.json").read_bytes() == before


def test_same_seed_same_numbers_other_seed_other_numbers(tmp_path, small_demo):
    _, cat = small_demo
    data = {"name": "s", "seed": 3, "bootstrap": 50, "pool": 30,
            "source": {"kind": "catalog", "path": str(cat.path)},
            "evaluations": [{"truth": "collaborations", "queries": 120}],
            "models": [{"model": "exact_cosine"}, {"model": "als", "params": {"factors": 16, "iterations": 3}}],
            "longtail": {"dials": [0.0, 1.0], "rerankers": [{"kind": "xquad", "lam": [0.3]}]}}
    a = comparable(run_experiment(parse_config(data, tmp_path / "a.toml"), progress=False))
    b = comparable(run_experiment(parse_config(data, tmp_path / "b.toml"), progress=False))
    assert a == b
    c = comparable(run_experiment(parse_config({**data, "seed": 4}, tmp_path / "c.toml"), progress=False))
    nd = [r["ndcg@10"]["mean"] for r in a["evaluations"][0]["rows"]]
    assert nd != [r["ndcg@10"]["mean"] for r in c["evaluations"][0]["rows"]]
    # the random baseline is beaten by the metadata model on hidden collaborators
    rows = {(r["scorer"], r["reranker"], r["split"]): r for r in a["evaluations"][0]["rows"]}
    assert rows[("exact_cosine", "none", "test")]["ndcg@10"]["mean"] > rows[("random", "none", "test")]["ndcg@10"][
        "mean"]
    assert np.isfinite(rows[("exact_cosine", "none", "test")]["coverage"])


def test_committed_configs_parse():
    for p in sorted((REPO / "experiments").glob("*.toml")):
        if "tidytuesday" in p.name and not (REPO.parent / "shared" / "data").is_dir():
            continue
        assert load_config(p).name == p.stem
