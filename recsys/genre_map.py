"""The genre map and the hidden-gem lists of the discovery demo, with no Streamlit.

Mental model: *a genre is the mean of its artists in the feature space the model uses; the map is a 2-D picture
of those means (near = similar), and a genre's "hidden gems" are its long-tail artists closest to that mean.*

* :func:`genre_map`: one row per genre: position (x, y), number of artists, popularity, tail share, cluster.
* :func:`neighbourhood_on_map`: the genres a seed and its neighbours carry, placed on a map, to highlight them.
* :func:`genre_tail_artists`: a genre's strongest long-tail artists (catalog genre, or inferred for artists
  without genres), ranked by cosine to the genre's centroid.

Genre vectors. ``v_g = normalise(sum of the rows of rec.space.X of the artists carrying g)``: an artist row is a
weighted stack of unit-norm family blocks, so a member weighs by how much is known about it, never by its
popularity or followers. The genre's *own* columns (``genre=g`` and ``inferred_genre=g``) are set to zero:
every member has them, so they only say "g is g" and would push every genre the same distance away from all
others, drowning what the map should show. The *other* genres' columns are kept: artists tagged g that are often also tagged h tie g to h, the most
direct genre-similarity signal there is; labels, playlists, collaborations, compilations, era, markets and audio
add the rest. Artists count as carriers of a genre on the map only through the catalog's ``artist_genres``.

Layout. Up to :data:`SMALL_MAP` genres: classical MDS of the exact cosine distances (deterministic, exact for 1-3
genres). Above: TruncatedSVD (ARPACK) of the genre vectors to 50 dimensions, then t-SNE (cosine metric, PCA init,
fixed ``random_state``, perplexity ``min(30, (n - 1) / 3)``, 500 iterations). Coordinates are centred and scaled
into [-1, 1]. Clusters: KMeans on the same 50-dimensional vectors.

Cost (one thread, CPU time; the wall time on a shared machine is higher). The sparse product ``M.T @ X`` is linear
in the genre-carrying artists' nonzeros (0.15 s on the 100k demo); then SVD and t-SNE, ~O(n log n) in genres:
694 genres of the 100k demo: 2.2 s in all (7 s wall at load 10 on 2 cores); 6,000 genres with 7.8M nonzeros
(the full dump's size, simulated): SVD 2.6 s + t-SNE 14.5 s (66 s wall at load 10). ``max_genres`` keeps the
most-carried genres to bound it (100 genres: ~1 s wall). Maps are memoised per recommender, seed and size.
"""

from __future__ import annotations

import difflib
import warnings
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .errors import RecsysError, UnknownIdError
from .features._links import artists_with_genres, cached, safe_normalize
from .features.genres import genre_incidence
from .longtail import head_threshold
from .strings import StringColumn

__all__ = ["genre_map", "neighbourhood_on_map", "genre_tail_artists", "genre_names", "SMALL_MAP",
           "INFERRED_TOP"]

#: Maps with at most this many genres are laid out by classical MDS instead of t-SNE (t-SNE needs a perplexity
#: well below the number of points and says little about a handful of them).
SMALL_MAP = 10
#: An artist without catalog genres carries a genre "by inference" when the genre is among its INFERRED_TOP
#: strongest inferred genres (the same three the discovery lists show after "inferred: ").
INFERRED_TOP = 3
_SVD_DIMS = 50
#: t-SNE iterations (250 of them early exaggeration). Time is linear in them; on the 100k demo (694 genres) 500
#: instead of sklearn's 1000 halved the time and moved the same-/other-family distance ratio from 0.037 to 0.042.
_TSNE_ITER = 500
_MAP_COLUMNS = ["genre", "x", "y", "artists", "popularity", "tail_share", "cluster", "cluster_name"]
_HOOD_COLUMNS = ["genre", "x", "y", "count", "inferred", "role"]


# --- per-recommender state --------------------------------------------------------------------------------------

