"""The recsys command: help texts, exit codes and messages."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from recsys.cli import build_parser, main

SUBCOMMANDS = ["synth", "ingest", "info", "build", "neighbours", "tail-report", "infer-genres", "demo"]


def test_top_level_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for s in SUBCOMMANDS:
        assert s in out


@pytest.mark.parametrize("sub", SUBCOMMANDS)
def test_every_subcommand_explains_its_options(sub, capsys):
    with pytest.raises(SystemExit) as e:
        main([sub, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    for opt in action.choices[sub]._actions:
        for flag in opt.option_strings:
            assert flag in out
        if opt.option_strings and opt.dest != "help":
            assert opt.help, f"{sub} {opt.option_strings} has no help text"


def test_console_script_runs():
    r = subprocess.run([sys.executable, "-m", "recsys.cli", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("recsys ")


def test_ingest_and_neighbours(tiny_dump, tmp_path, capsys):
    assert main(["ingest", str(tiny_dump), "--out", str(tmp_path / "cat"), "--quiet"]) == 0
    assert "artists" in capsys.readouterr().out
    assert main(["neighbours", str(tmp_path / "cat"), "--artist", "The Spitfires", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["seeds"][0]["id"] == "4DDDDDDDDDDDDDDDDDDDDD"
    assert res["neighbours"][0]["id"] == "5EEEEEEEEEEEEEEEEEEEEE"  # the other punk artist, on the same album
    assert res["neighbours"][0]["explanation"]
    assert main(["neighbours", str(tmp_path / "cat"), "--artist", "Kastrin"]) == 0
    out = capsys.readouterr().out
    assert "Velmora" in out and "dark ambient" in out


def test_build_then_neighbours_from_model_dir(small_demo, tmp_path, capsys):
    _, cat = small_demo
    assert main(["build", str(cat.path), "--model", "exact_cosine", "--weight", "genres=2",
                 "--out", str(tmp_path / "m"), "--quiet"]) == 0
    seed = cat.artists.ids[0]
    assert main(["neighbours", str(tmp_path / "m"), "--artist", seed, "--k", "5", "--dial", "0.8", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert len(res["neighbours"]) == 5 and all(r["id"] != seed for r in res["neighbours"])
    out = tmp_path / "all.parquet"
    assert main(["neighbours", str(tmp_path / "m"), "--all", "--k", "3", "--out", str(out)]) == 0
    import pandas as pd

    table = pd.read_parquet(out)
    assert set(table.columns) >= {"query_id", "rank", "id", "score", "explanation"}
    assert table.query_id.nunique() > 0.9 * cat.num_rows("artists") and table["rank"].max() == 3
    csv = tmp_path / "some.csv"
    assert main(["neighbours", str(tmp_path / "m"), "--artist", seed, "--out", str(csv)]) == 0
    assert pd.read_csv(csv).shape[0] == 10


def test_infer_genres_report(small_demo, capsys):
    assert main(["infer-genres", str(small_demo[1].path), "--holdout", "0.3", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["n_evaluated"] > 50 and r["precision_at_1"] > r["majority_precision_at_1"] + 0.2
    assert main(["infer-genres", str(small_demo[1].path), "--holdout", "1.5"]) == 2
    assert "holdout must be in (0, 1)" in capsys.readouterr().err


def test_tail_report_with_truth(small_demo, capsys):
    dump, cat = small_demo
    assert main(["tail-report", str(cat.path), "--truth", str(dump / "ground_truth.parquet"), "--sample", "300",
                 "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert 0 < r["coverage"]["linked artists"]["share"] <= 1
    models = r["communities"]["models"]
    full, genres = models["exact_cosine (all families)"], models["exact_cosine, genres only"]
    assert full["hit_rate"] > 3 * r["communities"]["chance"]
    assert full["ci"][0] > genres["ci"][1]  # better than genres alone, beyond noise
    assert r["dial"][-1]["aplt"] >= 0.5 > r["dial"][0]["aplt"] - 0.5
    assert r["dial"][-1]["hit_rate"] >= 0.9 * r["dial"][0]["hit_rate"]


@pytest.mark.parametrize("args,words", [
    (["neighbours", "{cat}", "--artist", "Velmora"], ["2 artists are named", "1AAAAAAAAAAAAAAAAAAAAA"]),
    (["neighbours", "{cat}", "--artist", "Nobody At All"], ["no artist named"]),
    (["neighbours", "{cat}", "--artist", "Kastrin", "--k", "0"], ["n must be a positive integer"]),
    (["neighbours", "{tmp}/nope", "--artist", "x"], ["does not exist"]),
    (["ingest", "{tmp}/nope", "--out", "{tmp}/c2"], ["does not exist"]),
    (["ingest", "{dump}", "--out", "{cat}"], ["already exists", "--force"]),
    (["ingest", "{dump}", "--out", "{tmp}/c3", "--min-track-popularity", "101"], ["min_track_popularity"]),
    (["neighbours", "{cat}", "--artist", "Kastrin", "--track", "Hollow"], ["not both"]),
    (["neighbours", "{cat}", "--all", "--artist", "Kastrin", "--out", "{tmp}/x.parquet"], ["drop the --artist"]),
    (["neighbours", "{cat}", "--all"], ["--out"]),
    (["neighbours", "{cat}"], ["at least one seed"]),
    (["neighbours", "{cat}", "--artist", "Kastrin", "--out", "{tmp}/x.txt"], [".parquet or .csv"]),
    (["neighbours", "{cat}", "--artist", "Kastrin", "--dial", "2"], ["dial must be between 0 and 1"]),
    (["neighbours", "{cat}", "--artist", "Kastrin", "--min-popularity", "60", "--max-popularity", "5"],
     ["must not exceed"]),
    (["neighbours", "{cat}", "--track", "Kastrin"], ["no track named"]),
    (["build", "{cat}", "--model", "magic", "--out", "{tmp}/m"], ["model must be one of"]),
    (["build", "{cat}", "--param", "K", "--out", "{tmp}/m"], ["NAME=VALUE"]),
    (["build", "{cat}", "--weight", "colour=2", "--out", "{tmp}/m"], ["colour"]),
    (["tail-report", "{cat}", "--truth", "{tmp}/nope.parquet"], ["ground truth"]),
])
def test_errors_are_messages_not_tracebacks(tiny_dump, tmp_path, capsys, args, words):
    cat = tmp_path / "cat"
    main(["ingest", str(tiny_dump), "--out", str(cat), "--quiet"])
    capsys.readouterr()
    args = [a.format(cat=cat, tmp=tmp_path, dump=tiny_dump) for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "error: " in err and "Traceback" not in err
    for w in words:
        assert w in err


def test_demo_builds_once_and_saves_the_model_the_app_opens(tmp_path, capsys):
    from recsys.recommend import Recommender

    root = tmp_path / "demo"
    assert main(["demo", "--dir", str(root), "--artists", "1500"]) == 0
    first = capsys.readouterr()
    assert "building artist features" in first.err and (root / "model" / "recommender.json").is_file()
    assert main(["demo", "--dir", str(root), "--artists", "1500"]) == 0
    second = capsys.readouterr()
    assert "model found" in second.err and "building" not in second.err  # nothing rebuilt
    assert first.out == second.out  # the same neighbours from the saved model
    rec = Recommender.load(root / "model")
    assert rec.kind == "artist" and rec.model.n_items_ == 1500
