"""Interaction speed of the Streamlit demo on a saved model (the 100k demo by default), JSON out.

Measures, server side, what a viewer waits for:

* ``start``: a fresh process opening the app with an already built model: the first script run through
  Streamlit's AppTest (model load + first page), and a real ``streamlit run`` server until its health endpoint
  answers and the first page has run (model load included).
* ``control_change``: a control moved -> the script re-run that draws the new list (AppTest ``run`` of the whole
  page, i.e. all server-side work of one interaction, neighbours uncached), for the dial, the popularity range, the
  era, the market, diversity and hidden gems, over several seeds; p50 / p95 / max.
* ``library``: the same neighbour queries through ``Recommender.neighbours`` alone, to show what the UI adds.

Run::

    .venv/bin/python benchmarks/bench_app.py --model demo/model --out benchmarks/results/app.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _pct(xs: list[float]) -> dict:
    a = np.asarray(xs) * 1000.0
    return {"n": len(a), "p50_ms": round(float(np.percentile(a, 50)), 1),
            "p95_ms": round(float(np.percentile(a, 95)), 1), "max_ms": round(float(a.max()), 1)}


def _apptest(model: str):
    from streamlit.testing.v1 import AppTest

    os.environ["RECSYS_MODEL"] = model
    os.environ.pop("RECSYS_CATALOG", None)
    sys.argv = ["app.py"]
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)


def bench_start_apptest(model: str) -> float:
    """First run of the page in a fresh Python process (nothing cached), seconds."""
    code = (f"import sys,time; sys.path.insert(0, {str(ROOT)!r}); from benchmarks.bench_app import _apptest; "
            f"t=time.perf_counter(); at=_apptest({model!r}).run(); assert not at.exception, at.exception; "
            "print(time.perf_counter()-t)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT)
    return float(out.stdout.strip().splitlines()[-1])


def bench_start_server(model: str) -> dict:
    """``streamlit run`` until /_stcore/health answers, then until the first page (model load) has run."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless",
                             "true", "--server.port", str(port), "--server.address", "127.0.0.1",
                             "--browser.gatherUsageStats", "false", "--", "--model", model],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError("streamlit exited during start-up") from None
                time.sleep(0.1)
        health = time.perf_counter() - t0
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    return {"health_s": round(health, 2)}


def bench_interactions(model: str, seeds: list[str], rounds: int) -> tuple[dict, float]:
    at = _apptest(model)
    t = time.perf_counter()
    at.run()
    first = time.perf_counter() - t
    per_control: dict[str, list[float]] = {}
    rng = np.random.default_rng(0)
    span = None

    def timed(name: str, action) -> None:
        t0 = time.perf_counter()
        action().run()
        per_control.setdefault(name, []).append(time.perf_counter() - t0)
        assert not at.exception, at.exception

    for seed in seeds:
        at.text_input(key="query_artist").input(seed).run()  # search by id, then pick it: a new seed
        at.multiselect(key="seeds_artist").set_value([seed]).run()
        if span is None:
            span = at.slider(key="era").value
        for _ in range(rounds):
            timed("dial", lambda: at.slider(key="dial").set_value(float(rng.choice(np.arange(0.05, 1.0, 0.05)))))
            lo = int(rng.integers(0, 40))
            timed("popularity_range", lambda lo=lo: at.slider(key="pop_range").set_range(lo, lo + 50))
            y = int(rng.integers(span[0], span[1]))
            timed("era", lambda y=y, span=span: at.slider(key="era").set_range(min(y, span[1] - 10), span[1]))
            timed("market", lambda: at.selectbox(key="market").set_value(str(rng.choice(["SE", "US", "JP", "BR"]))))
            timed("diversity", lambda: at.slider(key="diversity").set_value(float(rng.choice([0.2, 0.4, 0.6]))))
            timed("hidden_gems", lambda: at.toggle(key="gems").set_value(not at.toggle(key="gems").value))
            # back to the defaults so every round starts from the same kind of list
            at.slider(key="pop_range").set_range(0, 100)
            at.slider(key="era").set_range(*span)
            at.selectbox(key="market").set_value("any market")
            at.slider(key="diversity").set_value(0.0)
            at.toggle(key="gems").set_value(False).run()
    return {k: _pct(v) for k, v in per_control.items()} | {"all": _pct(sum(per_control.values(), []))}, first


def bench_library(model: str, seeds: list[str], rounds: int) -> dict:
    from recsys.recommend import Recommender

    rec = Recommender.load(model)
    times = []
    rng = np.random.default_rng(0)
    for s in seeds:
        for _ in range(rounds):
            t = time.perf_counter()
            rec.neighbours(s, 20, dial=float(rng.random()), min_popularity=float(rng.integers(0, 40)))
            times.append(time.perf_counter() - t)
    return _pct(times)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="demo/model", help="saved artist recommender (default demo/model)")
    p.add_argument("--seeds", type=int, default=5, help="seed artists (default 5)")
    p.add_argument("--rounds", type=int, default=4, help="rounds of control changes per seed (default 4)")
    p.add_argument("--out", default="benchmarks/out/app.json")
    a = p.parse_args()

    from recsys.recommend import read_recommender_info

    info = read_recommender_info(a.model)
    from recsys.catalog import Catalog

    cat = Catalog.open(info["catalog"]["path"], verify=False)
    pop = cat.artists.popularity.astype(float)
    rng = np.random.default_rng(1)
    # seeds across the popularity range: head, middle, tail
    order = np.argsort(-pop)
    picks = np.unique(np.linspace(0, len(order) // 2, a.seeds).astype(int))
    seeds = [str(cat.artists.ids[order[i]]) for i in picks]
    rng.shuffle(seeds)

    print("start-up (fresh processes) ...", file=sys.stderr)
    start_apptest = [bench_start_apptest(a.model) for _ in range(3)]
    server = bench_start_server(a.model)
    print("control changes ...", file=sys.stderr)
    controls, first_run = bench_interactions(a.model, seeds, a.rounds)
    library = bench_library(a.model, seeds, a.rounds * 6)
    result = {
        "benchmark": "app", "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "model": {"path": a.model, "model": info["model"], "kind": info["kind"],
                  "items": int(cat.num_rows("artists"))},
        "start": {"first_page_fresh_process_s": [round(x, 2) for x in start_apptest],
                  "first_page_fresh_process_max_s": round(max(start_apptest), 2),
                  "server_health": server, "target_s": 10},
        "control_change": controls, "control_change_target_p95_ms": 300,
        "library_neighbours_call": library, "seeds": seeds,
    }
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(out)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