@dataclass
class _Genres:
    """Genre tables of one artist recommender (built once, then reused by every call)."""

    names: np.ndarray  # object (n_genres,): catalog spelling, only genres with >= 1 artist
    key_to_code: dict[str, int]  # lower-cased, stripped name -> code
    M: sp.csc_matrix  # 0/1 float32 (n_artists, n_genres): catalog genres (columns = a genre's artists)
    M_rows: sp.csr_matrix  # the same, CSR (rows = an artist's genres)
    counts: np.ndarray  # int64 (n_genres,): artists carrying each genre
    own_genre_col: np.ndarray  # int64 (n_genres,): column "genre=<g>" in X, -1 if none
    own_inferred_col: np.ndarray  # int64 (n_genres,): column "inferred_genre=<g>" in X, -1 if none
    V: sp.csr_matrix | None = None  # float32 (n_genres, n_features): genre vectors, own columns zeroed, L2-normed
    inferred: tuple[sp.csr_matrix, np.ndarray] | None = None  # see _inferred_block
    maps: dict[tuple, pd.DataFrame] = field(default_factory=dict)


_STATE: weakref.WeakKeyDictionary[Any, _Genres] = weakref.WeakKeyDictionary()


def _check_artist_rec(rec: Any) -> None:
    kind = getattr(rec, "kind", None)
    if kind != "artist":
        raise ValueError(f"genre maps and genre lists need an artist recommender, got kind={kind!r}; build one "
                         "with Recommender.build(catalog, kind='artist')")


def _genre_key(name: Any) -> str:
    return str(name).strip().lower()


def _catalog_genres(catalog: Any) -> tuple[sp.csc_matrix, np.ndarray]:
    """(artist x genre 0/1 CSC matrix, genre names) of the genres that have at least one resolvable artist.

    Memoised on the catalog next to its other joins (:func:`recsys.features._links.cached`).
    """
    def build() -> tuple[sp.csc_matrix, np.ndarray]:
        m, names = genre_incidence(catalog)
        names = np.asarray(names.to_numpy(zero_copy_only=False), dtype=object)
        m = sp.csc_matrix(m)
        used = np.flatnonzero(np.diff(m.indptr) > 0)
        return sp.csc_matrix(m[:, used]), names[used]
    return cached(catalog, "genre_map:catalog_genres", build)


def _state(rec: Any) -> _Genres:
    _check_artist_rec(rec)
    st = _STATE.get(rec)
    if st is not None:
        return st
    catalog = rec.catalog
    M, names = _catalog_genres(catalog)
    if len(names) == 0:
        raise RecsysError(f"catalog {str(catalog.path)!r} has no artist genres (its artist_genres table is empty)",
                          hint="the genre map and genre lists need a source with artist genres (the Anna's Archive "
                               "dump or data_w_genres.csv); neighbours and the seed's list still work without them")
    key_to_code: dict[str, int] = {}
    for code, name in enumerate(names.tolist()):  # a few thousand names at most
        key_to_code.setdefault(_genre_key(name), code)
    feat = StringColumn(rec.space.feature_names)
    # only the two genre blocks can hold a genre's own column (a label or playlist named like a genre cannot)
    col_of = {str(name): sl.start + k for fam, sl in rec.space.blocks if fam in ("genres", "inferred_genres")
              for k, name in enumerate(feat[sl])}
    own_g = np.array([col_of.get(f"genre={g}", -1) for g in names.tolist()], dtype=np.int64)
    own_i = np.array([col_of.get(f"inferred_genre={g}", -1) for g in names.tolist()], dtype=np.int64)
    st = _Genres(names=names, key_to_code=key_to_code, M=M, M_rows=M.tocsr(), counts=np.diff(M.indptr).astype(np.int64),
                 own_genre_col=own_g, own_inferred_col=own_i)
    _STATE[rec] = st
    return st


def _drop_own_columns(V: sp.csr_matrix, genres: np.ndarray, st: _Genres) -> sp.csr_matrix:
    """Zero, in row i of ``V`` (a vector of genre ``genres[i]`` or of an artist scored against it), the columns
    ``genre=<g>`` and ``inferred_genre=<g>``."""
    V = sp.csr_matrix(V, copy=True)
    row = np.repeat(np.arange(V.shape[0]), np.diff(V.indptr))
    own = (V.indices == st.own_genre_col[genres][row]) | (V.indices == st.own_inferred_col[genres][row])
    V.data[own] = 0.0
    V.eliminate_zeros()
    return V


