"""Record labels: artist x label TF-IDF from the artist's own releases."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from ..catalog import Catalog
from ._base import TokenFamily
from ._links import incidence, normalized_text, own_albums

__all__ = ["LabelTfidf"]


class LabelTfidf(TokenFamily):
    """Artist x label block (names ``"label=<label>"``).

    Counts the artist's own albums per label (see :func:`recsys.features._links.own_albums`: album-artist rows
    plus albums of tracks they are the primary credit on; guest appearances are left out). Labels are matched
    on a normalised key (NFKC, lower case, collapsed whitespace) and shown in their most frequent spelling.
    Empty labels and self-releases (label key == the name key of one of the album's own artists) are ignored:
    they link an artist only to itself. ``transform`` returns CSR float32 (n_artists, n_labels).

    Parameters
    ----------
    weighting : {"tfidf", "bm25", "log", "binary"}
        How album counts become weights; TF-IDF makes a label shared by few artists count more than a major.
    sublinear_tf : bool
        TF-IDF on 1 + log(count): ten albums on a label are not ten times the evidence of one.
    k1, b : float
        BM25 parameters (``weighting="bm25"``).
    min_df : int or float
        A label must be used by at least this many artists (2: a label only one artist uses links nobody).
    max_df : int or float
        Drop labels used by more artists (int) or a larger share of artists (float).
    """

    prefix = "label"

    def __init__(self, *, weighting: str = "tfidf", sublinear_tf: bool = True, k1: float = 1.2, b: float = 0.75,
                 min_df: int | float = 2, max_df: int | float = 1.0) -> None:
        self.weighting = weighting
        self.sublinear_tf = sublinear_tf
        self.k1 = k1
        self.b = b
        self.min_df = min_df
        self.max_df = max_df

    def _counts(self, catalog: Catalog) -> tuple[sp.csr_matrix, pa.Array]:
        n_art = catalog.num_rows("artists")
        art, alb = own_albums(catalog)
        label_key = normalized_text(catalog.table("albums", ["label"]).column(0))
        # Dictionary-encode once per album; the per-link work is then integer indexing.
        enc = pc.dictionary_encode(label_key.fill_null(""))
        codes = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        keys = enc.dictionary
        name_key = normalized_text(catalog.table("artists", ["name"]).column(0)).fill_null("")
        # Self-release test: the artist's name key, encoded in the same dictionary (-1 when no label is spelled so).
        name_code = pc.index_in(name_key, value_set=keys).fill_null(-1).to_numpy().astype(np.int64)
        c = codes[alb]
        # An album is self-released when its label is the name of one of its own artists; the label then says
        # nothing for anyone else on it either (e.g. the tracks of a self-released various-artists compilation).
        self_released = np.zeros(len(codes), dtype=bool)
        self_released[alb[c == name_code[art]]] = True
        empty_code = pc.index_in(pa.array([""]), value_set=keys).fill_null(-1).to_numpy()[0]
        ok = (c != empty_code) & ~self_released[alb]
        return incidence(art[ok], c[ok], (n_art, len(keys))), keys

    def _display(self, keys: np.ndarray, catalog: Catalog) -> np.ndarray:
        # the most frequent original spelling of each normalised key (ties: alphabetically first)
        raw = catalog.table("albums", ["label"]).column(0).combine_chunks().fill_null("")
        t = pa.table({"norm": normalized_text(raw), "raw": raw}).group_by(["norm", "raw"]).aggregate(
            [("raw", "count")])
        t = t.sort_by([("raw_count", "descending"), ("raw", "ascending")])
        # index_in gives the first (= most frequent) row of each key in that order
        first = pc.index_in(pa.array(keys, pa.string()), value_set=t.column("norm")).to_numpy(
            zero_copy_only=False)
        return np.asarray(t.column("raw").take(pa.array(first)).to_numpy(zero_copy_only=False), dtype=object)
