"""Explanations come from the feature blocks' contributions; checked on the tiny dump, whose links are known."""

from __future__ import annotations

import pytest

from recsys.explain import Explainer
from recsys.recommend import Recommender
from recsys.sources.annas_archive import ingest


@pytest.fixture
def rec(tiny_dump, tmp_path):
    return Recommender.build(ingest(tiny_dump, tmp_path / "cat", progress=False))


def _row(rec, sid):
    return rec.index.row_of_id(sid)


def test_shared_genre_label_and_compilation(rec):
    velmora, kastrin = _row(rec, "1AAAAAAAAAAAAAAAAAAAAA"), _row(rec, "2BBBBBBBBBBBBBBBBBBBBB")
    [reasons] = rec.explainer.explain(velmora, [kastrin])
    texts = " | ".join(r.text for r in reasons)
    assert "shares genres: dark ambient" in texts
    assert "Dark Sounds Vol. 1" in texts  # both appear on that compilation
    assert all(0 < r.share <= 1 for r in reasons)
    assert [r.share for r in reasons] == sorted((r.share for r in reasons), reverse=True)


def test_direct_collaboration(rec):
    velmora, orvo = _row(rec, "1AAAAAAAAAAAAAAAAAAAAA"), _row(rec, "3CCCCCCCCCCCCCCCCCCCCC")
    [text] = rec.explainer.explain_text(velmora, [orvo])
    assert "collaborated directly" in text


def test_nothing_shared_gives_no_reason_and_padding_is_empty(rec):
    X = rec.space.X
    e = Explainer(rec.catalog, X, rec.space.blocks, rec.space.feature_names)
    assert e.explain(0, [-1]) == [[]]


def test_min_share_hides_weak_families(rec):
    velmora, kastrin = _row(rec, "1AAAAAAAAAAAAAAAAAAAAA"), _row(rec, "2BBBBBBBBBBBBBBBBBBBBB")
    strict = Explainer(rec.catalog, rec.space.X, rec.space.blocks, rec.space.feature_names, min_share=0.99)
    loose = Explainer(rec.catalog, rec.space.X, rec.space.blocks, rec.space.feature_names, min_share=0.0)
    assert len(strict.explain(velmora, [kastrin])[0]) <= 1 < len(loose.explain(velmora, [kastrin])[0])