def _vectors(rec: Any, st: _Genres) -> sp.csr_matrix:
    """Genre vectors, CSR float32 (n_genres, n_features), L2-normalised rows (own columns left out)."""
    if st.V is None:
        X = sp.csr_matrix(rec.space.X)
        S = sp.csr_matrix(st.M.T @ X, dtype=np.float32)
        st.V = safe_normalize(_drop_own_columns(S, np.arange(S.shape[0]), st)).astype(np.float32)
    return st.V


def genre_names(rec: Any) -> list[str]:
    """Every genre of the recommender's catalog that at least one artist carries, most-carried first.

    For a select box; raises like :func:`genre_map` for a track recommender or a catalog without genres.
    """
    st = _state(rec)
    order = np.lexsort((st.names.astype(str), -st.counts))
    return [str(g) for g in st.names[order]]


def _code(st: _Genres, genre: str) -> int:
    if not isinstance(genre, str):
        raise TypeError(f"genre must be a str, got {type(genre).__name__}")
    key = _genre_key(genre)
    code = st.key_to_code.get(key)
    if code is not None:
        return code
    keys = list(st.key_to_code)
    try:
        from rapidfuzz import fuzz, process

        hits = [k for k, _, _ in process.extract(key, keys, scorer=fuzz.WRatio, limit=5, score_cutoff=70)]
    except ImportError:  # rapidfuzz comes with the app extra; the library works without it
        hits = [k for k in keys if key and key in k][:3]
        hits += [k for k in difflib.get_close_matches(key, keys, n=5, cutoff=0.6) if k not in hits]
        hits = hits[:5]
    suggestions = [str(st.names[st.key_to_code[k]]) for k in hits]
    err = UnknownIdError(f"no artist in this catalog carries the genre {genre!r}",
                         hint=("did you mean: " + ", ".join(repr(s) for s in suggestions)) if suggestions else
                         "pick a genre from the map (genre_names(rec) lists them all)")
    err.suggestions = suggestions  # type: ignore[attr-defined]
    raise err


# --- the map ----------------------------------------------------------------------------------------------------

def _unit_box(xy: np.ndarray) -> np.ndarray:
    """Centre and scale 2-D points so the farthest lies at distance 1 (shape unchanged)."""
    xy = xy - xy.mean(axis=0)
    r = float(np.sqrt((xy ** 2).sum(axis=1)).max()) if len(xy) else 0.0
    return xy / r if r > 1e-12 else xy


