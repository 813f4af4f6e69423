"""Bad experiment configs stop before any work, with a message naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from recsys.cli import main
from recsys.evaluation.config import ConfigError, load_config
from recsys.sources.annas_archive import ingest


@pytest.fixture(scope="module")
def catalog_dir(tmp_path_factory) -> Path:
    from tests.conftest import build_tiny_dump

    root = tmp_path_factory.mktemp("cfg")
    ingest(build_tiny_dump(root / "dump"), root / "catalog", progress=False)
    return root / "catalog"


def write(tmp_path: Path, catalog_dir: Path, body: str = "", *, top: str = "", model: str = 'model = "exact_cosine"'
          ) -> Path:
    text = f"""name = "t"
{top}
[source]
kind = "catalog"
path = "{catalog_dir}"

[[evaluations]]
truth = "playlists"

[[models]]
{model}
{body}
"""
    p = tmp_path / "exp.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_a_good_config_parses(tmp_path, catalog_dir):
    cfg = load_config(write(tmp_path, catalog_dir, top="k = 5"))
    assert cfg.k == 5 and cfg.models[0].model == "exact_cosine" and cfg.evaluations[0].truth == "playlists"


@pytest.mark.parametrize("kwargs, words", [
    ({"model": 'model = "bogus"'}, ["models[0].model", "bogus", "exact_cosine"]),
    ({"model": 'model = "itemknn"\nparams = { K = 10, nope = 1 }'}, ["models[0].params.nope", "itemknn"]),
    ({"top": "k = 0"}, ["k must be an integer >= 1", "0"]),
    ({"top": "k = -3"}, ["k must be"]),
    ({"top": "colour = 1"}, ["unknown key", "colour"]),
    ({"model": 'model = "als"\nweights = { genre = 1.0 }'}, ["models[0].weights.genre", "unknown feature family"]),
    ({"body": "[longtail]\nrerankers = [{ kind = \"xquad\", lam = [2.0] }]"}, ["longtail.rerankers[0].lam"]),
    ({"body": "[longtail]\nrerankers = [{ kind = \"shuffle\" }]"}, ["longtail.rerankers[0].kind"]),
])
def test_bad_fields_are_named(tmp_path, catalog_dir, kwargs, words):
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, catalog_dir, **kwargs))
    for w in words:
        assert w in str(e.value)


def test_missing_files_are_named(tmp_path, catalog_dir):
    p = tmp_path / "exp.toml"
    p.write_text('name = "t"\n[source]\nkind = "tidytuesday"\nsongs_csv = "nowhere/songs.csv"\n'
                 '[[evaluations]]\ntruth = "playlists"\n[[models]]\nmodel = "exact_cosine"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"source\.songs_csv: file .*nowhere.*does not exist"):
        load_config(p)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "absent.toml")
    p.write_text(p.read_text().replace('truth = "playlists"', 'truth = "mpd"\npath = "no.json"')
                 .replace("nowhere/songs.csv", str(catalog_dir / "manifest.json")), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"evaluations\[0\]\.path: file .*no\.json"):
        load_config(p)


def test_invalid_toml_and_missing_sections(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("name = \n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(p)
    p.write_text('name = "x"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="source is missing"):
        load_config(p)


def test_cli_reports_config_errors_with_exit_2(tmp_path, catalog_dir, capsys):
    p = write(tmp_path, catalog_dir, model='model = "nosuch"')
    assert main(["evaluate", "--config", str(p), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "models[0].model" in err and "nosuch" in err
    assert not (tmp_path / "out").exists()
