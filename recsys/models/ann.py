"""Approximate nearest neighbours (hnswlib HNSW graph) for catalogs too big for exact search.

Mental model: *split the feature columns by how many items hold them. Rare columns (a collaborator, a small label,
a compilation: a few items each) are searched exactly through an inverted index; the frequent ones (genres, era,
markets, audio, big labels) are projected to a short vector (TruncatedSVD when they are many) and put in an HNSW
graph. Both propose candidates, exact cosine orders them.* Without the exact stage (``rerank=0``) every column goes
into the graph and the graph alone answers.
hnswlib is an optional extra (``pip install recsys[ann]``) and is imported only when a model is fitted or loaded.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import time
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize
from sklearn.utils.extmath import row_norms

from ..csr import row_ranges
from ..errors import ModelFileError
from ..mapped import drop_csr_pages
from .base import _PAD_ID, SimilarityModel, register_model, topk_from_scores
from .itemknn import _is_int, _rank_pairs

__all__ = ["HNSWIndex"]

_SPACE = "ip"  # inner product of L2-normalised vectors = cosine; hnswlib distance = 1 - cosine
_BLOCK_ROWS = 1 << 17  # rows projected at a time while fitting: the projected block stays ~70 MB
_DIGEST = np.dtype([("hi", "<u8"), ("lo", "<u8")])  # sorts like the 16 digest bytes' two halves


def _import_hnswlib() -> Any:
    try:
        import hnswlib
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("HNSWIndex needs the optional package hnswlib: pip install recsys[ann]") from e
    return hnswlib


@register_model
class HNSWIndex(SimilarityModel):
    """Cosine similarity searched approximately with an HNSW graph (hnswlib).

    ``fit(X)`` densifies ``X`` if it has at most ``n_components`` columns; otherwise it projects ``X`` with
    scikit-learn's ``TruncatedSVD`` to ``min(n_components, n_items)`` dimensions (the projection is kept, see
    :meth:`transform`). Rows are then L2-normalised. Identical vectors are indexed once, as a *group*: metadata
    vectors repeat heavily (most artists carry only a genre or two and a popularity bin), and big clusters of
    identical points split an HNSW graph into islands that queries cannot leave (on the 3,000-artist demo that
    cost 4% recall@10; deduplicated, none). A graph hit on a group expands to its members in id order.

    With ``rerank > 0`` (the default) and sparse ``X``, columns held by at most ``sparse_max_df`` items are left
    out of the graph and searched exactly instead: for a query, the items sharing one of its rare columns are
    scored exactly on those columns (plus the graph vectors' inner product for the rest), and the best
    ``sparse_candidates`` of them join the graph's ``rerank`` candidates. Only the frequent columns are projected
    (a few hundred to a few thousand at any catalog size, so the SVD's components stay small), and the graph
    searches by inner product of the rows' projected frequent parts: that is the frequent columns' share of the
    cosine. Why: a projection keeps the broad directions (genres, eras) but not the millions of one-collaborator
    columns that decide many artists' nearest neighbours; with one pool for both, recall@10 fell from 0.97 to
    0.75 between 100k and 1M generated artists, and with the split it stays above 0.98 (benchmarks/README.md).

    Score with ``rerank > 0``: the exact cosine of the rows of ``X`` (L2-normalised), for every candidate.
    Score with ``rerank=0``: cosine of the two items' vectors in :attr:`vectors_`, recomputed exactly for every
    candidate. Higher is more similar; pairs with score <= 0 are not neighbours (as in
    :class:`~recsys.models.exact.ExactCosine`). The approximation is only in *which* items are visited.

    Queries: with no restriction the graph is asked for ``n + 1`` groups (the query's own group comes back too);
    when up to ``_OVERFETCH_MAX`` groups have no allowed member (an ``exclude`` list) it over-fetches that many
    more and filters in numpy; with a larger restriction it passes hnswlib 0.8's ``filter`` callback. When at most
    ``_EXACT_MAX_ALLOWED`` rows are allowed (typically ``candidates``), an exact scan of those rows is cheaper
    and exact, and is used instead (also whenever hnswlib cannot return enough items).

    Determinism: the SVD is seeded by ``random_state``, the graph by ``random_state`` as hnswlib's
    ``random_seed``. With ``num_threads=1`` (the default) insertion order is fixed and the index repeats exactly;
    with several threads the graph, and so some approximate answers, can differ between fits.

    Parameters
    ----------
    n_components : int
        Target dimension of the SVD (applied only when ``X`` has more columns than this).
    M : int
        HNSW graph degree: more links, better recall, more memory.
    ef_construction : int
        Candidate list size while building: higher is slower to build and better connected (with the exact stage,
        200 gave the same recall@10 as 100 at 300k generated artists, 0.998, for 1.5x the build time).
    ef_search : int
        Candidate list size while querying (hnswlib raises it to the number of groups fetched when larger).
    random_state : int
        Seed of the SVD and of the graph's level assignment.
    num_threads : int
        Threads for building and for batch queries; 0 means all cores.
    rerank : int or "auto"
        Graph candidates ordered by exact cosine over ``X`` per query; 0 answers from the graph alone. "auto"
        (the default) takes ``max(1000, n_items // 1000)``: recall depends on the pool's share of the catalogue
        more than on its size (1,000 gave recall@10 0.998 / 0.997 / 0.985 at 100k / 300k / 1M generated
        artists; a share of 1/1000 gave 0.99 at 300k and 0.985 at 1M), so a fixed pool loses recall as the
        catalogue grows; see benchmarks/README.md.
    sparse_max_df : int
        Columns held by at most this many items are searched exactly through an inverted index instead of the
        graph (only with ``rerank > 0`` and sparse ``X``); it bounds the inverted index's work per query at
        ``sparse_max_df`` items per query column. 0 puts every column in the graph.
    sparse_candidates : int
        Items from the inverted index added to the graph's candidates per query.
    svd_sample : int or None
        Fit the SVD on this many randomly chosen rows (seeded by ``random_state``) instead of all, then project
        every row with it: the SVD's cost then stops growing with the catalogue (at 15.4M artists a full SVD
        alone would take hours on two cores). None, or a sample at least as large as ``X``, uses every row.

    Attributes
    ----------
    group_vectors_ : ndarray of float32, shape (n_groups, dim)
        The distinct vectors, as indexed (a zero row for items without graph features): unit vectors without the
        split; with it, the projected frequent parts of the unit rows plus one last coordinate sqrt(1 - |v|^2)
        that puts them on the unit sphere (queries use 0 there, so inner products are unchanged). Kept only with
        ``rerank=0``; with an exact stage the graph holds the only copy and this is recomputed from the rows on
        access (bit-identical to what was indexed).
    groups_ : ndarray of int64, shape (n_items,)
        Group of each item; groups are numbered in order of their first item.
    vectors_ : ndarray of float32, shape (n_items, dim)
        Every item's vector as indexed (``group_vectors_[groups_]``, built on access; unit rows).
    components_ : ndarray of float32, shape (dim, n_graph_columns) or (0, n_graph_columns)
        The SVD projection of the graph's columns, empty when no SVD was applied.
    exact_ : scipy.sparse.csr_matrix of float32 or None
        With an exact stage: the rows of ``X`` as given. A float32 CSR ``X`` is shared, not copied (the model
        only reads it; like scikit-learn's ``NearestNeighbors``, it must not be changed afterwards).
    row_scale_ : ndarray of float32, shape (n_items,) or None
        Inverse L2 norms of those rows (0 for empty rows): cosines are computed as ``X[c] @ q * scale``.
    graph_columns_ : ndarray of int64 or None
        With the split: the columns in the graph (held by more than ``sparse_max_df`` items); None without it
        (every column).
    inverted_ : scipy.sparse.csc_matrix of bool or None
        With the split: which items hold each rare column (the inverted index; the graph's columns are empty).
        Built on the first query that needs it.
    index_ : hnswlib.Index
        The graph over ``group_vectors_``, labels = group numbers.

    Memory, per item, fitting with the split (1M generated artists, X 586 B per artist): the caller's X (none
    of it resident when X is memory-mapped: :func:`recsys.mapped.load_csr`; each pass hands its pages back),
    plus hnswlib's graph (~660 B saved: the 129-float vector and 32 links; ~810 B in memory with its label map
    and a lock per element) and ~30 B of group bookkeeping. Answering queries adds the inverted index (5 B per
    rare entry of X). Fitting projects and adds a block of ``_BLOCK_ROWS`` rows at a time; duplicate
    vectors are found by a 128-bit digest per row, so no n x dim array is ever held.

    Notes
    -----
    Saved models carry the hnswlib index file as a uint8 array inside ``arrays.npz``; loading writes it to a
    temporary file for ``hnswlib.Index.load_index``. No pickle is involved, but hnswlib's reader is native code,
    so the checksum in ``model.json`` is what guards against damaged files.
    """

    name: ClassVar[str] = "hnsw"
    #: at most this many allowed rows -> exact scan of them instead of the graph
    _EXACT_MAX_ALLOWED: ClassVar[int] = 4096
    #: at most this many disallowed rows -> over-fetch and filter in numpy instead of a Python filter callback
    _OVERFETCH_MAX: ClassVar[int] = 256
    #: saved arrays read through a memory map when loaded (the rows: the size of X; see recsys.mapped)
    _mapped_arrays: ClassVar[tuple[str, ...]] = ("exact_data", "exact_indices", "exact_indptr")

    def __init__(self, *, n_components: int = 128, M: int = 16, ef_construction: int = 100, ef_search: int = 100,
                 random_state: int = 0, num_threads: int = 1, rerank: int | str = "auto", sparse_max_df: int = 1000,
                 sparse_candidates: int = 200, svd_sample: int | None = None) -> None:
        self.rerank = rerank
        self.sparse_max_df = sparse_max_df
        self.sparse_candidates = sparse_candidates
        self.svd_sample = svd_sample
        self.n_components = n_components
        self.M = M
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        self.random_state = random_state
        self.num_threads = num_threads

    def _check_params(self) -> None:
        for param, low in (("n_components", 1), ("M", 2), ("ef_construction", 1), ("ef_search", 1),
                           ("random_state", 0), ("num_threads", 0), ("rerank", 0),
                           ("sparse_max_df", 0), ("sparse_candidates", 0)):
            value = getattr(self, param)
            if param == "rerank" and value == "auto":
                continue
            if not _is_int(value):
                kind = 'an int or "auto"' if param == "rerank" else "an int"
                raise TypeError(f"{param} must be {kind}, got {type(value).__name__} ({value!r})")
            if value < low:
                raise ValueError(f"{param} must be >= {low}, got {value}")
        if self.svd_sample is not None and (not _is_int(self.svd_sample) or self.svd_sample < 2):
            raise ValueError(f"svd_sample must be None or an int >= 2, got {self.svd_sample!r}")

    def _pool(self, n_items: int | None = None) -> int:
        """Candidates per query for the exact stage (0: no exact stage), ``rerank`` resolved for ``n_items``."""
        if isinstance(self.rerank, str):  # "auto", checked in _check_params
            return max(1000, int(self.n_items_ if n_items is None else n_items) // 1000)
        return int(self.rerank)

    # -- fitting
    def _fit(self, X: Any) -> None:
        hnswlib = _import_hnswlib()
        n_items, n_features = int(X.shape[0]), int(X.shape[1])
        clock = time.perf_counter()
        self.fit_seconds_: dict[str, float] = {}

        def lap(step: str) -> None:  # where fit time goes, for the scale benchmark
            nonlocal clock
            now = time.perf_counter()
            self.fit_seconds_[step] = round(now - clock, 3)
            clock = now

        # The exact stage scores the caller's rows as they are, scaled by their inverse norms: a normalised copy of
        # X would double the largest array of the fit (X is 9 GB at the full dump's 15.4M artists).
        exact_stage = self._pool(n_items) > 0
        self.exact_ = self.row_scale_ = None
        # X may be memory-mapped (recsys.mapped.load_csr): each pass over it hands back the pages it has read, so
        # X adds nothing to the fit's peak (a no-op for X in memory)
        X = sp.csr_matrix(X, dtype=np.float32) if sp.issparse(X) else X  # shares the arrays of a float32 CSR X

        def done_with_x() -> None:
            if sp.issparse(X):
                drop_csr_pages(X)

        if exact_stage:
            self.exact_ = X if sp.issparse(X) else sp.csr_matrix(X, dtype=np.float32)
            norms = np.empty(n_items, dtype=np.float32)
            for lo, hi in row_ranges(self.exact_.indptr, 1 << 24):  # a row's norm does not depend on the others
                norms[lo:hi] = row_norms(self.exact_[lo:hi])
                done_with_x()
            self.row_scale_ = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0).astype(np.float32)
        self._set_split(None)
        if exact_stage and sp.issparse(X) and self.sparse_max_df:
            df = np.zeros(n_features, dtype=np.int64)
            for lo, hi in row_ranges(X.indptr, 1 << 24):
                df += np.bincount(X.indices[X.indptr[lo]:X.indptr[hi]], minlength=n_features)
                done_with_x()
            self._set_split(np.flatnonzero(df > self.sparse_max_df))
        lap("split")
        graph_width = n_features if self.graph_columns_ is None else len(self.graph_columns_)
        if graph_width > self.n_components:
            from sklearn.decomposition import TruncatedSVD

            # More components than items would only add directions with zero singular value.
            k = int(min(self.n_components, n_items, self.svd_sample or n_items))
            svd = TruncatedSVD(n_components=k, random_state=self.random_state)
            sample = None
            if self.svd_sample is not None and self.svd_sample < n_items:
                rng = np.random.default_rng(self.random_state)
                sample = np.sort(rng.choice(n_items, size=int(self.svd_sample), replace=False))
            svd.fit(self._graph_part(X, sample))
            done_with_x()
            self.components_ = np.ascontiguousarray(svd.components_, dtype=np.float32)
        else:
            self.components_ = np.zeros((0, graph_width), dtype=np.float32)
        lap("svd")
        # Metadata vectors repeat a lot (every artist with only a popularity token is one of ~20 vectors). Big
        # clusters of identical points cut HNSW graphs into islands that queries cannot leave, so each distinct
        # vector is indexed once, as a group, and expanded to its member items when answering. Vectors are
        # grouped by a 128-bit digest of their bytes, a block of rows at a time, so no n x dim array is held.
        # transform() works row by row, so identical rows of X give bit-identical vectors.
        digests = np.empty(n_items, dtype=_DIGEST)
        for start in range(0, n_items, _BLOCK_ROWS):
            v = self._indexed_vectors(X[start:start + _BLOCK_ROWS])
            digests[start:start + len(v)] = _digest_rows(v)
            done_with_x()
        _, first, inverse = np.unique(digests, return_index=True, return_inverse=True)
        del digests
        renumber = np.empty(len(first), dtype=np.int64)
        renumber[np.argsort(first, kind="stable")] = np.arange(len(first))  # groups in order of first item
        self.groups_ = renumber[inverse.ravel()]
        first = np.sort(first)
        del inverse, renumber
        lap("project_and_deduplicate")
        # The graph holds the only copy of the vectors when an exact stage orders its candidates; answering
        # from the graph alone (rerank=0) scores with the vectors, so they are kept.
        dim = self._dim()
        index = hnswlib.Index(space=_SPACE, dim=dim)
        index.init_index(max_elements=len(first), M=int(self.M), ef_construction=int(self.ef_construction),
                         random_seed=int(self.random_state))
        self._stored_vectors = None if exact_stage else np.empty((len(first), dim), dtype=np.float32)
        for start in range(0, len(first), _BLOCK_ROWS):
            v = self._indexed_vectors(X[first[start:start + _BLOCK_ROWS]])
            # one call per block, in id order, single-threaded by default: the same graph as one call for all
            index.add_items(v, np.arange(start, start + len(v)), num_threads=self._hnsw_threads())
            if self._stored_vectors is not None:
                self._stored_vectors[start:start + len(v)] = v
            done_with_x()
        lap("graph")
        self._ready(index)

    def _indexed_vectors(self, X: Any) -> np.ndarray:
        """Rows of ``X`` as indexed in the graph: :meth:`transform`, plus the split's sphere coordinate."""
        v = self.transform(X)
        if not np.isfinite(v).all():
            raise ValueError("X must hold finite numbers only, got NaN or infinity")
        if self.graph_columns_ is not None:
            # Inner-product search is what the split needs (the frequent columns' share of the cosine is an inner
            # product of vectors shorter than 1), and HNSW graphs search it poorly. One extra coordinate
            # sqrt(1 - |v|^2) puts every vector on the unit sphere while a query padded with 0 keeps the same
            # inner products (Bachrach et al., RecSys 2014): at 300k artists the graph then found 89% of the
            # true top 1,000 instead of 74%, and built in 60% of the time.
            norm2 = np.einsum("ij,ij->i", v, v)
            pad = np.sqrt(np.clip(1.0 - norm2, 0.0, None)).astype(np.float32)
            v = np.ascontiguousarray(np.hstack([v, pad[:, None]]))
        return v

    def _set_split(self, graph_columns: np.ndarray | None) -> None:
        """Set :attr:`graph_columns_` (None: no split) and what is derived from it: the column -> graph position
        table and the inverted index over the other columns of :attr:`exact_` (rebuilt, not saved)."""
        self.graph_columns_ = self._inverted = self._graph_lut = None
        if graph_columns is None:
            return
        self.graph_columns_ = graph_columns.astype(np.int64, copy=False)
        # int32 per column: position among the graph's columns, -1 for the rare ones (see _graph_part)
        self._graph_lut = np.full(self.exact_.shape[1], -1, dtype=np.int32)
        self._graph_lut[self.graph_columns_] = np.arange(len(self.graph_columns_), dtype=np.int32)

    @property
    def inverted_(self) -> sp.csc_matrix | None:
        """With the split: which items hold each rare column (boolean CSC; the graph's columns stay empty); None
        without it. Built on the first query that needs it, not when fitting or loading: a build only fits and
        saves, and the index (~5 bytes per rare entry of X, ~3 GB at the full dump) is not saved."""
        if self.graph_columns_ is None:
            return None
        if self._inverted is None:
            with _INVERTED_LOCK:  # concurrent first queries (the app's threads) build it once
                if self._inverted is None:
                    self._inverted = self._build_inverted()
        return self._inverted

    def _build_inverted(self) -> sp.csc_matrix:
        """The inverted index, built a block of rows at a time from the rare entries' coordinates (8 bytes each),
        never from a copy of X."""
        X = self.exact_
        rare = self._graph_lut < 0
        rows, cols = [], []
        for lo, hi in row_ranges(X.indptr, 1 << 24):  # ~16M entries' coordinates at a time
            c = X.indices[X.indptr[lo]:X.indptr[hi]]
            keep = rare[c]
            r = np.repeat(np.arange(lo, hi, dtype=np.int32), np.diff(X.indptr[lo:hi + 1]))
            rows.append(r[keep])
            cols.append(c[keep].astype(np.int32, copy=False))
            drop_csr_pages(X)
        rows, cols = np.concatenate(rows), np.concatenate(cols)
        return sp.csc_matrix((np.ones(len(rows), dtype=bool), (rows, cols)), shape=X.shape)

    def _graph_part(self, X: Any, rows: np.ndarray | None = None) -> Any:
        """The part of ``X`` (some ``rows``) the graph indexes: every column, or the split's frequent columns of
        the L2-normalised rows (their share of the cosine), float32."""
        if self.graph_columns_ is None:
            Xf = sp.csr_matrix(X, dtype=np.float32) if sp.issparse(X) else np.asarray(X, dtype=np.float32)
            return Xf if rows is None else Xf[rows]
        Xf = sp.csr_matrix(X, dtype=np.float32)
        if rows is not None:
            Xf = Xf[rows]
        Xf = normalize(Xf, norm="l2", axis=1)
        # The graph's columns picked through a lookup table (column -> position in the graph, or -1): scipy's
        # column indexing (``Xf[:, cols]``) allocates an array over all columns per call, ~100 MB per query at the
        # full dump's 23M columns. Entries keep their order within each row, so the projection below sums in the
        # same order (bit-identical).
        pos = self._graph_lut[Xf.indices]
        keep = pos >= 0
        kept_before = np.zeros(len(keep) + 1, dtype=np.int64)  # kept entries before each entry
        np.cumsum(keep, out=kept_before[1:])
        return sp.csr_matrix((Xf.data[keep], pos[keep], kept_before[Xf.indptr]),
                             shape=(Xf.shape[0], len(self.graph_columns_)))


    @property
    def group_vectors_(self) -> np.ndarray:
        """The distinct vectors as indexed, float32 (n_groups, dim); see the class docstring. Kept from the fit
        only without an exact stage (``rerank=0``); otherwise recomputed from the rows on access."""
        if self._stored_vectors is not None:
            return self._stored_vectors
        return self._group_vectors(np.arange(len(self._group_ptr) - 1))

    @property
    def vectors_(self) -> np.ndarray:
        """Every item's vector as indexed, float32 (n_items, dim): unit rows without the split; with it, the
        projected frequent parts plus the sphere coordinate (see :attr:`group_vectors_`)."""
        return self.group_vectors_[self.groups_]

    def share_rows(self, X: Any) -> bool:
        """Use ``X``'s arrays for the exact stage when they equal the model's rows (see
        :meth:`SimilarityModel.share_rows`); models saved before the rows were kept unnormalised never match."""
        mine = self.exact_
        if mine is None or not sp.issparse(X) or X.format != "csr" or X.dtype != np.float32 or X.shape != mine.shape:
            return False
        if mine.data is X.data:
            return True
        if not all(np.array_equal(getattr(mine, a), getattr(X, a)) for a in ("indptr", "indices", "data")):
            return False
        self.exact_ = sp.csr_matrix(X)  # a view over the same arrays
        return True

    def _group_vectors(self, groups: np.ndarray) -> np.ndarray:
        """Vectors of these groups as indexed (float32, one row per group, in the order given)."""
        if self._stored_vectors is not None:
            return self._stored_vectors[groups]
        return self._indexed_vectors(self.exact_[self._members[self._group_ptr[groups]]])

    def _hnsw_threads(self) -> int:
        return -1 if self.num_threads == 0 else int(self.num_threads)  # hnswlib: -1 = all cores

    def _ready(self, index: Any) -> None:
        index.set_ef(int(self.ef_search))
        index.set_num_threads(self._hnsw_threads())
        self.index_ = index
        # Members of each group in id order: self._members[self._group_ptr[g]:self._group_ptr[g + 1]].
        self._members = np.argsort(self.groups_, kind="stable")
        self._group_ptr = np.concatenate([[0], np.cumsum(np.bincount(self.groups_,
                                                                     minlength=index.get_current_count()))])

    def transform(self, X: Any) -> np.ndarray:
        """Map rows to the graph's space, like the indexed items.

        Without the split: project with the fitted SVD (if any) and L2-normalise. With it: L2-normalise the rows,
        keep the graph's (frequent) columns and project those, so that inner products of the results approximate
        those columns' share of the cosine.

        Parameters
        ----------
        X : array-like or sparse, shape (n_rows, n_features)

        Returns
        -------
        ndarray of float32, shape (n_rows, dim); without the split unit rows (zero rows stay zero)
        """
        if not hasattr(self, "components_"):
            self._require_fitted()
        n_features = self._n_columns()
        if getattr(X, "ndim", 0) != 2 or X.shape[1] != n_features:
            raise ValueError(f"X must have shape (n_rows, {n_features}), got {getattr(X, 'shape', None)}")
        dim = self.components_.shape[0] or self.components_.shape[1]
        out = np.empty((X.shape[0], dim), dtype=np.float32)
        step = 1 << 19  # rows at a time: the normalised copy and the projection stay a small block
        for start in range(0, X.shape[0], step):
            part = self._graph_part(X[start:start + step])
            if self.components_.shape[0]:
                z = part @ self.components_.T  # sparse @ dense is dense: no need to densify X
            else:
                z = part.toarray() if sp.issparse(part) else part
            z = np.asarray(z, dtype=np.float32)
            if self.graph_columns_ is None:
                norms = np.linalg.norm(z, axis=1, keepdims=True)
                z = np.divide(z, norms, out=np.zeros_like(z), where=norms > 0)
            out[start:start + step] = z
        return out

    def _n_columns(self) -> int:
        """Number of columns of the fitted ``X``."""
        if self.graph_columns_ is not None:
            return int(self._graph_lut.shape[0])
        return int(self.components_.shape[1])

    # -- querying
    def _query_vectors(self, groups: np.ndarray) -> np.ndarray:
        """Vectors of these groups as queries: with the split, the sphere coordinate is 0 (see ``_fit``)."""
        q = self._group_vectors(groups)
        if self.graph_columns_ is not None:
            q[:, -1] = 0.0
        return q

    def _topk(self, rows: np.ndarray, n: int, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pool = self._pool()
        if not pool:
            return self._graph_topk(rows, n, allowed)
        # Two stages: the graph (and, with the split, the inverted index) proposes candidates, exact cosine over
        # the original rows orders them. A projection of a wide sparse space keeps neighbourhoods but not the
        # exact order, and this restores most of it at a cost of one small sparse product per query.
        n_allowed = int(allowed.sum())
        few = n_allowed < self.n_items_ and n_allowed <= self._EXACT_MAX_ALLOWED
        if few:  # a short list of allowed rows (typically `candidates`): score all of them exactly
            cand = np.broadcast_to(np.flatnonzero(allowed), (len(rows), n_allowed))
        else:
            cand, _ = self._graph_topk(rows, max(pool, n), allowed)
        out_ids = np.full((len(rows), n), _PAD_ID, dtype=np.int64)
        out_scores = np.full((len(rows), n), -np.inf, dtype=np.float32)
        X, scale = self.exact_, self.row_scale_
        for i, r in enumerate(rows):
            q = X[int(r)]
            # the query as a dense unit vector over the columns (calloc'd: only its own pages are touched), so
            # candidates' cosines are one CSR mat-vec times their inverse norms; `q @ X[c].T` converted the
            # candidates to CSC every query
            dense_q = np.zeros(X.shape[1], dtype=np.float32)
            dense_q[q.indices] = q.data * scale[r]
            c = cand[i][cand[i] >= 0]
            if self.inverted_ is not None and not few:
                c = np.union1d(c, self._rare_candidates(int(r), q.indices, dense_q, allowed))
            c = c[c != r]
            if not len(c):
                continue
            s = np.asarray(X[c] @ dense_q, dtype=np.float32) * scale[c]
            ok = s > 0
            c, s = c[ok], s[ok]
            order = np.lexsort((c, -np.round(s, 6)))[:n]
            out_ids[i, :len(order)], out_scores[i, :len(order)] = c[order], s[order]
        return out_ids, out_scores

    def _rare_candidates(self, row: int, columns: np.ndarray, dense_q: np.ndarray,
                         allowed: np.ndarray) -> np.ndarray:
        """The ``sparse_candidates`` allowed items with the highest cosine to ``row`` among those sharing one of its
        rare ``columns`` (found through the inverted index, scored exactly), int64 ids in any order; ``dense_q``
        is the row as a dense unit vector."""
        items = np.unique(self.inverted_[:, columns].indices)  # its frequent columns are empty here
        items = items[allowed[items] & (items != row)]
        m = int(self.sparse_candidates)
        if len(items) > m:
            score = np.asarray(self.exact_[items] @ dense_q) * self.row_scale_[items]
            items = items[np.argpartition(-score, m - 1)[:m]]
        return items.astype(np.int64)

    def _graph_topk(self, rows: np.ndarray, n: int, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n_allowed = int(allowed.sum())
        if n_allowed < self.n_items_ and n_allowed <= self._EXACT_MAX_ALLOWED:
            return self._exact_topk(rows, n, allowed)
        members, ptr = self._members, self._group_ptr
        if n_allowed < self.n_items_:
            members = members[allowed[members]]  # still grouped, still in id order inside each group
            ptr = np.concatenate([[0], np.cumsum(np.bincount(self.groups_[members], minlength=len(ptr) - 1))])
        size = np.diff(ptr)  # allowed members per group
        n_groups = len(size)
        n_dead = int((size == 0).sum())  # groups without an allowed member
        # Every live group gives >= 1 item, and only the query itself can still drop out of a group, so
        # n + 1 live groups always hold the top n, and each group's first n + 1 allowed members suffice.
        if n_dead <= self._OVERFETCH_MAX:
            k, filt, threads = min(n + 1 + n_dead, n_groups), None, self._hnsw_threads()
        else:
            # The callback runs Python per visited node and needs the GIL, so threads would only contend.
            k, filt, threads = min(n + 1, n_groups), (size > 0).tolist().__getitem__, 1
        gv = self._stored_vectors
        qg = self.groups_[rows]
        # hnswlib needs ef >= k, else it cannot fill k results and raises; large k comes from the re-rank stage.
        self.index_.set_ef(max(int(self.ef_search), int(k)))
        try:
            labels, dist = self.index_.knn_query(self._query_vectors(qg), k=k, num_threads=threads, filter=filt)
        except RuntimeError:
            # hnswlib raises when the graph walk finds fewer than k items (e.g. a filter it cannot satisfy).
            return self._exact_topk(rows, n, allowed)
        labels = labels.astype(np.int64)
        out_ids = np.full((len(rows), n), _PAD_ID, dtype=np.int64)
        out_scores = np.full((len(rows), n), -np.inf, dtype=np.float32)
        chunk = max(1, (1 << 20) // (k * (n + 1)))
        for start in range(0, len(rows), chunk):
            r, lab, g = rows[start:start + chunk], labels[start:start + chunk], qg[start:start + chunk]
            if gv is not None:
                # Answers from the graph alone: the cosines of the stored vectors (not hnswlib's distances, which
                # lose bits in 1 - cosine), as in the exact path.
                s = np.einsum("qd,qkd->qk", self._query_vectors(g), gv[lab])
            else:  # only picks the candidates that the exact stage then scores
                s = 1.0 - dist[start:start + chunk]
            cnt = np.where(s > 0, np.minimum(size[lab], n + 1), 0).ravel()
            pair = np.repeat(np.arange(cnt.size), cnt)
            offset = np.arange(len(pair)) - np.repeat(np.cumsum(cnt) - cnt, cnt)
            ids = members[ptr[lab.ravel()[pair]] + offset]
            owner = pair // k
            keep = ids != r[owner]
            got = _rank_pairs(owner[keep], ids[keep], s.ravel()[pair[keep]], len(r), n)
            out_ids[start:start + len(r)], out_scores[start:start + len(r)] = got
        return out_ids, out_scores

    def _exact_topk(self, rows: np.ndarray, n: int, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact scan over the allowed rows (ascending, so ties still go to the lower id)."""
        cand = np.flatnonzero(allowed)
        out_ids = np.full((len(rows), n), _PAD_ID, dtype=np.int64)
        out_scores = np.full((len(rows), n), -np.inf, dtype=np.float32)
        if not len(cand):
            return out_ids, out_scores
        ug, where = np.unique(self.groups_[cand], return_inverse=True)
        vc = self._group_vectors(ug)[where.ravel()]
        chunk = max(1, (1 << 24) // len(cand))
        for start in range(0, len(rows), chunk):
            r = rows[start:start + chunk]
            s = self._query_vectors(self.groups_[r]) @ vc.T
            s[(cand[None, :] == r[:, None]) | (s <= 0)] = -np.inf
            cols, sc = topk_from_scores(s, n)
            out_ids[start:start + len(r)] = np.where(cols >= 0, cand[np.maximum(cols, 0)], _PAD_ID)
            out_scores[start:start + len(r)] = sc
        return out_ids, out_scores

    # -- saving: the hnswlib file's bytes travel inside arrays.npz as uint8, so no pickle is involved
    def _get_state(self) -> dict[str, np.ndarray]:
        with tempfile.TemporaryDirectory(prefix="recsys-hnsw-") as tmp:
            path = os.path.join(tmp, "index.bin")
            self.index_.save_index(path)
            # mapped, not read: the saved graph is the size of the index, and the mapping outlives the file
            blob = np.memmap(path, dtype=np.uint8, mode="r")
        state = {"index": blob, "groups": self.groups_, "components": self.components_}
        if self._stored_vectors is not None:
            state["group_vectors"] = self._stored_vectors
        if self.exact_ is not None:
            x = self.exact_
            state |= {"exact_data": x.data, "exact_indices": x.indices, "exact_indptr": x.indptr,
                      "exact_shape": np.asarray(x.shape, dtype=np.int64), "row_scale": self.row_scale_}
        if self.graph_columns_ is not None:  # the inverted index is rebuilt from these on load
            state["graph_columns"] = self.graph_columns_
        return state

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        hnswlib = _import_hnswlib()
        self._stored_vectors = (np.ascontiguousarray(arrays["group_vectors"], dtype=np.float32)
                                if "group_vectors" in arrays else None)
        self.groups_ = arrays["groups"].astype(np.int64, copy=False)
        self.components_ = arrays["components"]
        self.exact_ = self.row_scale_ = None
        if "exact_data" in arrays:
            self.exact_ = sp.csr_matrix((arrays["exact_data"], arrays["exact_indices"], arrays["exact_indptr"]),
                                        shape=tuple(int(v) for v in arrays["exact_shape"]))
            # models saved before the scale existed kept L2-normalised rows
            self.row_scale_ = (arrays["row_scale"].astype(np.float32, copy=False) if "row_scale" in arrays
                               else np.ones(self.exact_.shape[0], dtype=np.float32))
        if self._stored_vectors is None and self.exact_ is None:
            raise ModelFileError("the saved HNSW model has neither its vectors nor its rows", hint="rebuild the model")
        self._set_split(None)
        if "graph_columns" in arrays:
            if self.exact_ is None:
                raise ModelFileError("the saved HNSW model has graph columns but no rows to search exactly",
                                     hint="rebuild the model")
            self._set_split(arrays["graph_columns"])
        n_groups = int(self.groups_.max()) + 1 if len(self.groups_) else 0
        dim = self._dim()
        index = hnswlib.Index(space=_SPACE, dim=dim)
        with tempfile.TemporaryDirectory(prefix="recsys-hnsw-") as tmp:
            path = os.path.join(tmp, "index.bin")
            with open(path, "wb") as f:
                # read here and dropped before hnswlib reads the file, so the graph is never in memory twice
                np.ascontiguousarray(arrays["index"], dtype=np.uint8).tofile(f)
            try:
                index.load_index(path, max_elements=n_groups)
            except RuntimeError as e:
                raise ModelFileError(f"the saved HNSW index cannot be read: {e}", hint="rebuild the model") from e
        if index.get_current_count() != n_groups or index.dim != dim:
            raise ModelFileError(f"the saved HNSW index holds {index.get_current_count()} vectors of dimension "
                                 f"{index.dim}, expected {n_groups} of dimension {dim}", hint="rebuild the model")
        self._ready(index)

    def _dim(self) -> int:
        """Dimension of the indexed vectors: the SVD's components or the graph's columns, plus the split's
        sphere coordinate."""
        width = self.components_.shape[0] or self.components_.shape[1]
        return int(width) + (self.graph_columns_ is not None)


#: guards the first build of an inverted index (queries may come from several threads)
_INVERTED_LOCK = threading.Lock()


def _digest_rows(v: np.ndarray) -> np.ndarray:
    """A 128-bit BLAKE2b digest of each row's bytes (``_DIGEST`` records): equal rows, equal digests; distinct
    rows collide with probability about 2^-128 per pair, so grouping by digest is grouping by value."""
    v = np.ascontiguousarray(v)
    raw, width = v.tobytes(), v.shape[1] * v.itemsize
    out = b"".join(hashlib.blake2b(raw[i:i + width], digest_size=16).digest() for i in range(0, len(raw), width))
    return np.frombuffer(out, dtype=_DIGEST)