def _classical_mds(V: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Classical MDS of the cosine distances of a few rows: (2-D layout (n, 2), exact embedding (n, <= n) whose
    Euclidean distances are those distances, for clustering). The 2-D layout is exact for up to 3 points."""
    n = V.shape[0]
    sim = np.asarray((V @ V.T).todense(), dtype=np.float64)
    D2 = np.clip(1.0 - sim, 0.0, None)  # squared chord distance / 2 between unit vectors
    np.fill_diagonal(D2, 0.0)
    J = np.eye(n) - 1.0 / n
    B = -0.5 * J @ D2 @ J
    w, U = np.linalg.eigh(B)
    order = np.argsort(-w, kind="stable")
    full = U[:, order] * np.sqrt(np.clip(w[order], 0.0, None))
    top = order[:2]
    xy = U[:, top] * np.sqrt(np.clip(w[top], 0.0, None))
    if xy.shape[1] < 2:
        xy = np.hstack([xy, np.zeros((n, 2 - xy.shape[1]))])
    # eigenvectors have arbitrary signs: fix them so the layout is the same on every machine
    for j in range(2):
        k = int(np.argmax(np.abs(xy[:, j])))
        if xy[k, j] < 0:
            xy[:, j] = -xy[:, j]
    return xy, full


def _reduce(V: sp.csr_matrix, seed: int) -> np.ndarray:
    """Dense L2-normalised (n, <= 50) projection of the genre vectors (TruncatedSVD), for t-SNE and clustering."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.preprocessing import normalize

    k = min(_SVD_DIMS, V.shape[0] - 1, V.shape[1] - 1)
    if k < 2:
        Z = V.toarray().astype(np.float64)
    else:
        # ARPACK: exact top singular vectors, and 4x faster than the randomized solver on these short, very wide
        # matrices (694 genres x 154k features: 1.2 s against 5 s); v0 comes from random_state, so deterministic
        Z = TruncatedSVD(n_components=k, algorithm="arpack", random_state=seed).fit_transform(V)
    return normalize(Z)


def _clusters(Z: np.ndarray, counts: np.ndarray, names: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """KMeans clusters of the reduced genre vectors (about sqrt(n / 2) of them) and each one's name: its
    most-carried genre. Returns (cluster int64 (n,), cluster name object (n,))."""
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning

    n = len(Z)
    k = int(min(n, max(1, min(24, round(np.sqrt(n / 2.0))))))
    if k <= 1:
        labels = np.zeros(n, dtype=np.int64)
    else:
        with warnings.catch_warnings():  # fewer distinct genre vectors than clusters: KMeans warns, result is fine
            warnings.simplefilter("ignore", ConvergenceWarning)
            labels = KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(Z).astype(np.int64)
    # renumber clusters by size (largest = 0) so labels do not depend on KMeans' internal order
    sizes = np.bincount(labels, minlength=labels.max() + 1)
    rank = np.empty_like(sizes)
    rank[np.lexsort((np.arange(len(sizes)), -sizes))] = np.arange(len(sizes))
    labels = rank[labels]
    # the most-carried genre of each cluster (ties by name)
    order = np.lexsort((names.astype(str), -counts, labels))
    first = order[np.r_[True, labels[order][1:] != labels[order][:-1]]]
    head_name = np.empty(labels.max() + 1, dtype=object)
    head_name[labels[first]] = names[first]
    return labels, head_name[labels]


def genre_map(rec: Any, *, seed: int = 0, max_genres: int | None = None, head_share: float = 0.2,
              progress: bool = False) -> pd.DataFrame:
    """A 2-D map of the catalog's genres where nearby genres are similar.

    Parameters
    ----------
    rec : Recommender
        An artist recommender (``rec.kind == "artist"``); genre vectors come from ``rec.space.X``.
    seed : int
        Random state of the SVD, t-SNE and KMeans: the same seed gives the same map.
    max_genres : int, optional
        Keep only the most-carried genres (ties by name); None keeps every genre with at least one artist.
        t-SNE time grows a little faster than linearly in genres (see the module notes for figures).
    head_share : float in [0, 1]
        Share of the catalog's artists in the popularity head (:func:`recsys.longtail.head_threshold`); the rest
        is the long tail that ``tail_share`` counts.
    progress : bool
        Show a progress bar over the stages.

    Returns
    -------
    DataFrame
        One row per genre, most-carried first (ties by name): genre (str), x, y (float in [-1, 1]: Euclidean
        distance on the map ~ dissimilarity of the genre vectors), artists (int: artists carrying the genre in
        the catalog), popularity (float: mean Spotify popularity 0..100 of those artists, the "typical artist"
        of the genre, so a genre of one star and many unknowns stays small), tail_share (float in [0, 1]: share
        of them outside the popularity head), cluster (int, 0 = largest cluster) and cluster_name (str: the
        cluster's most-carried genre), KMeans on the genre vectors.

    Raises
    ------
    ValueError
        A track recommender, or a bad ``max_genres``.
    RecsysError
        The catalog has no artist genres.
    """
    from threadpoolctl import threadpool_limits
    from tqdm.auto import tqdm

    if max_genres is not None and (isinstance(max_genres, bool) or not isinstance(max_genres, (int, np.integer))
                                   or max_genres < 1):
        raise ValueError(f"max_genres must be None or an int >= 1, got {max_genres!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    st = _state(rec)
    thr = head_threshold(rec.popularity, head_share)
    memo = (int(seed), None if max_genres is None else int(max_genres), thr)
    if memo in st.maps:
        return st.maps[memo].copy()
    # one thread for BLAS and OpenMP: SVD, t-SNE and KMeans spin-wait when the cores are shared (Streamlit
    # sessions, other jobs); on a loaded 2-core machine t-SNE of 694 genres took 66 s with all threads, 3.7 s
    # with one
    with threadpool_limits(limits=1), tqdm(total=3, desc="genre map", unit="stage", disable=not progress) as bar:
        V = _vectors(rec, st)
        bar.update(1)
        order = np.lexsort((st.names.astype(str), -st.counts))
        codes = np.sort(order[:max_genres] if max_genres is not None else order)
        Vk, n = V[codes], len(codes)
        if n <= SMALL_MAP:
            xy, Z = _classical_mds(Vk)
            bar.update(1)
        else:
            from sklearn.manifold import TSNE

            Z = _reduce(Vk, int(seed))
            bar.update(1)
            perplexity = float(min(30.0, max(2.0, (n - 1) / 3.0)))
            # scikit-learn < 1.5 calls max_iter n_iter (pyproject allows >= 1.4)
            iters = {"max_iter" if "max_iter" in TSNE().get_params() else "n_iter": _TSNE_ITER}
            xy = TSNE(n_components=2, metric="cosine", init="pca", perplexity=perplexity, random_state=int(seed),
                      **iters).fit_transform(Z)
        bar.update(1)
        cluster, cluster_name = _clusters(Z, st.counts[codes], st.names[codes], int(seed))
    xy = _unit_box(np.asarray(xy, dtype=np.float64))
    M = st.M[:, codes]
    counts = st.counts[codes]
    pop = np.asarray(rec.popularity, dtype=np.float64)
    safe = np.maximum(counts, 1)
    mean_pop = np.asarray(M.T @ pop).ravel() / safe
    tail = np.asarray(M.T @ (pop < thr).astype(np.float64)).ravel() / safe
    df = pd.DataFrame({"genre": st.names[codes].astype(str), "x": xy[:, 0], "y": xy[:, 1],
                       "artists": counts.astype(np.int64), "popularity": np.round(mean_pop, 2),
                       "tail_share": np.round(tail, 4), "cluster": cluster,
                       "cluster_name": cluster_name.astype(str)})[_MAP_COLUMNS]
    df = df.iloc[np.lexsort((df.genre.to_numpy(), -df.artists.to_numpy()))].reset_index(drop=True)
    st.maps[memo] = df
    return df.copy()


# --- inferred genres --------------------------------------------------------------------------------------------

def _inferred_block(rec: Any, st: _Genres) -> tuple[sp.csr_matrix, np.ndarray] | None:
    """(the space's ``inferred_genres`` block CSR (n_artists, width), genre code of each of its columns or -1),
    or None when the space has no such block (weight 0 or no genres to infer)."""
    if st.inferred is None:
        for fam, sl in rec.space.blocks:
            if fam == "inferred_genres":
                code_of_col = np.full(sl.stop - sl.start, -1, dtype=np.int64)
                ok = st.own_inferred_col >= 0
                code_of_col[st.own_inferred_col[ok] - sl.start] = np.flatnonzero(ok)
                st.inferred = (sp.csr_matrix(rec.space.X[:, sl]), code_of_col)
    return st.inferred


def _top_inferred(R: sp.csr_matrix) -> np.ndarray:
    """Mask over ``R.data``: entries among the INFERRED_TOP strongest of their row (ties at the cut included)."""
    row = np.repeat(np.arange(R.shape[0]), np.diff(R.indptr))
    order = np.lexsort((-R.data, row))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order)) - R.indptr[row[order]]
    cut = np.full(R.shape[0], -np.inf)
    at_cut = rank == INFERRED_TOP - 1
    cut[row[at_cut]] = R.data[at_cut]
    return (R.data > 0) & (R.data >= cut[row])


def _inferred_members(rec: Any, st: _Genres, code: int) -> np.ndarray:
    """Artist rows without catalog genres that carry genre ``code`` among their INFERRED_TOP inferred genres."""
    info = _inferred_block(rec, st)
    col = int(st.own_inferred_col[code])
    if info is None or col < 0:
        return np.zeros(0, dtype=np.int64)
    B, code_of_col = info
    j = int(np.flatnonzero(code_of_col == code)[0])
    rows = sp.csc_matrix(B[:, j]).indices.astype(np.int64)
    rows = np.sort(rows[~artists_with_genres(rec.catalog)[rows]])
    if not len(rows):
        return rows
    R = B[rows]
    entry_row = np.repeat(np.arange(len(rows)), np.diff(R.indptr))
    hit = _top_inferred(R) & (R.indices == j)
    return rows[np.unique(entry_row[hit])]


# --- the seed's neighbourhood -----------------------------------------------------------------------------------

def neighbourhood_on_map(rec: Any, map_df: pd.DataFrame, rows: Sequence[int]) -> pd.DataFrame:
    """The genres a seed and its neighbours carry, placed on a genre map (to highlight the neighbourhood).

    Parameters
    ----------
    rec : Recommender
        The artist recommender the map was made with.
    map_df : DataFrame
        A :func:`genre_map` result (its genre, x, y columns are used).
    rows : sequence of int
        Artist rows: ``rows[0]`` is the seed, the rest its neighbours (e.g. ``[seed] + list(df.row)``); repeats
        count once.

    Returns
    -------
    DataFrame
        One row per genre carried by at least one of the artists and present on the map: genre, x, y, count
        (int: how many of the artists carry it), inferred (int: how many of those only by inference: artists
        without catalog genres carry their INFERRED_TOP strongest inferred genres), role ("seed" when the seed
        carries it, else "neighbour"). Seed genres first, then by count descending, then by name. Genres left
        off the map (``max_genres``) are left out.
    """
    st = _state(rec)
    r = np.asarray(rows, dtype=np.int64).ravel()
    n_art = st.M.shape[0]
    if len(r) and (r.min() < 0 or r.max() >= n_art):
        raise IndexError(f"artist rows must lie in 0..{n_art - 1}, got {r.min()}..{r.max()}")
    r = r[np.sort(np.unique(r, return_index=True)[1])]  # an artist listed twice counts once
    if len(r) == 0:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(
            _HOOD_COLUMNS, [object, np.float64, np.float64, np.int64, np.int64, object])})
    C = sp.csr_matrix(st.M_rows[r])  # (len(r), n_genres) catalog genres
    C.data[:] = 1.0
    by_inference = sp.csr_matrix(C.shape, dtype=np.float32)
    info = _inferred_block(rec, st)
    if info is not None:
        B, code_of_col = info
        R = B[r]
        t_row = np.repeat(np.arange(R.shape[0]), np.diff(R.indptr))
        t_code = code_of_col[R.indices]
        # the INFERRED_TOP strongest inferred genres, only for artists without catalog genres
        ok = _top_inferred(R) & (t_code >= 0) & (np.diff(C.indptr)[t_row] == 0)
        by_inference = sp.csr_matrix((np.ones(int(ok.sum()), np.float32), (t_row[ok], t_code[ok])), shape=C.shape)
    both = sp.csr_matrix(C + by_inference)
    both.data[:] = 1.0
    count = np.asarray(both.sum(axis=0)).ravel().astype(np.int64)
    inferred = np.asarray(by_inference.sum(axis=0)).ravel().astype(np.int64)
    is_seed = np.asarray(both[0].todense()).ravel() > 0
    codes = np.flatnonzero(count > 0)
    out = pd.DataFrame({"genre": st.names[codes].astype(str), "count": count[codes],
                        "inferred": inferred[codes], "role": np.where(is_seed[codes], "seed", "neighbour")})
    pos = map_df[["genre", "x", "y"]].drop_duplicates("genre")
    out = out.merge(pos, on="genre", how="inner")
    out = out.iloc[np.lexsort((out.genre.to_numpy(), -out["count"].to_numpy(),
                               (out.role != "seed").to_numpy()))]
    return out[_HOOD_COLUMNS].reset_index(drop=True)


