"""The recsys command: help texts, exit codes and messages."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from recsys.cli import build_parser, main

SUBCOMMANDS = ["synth", "ingest", "info", "neighbours", "demo"]


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
    assert res["seed"]["id"] == "4DDDDDDDDDDDDDDDDDDDDD"
    assert res["neighbours"][0]["id"] == "5EEEEEEEEEEEEEEEEEEEEE"  # the other punk artist
    assert main(["neighbours", str(tmp_path / "cat"), "--artist", "Kastrin"]) == 0
    out = capsys.readouterr().out
    assert "Velmora" in out and "dark ambient" in out


@pytest.mark.parametrize("args,words", [
    (["neighbours", "{cat}", "--artist", "Velmora"], ["2 artists are named", "1AAAAAAAAAAAAAAAAAAAAA"]),
    (["neighbours", "{cat}", "--artist", "Nobody At All"], ["no artist named"]),
    (["neighbours", "{cat}", "--artist", "Kastrin", "--k", "0"], ["k must be a positive integer"]),
    (["neighbours", "{tmp}/nope", "--artist", "x"], ["does not exist"]),
    (["ingest", "{tmp}/nope", "--out", "{tmp}/c2"], ["does not exist"]),
    (["ingest", "{dump}", "--out", "{cat}"], ["already exists", "--force"]),
    (["ingest", "{dump}", "--out", "{tmp}/c3", "--min-track-popularity", "101"], ["min_track_popularity"]),
])
def test_errors_are_messages_not_tracebacks(tiny_dump, tmp_path, capsys, args, words):
    cat = tmp_path / "cat"
    main(["ingest", str(tiny_dump), "--out", str(cat), "--quiet"])
    capsys.readouterr()
    args = [a.format(cat=cat, tmp=tmp_path, dump=tiny_dump) for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    for w in words:
        assert w in err