# --- hidden gems of a genre -------------------------------------------------------------------------------------

def _empty_tail() -> pd.DataFrame:
    return pd.DataFrame({"rank": pd.Series(dtype=np.int64), "row": pd.Series(dtype=np.int64),
                         "id": pd.Series(dtype=object), "name": pd.Series(dtype=object),
                         "popularity": pd.Series(dtype=np.int64), "followers": pd.Series(dtype="Int64"),
                         "score": pd.Series(dtype=np.float64), "inferred": pd.Series(dtype=bool)})


def genre_tail_artists(rec: Any, genre: str, n: int = 20, *, head_share: float = 0.2,
                       include_inferred: bool = True) -> pd.DataFrame:
    """A genre's strongest long-tail artists: outside the popularity head, closest to the genre's centroid.

    Parameters
    ----------
    rec : Recommender
        An artist recommender.
    genre : str
        A genre name, matched case-insensitively after stripping spaces.
    n : int
        Rows to return at most.
    head_share : float in [0, 1]
        Share of the catalog's artists in the head (:func:`recsys.longtail.head_threshold`); only artists with
        popularity below that threshold are listed.
    include_inferred : bool
        Also list artists without catalog genres that carry the genre among their INFERRED_TOP (3) strongest
        inferred genres (the feature space's ``inferred_genre=<g>`` columns).

    Returns
    -------
    DataFrame
        Best first: rank, row, id, name, popularity (int), followers (Int64), score (float: cosine in [-1, 1]
        between the artist's feature row and the genre's centroid, both without the genre's own columns;
        higher = closer), inferred (bool: carries the genre only by inference). Ties by lower row.

    Raises
    ------
    UnknownIdError
        No artist carries the genre; the hint and ``.suggestions`` list close genre names.
    ValueError
        A track recommender or a bad ``n``.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    st = _state(rec)
    code = _code(st, genre)
    thr = head_threshold(rec.popularity, head_share)
    pop = np.asarray(rec.popularity, dtype=np.float64)
    members = st.M.indices[st.M.indptr[code]:st.M.indptr[code + 1]].astype(np.int64)
    inferred_rows = _inferred_members(rec, st, code) if include_inferred else np.zeros(0, dtype=np.int64)
    rows = np.concatenate([members, inferred_rows])
    is_inferred = np.r_[np.zeros(len(members), bool), np.ones(len(inferred_rows), bool)]
    tail = pop[rows] < thr
    rows, is_inferred = rows[tail], is_inferred[tail]
    if not len(rows):
        return _empty_tail()
    v = _vectors(rec, st)[code]  # (1, n_features), unit norm
    Xr = _drop_own_columns(sp.csr_matrix(rec.space.X)[rows], np.full(len(rows), code), st)
    dots = np.asarray(Xr @ v.T.toarray()).ravel()
    norms = np.sqrt(np.asarray(Xr.multiply(Xr).sum(axis=1)).ravel())
    score = np.where(norms > 0, dots / np.where(norms > 0, norms, 1.0), 0.0)
    order = np.lexsort((rows, -np.round(score, 6)))[: int(n)]
    rows, score, is_inferred = rows[order], score[order], is_inferred[order]
    idx = rec.index
    fol = idx.followers
    followers = (pd.array([None if fol[r] is None or (isinstance(fol[r], float) and np.isnan(fol[r]))
                           else int(fol[r]) for r in rows], dtype="Int64") if fol is not None
                 else pd.array([None] * len(rows), dtype="Int64"))
    return pd.DataFrame({"rank": np.arange(1, len(rows) + 1, dtype=np.int64), "row": rows,
                         "id": [idx.ids[r] for r in rows], "name": [idx.names[r] for r in rows],
                         "popularity": pop[rows].astype(np.int64), "followers": followers,
                         "score": np.round(score, 4), "inferred": is_inferred})

