"""Genre inference: spread the genres of the ~10% of artists that have them over collaboration, label,
compilation and playlist links to the artists that have none.

Mental model: *label propagation on a sparse artist graph that is never built.* Each link family f gives an
artist x token matrix B_f (tracks co-credited, labels, compilations, playlists). The adjacency is
``A = sum_f w_f * B_f D_f^-1 B_f^T`` with the diagonal removed and rows normalised (D_f: the token's number of
artists, so a 500-artist major label links each pair 1/500 as strongly as a 2-artist label), and genre
distributions iterate as ``G <- alpha * A G + (1 - alpha) * G0`` with artists that have genres clamped to G0.
``A G`` is computed as ``sum_f w_f * B_f (D_f^-1 (B_f^T G))`` minus the diagonal term, so the cost is linear in
the links and no dense n x n matrix ever exists (only families whose tokens have a handful of artists each, like
co-credited tracks, are multiplied out, into a sparse n x n matrix no larger than a few times their links).

Cost: genre columns never mix, so G is propagated a block of columns at a time (dense, float32, within the
``max_dense_cells`` memory budget) and only a running ``top_k`` per artist is kept (15.4M artists x 768 genres
would be 47 GB dense). A step computes only the artists without genres that a genre can reach in ``n_iter``
hops, in an order that keeps linked artists close in memory (sparse @ dense waits on fetching the rows its links
point to), as two sparse products split over ``n_jobs`` threads; see :class:`_Sweep`. On the generated 300k
catalog this is 2.3x less CPU than propagating the whole dense G, 3.6x less wall time on two free cores.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp

try:  # scipy's private kernels: y += m @ x in place (see _add_product); a public fallback if they move
    from scipy.sparse import _sparsetools
except ImportError:  # pragma: no cover - depends on the scipy version
    _sparsetools = None
from scipy.sparse.csgraph import reverse_cuthill_mckee
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ..catalog import Catalog
from ._base import TokenFamily, topk_per_row
from ._links import done_reading, row_dtype, safe_normalize
from .collaborations import CoCredits, collab_incidence
from .combine import nnz_ranges, stack_columns
from .compilations import SharedCompilations
from .genres import genre_incidence
from .labels import LabelTfidf
from .playlists import PlaylistCoMembership

__all__ = ["GenreInference", "evaluate_genre_inference", "LINK_FAMILIES", "DEFAULT_LINK_WEIGHTS"]

#: link families genre inference can propagate over, and their builders
LINK_FAMILIES: dict[str, type[TokenFamily]] = {
    "collaborations": CoCredits,
    "labels": LabelTfidf,
    "compilations": SharedCompilations,
    "playlists": PlaylistCoMembership,
}

#: default weight of each link family in the adjacency (tuned on the generated demo, see space.py)
DEFAULT_LINK_WEIGHTS: dict[str, float] = {"collaborations": 0.5, "labels": 1.0, "compilations": 1.0,
                                          "playlists": 1.0}


class _Propagator:
    """The adjacency ``A = sum_f w_f B_f D_f^-1 B_f^T``, diagonal removed, rows normalised, applied to G.

    A family whose tokens have few artists each (co-credited tracks: 2-4) is multiplied out into a sparse
    n x n matrix, with at most ``expand_factor`` times the links' nonzeros; the others (labels, playlists with
    hundreds of artists) stay factorised, so their cost is linear in the links however large a token is.
    """

    def __init__(self, parts: Iterable[tuple[float, sp.csr_matrix]], n: int, *, expand_factor: float = 4.0
                 ) -> None:
        # parts may be a generator: one family's links are held at a time; each B is taken over (changed in place)
        #: (B 0/1 CSR float32 (n, tokens), w * D^-1 float32 (tokens,)) of each factorised family (no B^T is kept:
        #: the sweep makes its own layout, and B.T is a free view)
        self.factored: list[tuple[sp.csr_matrix, np.ndarray]] = []
        expanded: list[list[sp.csr_matrix]] = []  # per multiplied-out family: float64 row chunks of w B D^-1 B^T
        diag = np.zeros(n)  # diagonal of the factorised families only
        rowsum = np.zeros(n)
        for w, B in parts:
            # B is kept as the float32 CSR it comes in (0/1 or small counts: exact), its columns renumbered in
            # place; the float64 sums below add the same terms in the same order as a float64 copy of B would
            # (scipy's mat-vec and np.bincount both add a row's entries in index order), so they are bit-identical
            # without the copies (a float64 CSC and CSR of every family: ~3x the links at the full dump)
            B = sp.csr_matrix(B, dtype=np.float32)
            B.sum_duplicates()  # sorted, unique indices: the column order of scipy's CSC -> CSR conversion
            df = np.bincount(B.indices, minlength=B.shape[1]).astype(np.float64)  # artists per token
            # a token with one artist links nobody: drop it (it would only add to the removed diagonal)
            keep = df >= 2
            col = np.cumsum(keep, dtype=np.int64) - 1
            col[~keep] = -1
            B = _renumber(B, None, col.astype(row_dtype(max(int(keep.sum()), 1))), int(keep.sum()))
            del col
            df = df[keep]
            del keep
            inv = 1.0 / df
            d = _row_sums(B, inv)  # diagonal of B D^-1 B^T (B is 0/1)
            r = _row_sums(B, inv * df)  # row sums of B D^-1 B^T
            rowsum += w * (r - d)
            if float((df * df).sum()) <= expand_factor * max(B.nnz, 1):
                expanded.append(_expand(B, inv, w))
            else:
                diag += w * d
                self.factored.append((B, (w * inv).astype(np.float32)))
            del B, d, r
        self.expanded = _without_diagonal(expanded, n)
        self.diag = diag.astype(np.float32)
        self.inv_rowsum = np.where(rowsum > 1e-9, 1.0 / np.where(rowsum > 1e-9, rowsum, 1.0), 0.0).astype(np.float32)

    def apply(self, G: sp.csr_matrix | np.ndarray) -> sp.csr_matrix | np.ndarray:
        """``A @ G`` for a sparse or dense (n, n_genres) float32 ``G``; same kind out."""
        if isinstance(G, np.ndarray):
            out = self.expanded @ G if self.expanded is not None else np.zeros_like(G)
            for B, winv in self.factored:
                out += B @ (winv[:, None] * (B.T @ G))
            # the factorised terms include each artist's own share: subtract it (>= 0 up to float noise)
            out -= self.diag[:, None] * G
            out *= self.inv_rowsum[:, None]
            return np.maximum(out, 0.0, out=out)
        out = self.expanded @ G if self.expanded is not None else sp.csr_matrix(G.shape, dtype=G.dtype)
        for B, winv in self.factored:
            out = out + B @ (sp.diags(winv) @ (B.T.tocsr() @ G))
        out = sp.csr_matrix(sp.diags(self.inv_rowsum) @ (out - sp.diags(self.diag) @ G))
        out.data[out.data < 1e-7] = 0.0
        out.eliminate_zeros()
        return out


#: widest block of genre columns propagated at once. On the generated 300k catalog a column costs about the same
#: from 16 to 128 columns a block (the gathers dominate), wider blocks only miss the cache more and hold more memory
_BLOCK_WIDTH = 64

#: rows per chunk when a block is merged into the running top_k (bounds argpartition's temporaries)
_MERGE_ROWS = 1 << 14

#: row ranges per product and thread: more ranges than threads let a thread slowed by other work take fewer
_CHUNKS_PER_THREAD = 4

#: token ranges per thread of the token product (each a CSC with an index pointer over every artist reached:
#: 4 bytes an artist each, 0.5 GB for the 8 of two threads at the full dump's 15.4M artists were it 4 a thread)
_TOKEN_CHUNKS_PER_THREAD = 2


#: rows per chunk of a multiplied-out family's product (:func:`_expand`)
_EXPAND_ROWS = 1 << 16


def _expand(B: sp.csr_matrix, inv: np.ndarray, w: float) -> list[sp.csr_matrix]:
    """``w * B diag(inv) B^T`` (n x n) as float64 CSR row chunks, sorted indices.

    Computed a range of rows at a time against one float64 copy of ``B^T``: the whole product in float64 and the
    copies scipy makes around it held ~5x the result at once. Each row's values are the same float64 sums as the
    whole product's (a row of a sparse product depends on that row only).
    """
    BT = sp.csr_matrix(B.T, dtype=np.float64)  # tokens x artists
    chunks = []
    n = B.shape[0]
    for a in range(0, max(n, 1), _EXPAND_ROWS):  # the same row ranges for every family (summed chunk by chunk)
        b = min(n, a + _EXPAND_ROWS)
        left = _row_view(B, a, b).astype(np.float64) @ sp.diags(inv)
        m = sp.csr_matrix(left @ BT)
        m.data *= w
        m.sort_indices()
        chunks.append(m)
    return chunks


def _without_diagonal(families: list[list[sp.csr_matrix]], n: int) -> sp.csr_matrix | None:
    """The sum of the families' float64 row chunks, diagonal and zeros removed, as float32 CSR (n, n); None when
    it has no entries. Summed in float64 (one family: as it is) before the single rounding to float32."""
    if not families:
        return None
    out_chunks, start = [], 0
    for parts in zip(*families):  # the same row ranges in every family
        m = parts[0]
        for other in parts[1:]:
            m = m + other
        m = sp.csr_matrix(m)
        rows = np.repeat(np.arange(start, start + m.shape[0]), np.diff(m.indptr))
        keep = (m.indices != rows) & (m.data != 0)
        m = _entries_where(m, keep)
        out_chunks.append(m.astype(np.float32))
        start += m.shape[0]
    E = sp.vstack(out_chunks, format="csr") if len(out_chunks) > 1 else out_chunks[0]
    E.sort_indices()
    return E if E.nnz else None


def _row_sums(m: sp.csr_matrix, x: np.ndarray) -> np.ndarray:
    """``m @ x`` in float64 for a float32 CSR ``m`` and float64 ``x``, a range of rows at a time (bit-identical to
    scipy's product over a float64 copy of ``m``: each row's terms are added in index order from 0)."""
    out = np.zeros(m.shape[0])
    for a, b in nnz_ranges(m.indptr):
        s, e = int(m.indptr[a]), int(m.indptr[b])
        rows = np.repeat(np.arange(b - a), np.diff(m.indptr[a:b + 1]))
        out[a:b] = np.bincount(rows, weights=m.data[s:e].astype(np.float64) * x[m.indices[s:e]], minlength=b - a)
    return out


def _reachable(prop: _Propagator, start: np.ndarray, n_hops: int) -> np.ndarray:
    """Rows at most ``n_hops`` links from a ``start`` row, bool (n,) (start rows included).

    ``n_hops`` propagation steps from the start rows leave every other row exactly zero, so they can be skipped.
    """
    reach = np.asarray(start, dtype=bool).copy()
    for _ in range(n_hops):
        x = reach.astype(np.float32)
        y = prop.expanded @ x if prop.expanded is not None else np.zeros(len(x), dtype=np.float32)
        for B, _ in prop.factored:
            y += B @ (B.T @ x)  # every weight is > 0: a sum is 0 only without a link to a reached row
        grown = reach | (y > 0)
        if np.count_nonzero(grown) == np.count_nonzero(reach):
            break
        reach = grown
    return reach


def _locality_order(E: sp.csr_matrix | None, n: int) -> np.ndarray:
    """All rows, in reverse Cuthill-McKee order of the symmetric graph ``E`` (catalog order without one)."""
    if E is None or E.nnz == 0:
        return np.arange(n, dtype=np.int64)
    return reverse_cuthill_mckee(E, symmetric_mode=True).astype(np.int64)


def _renumber(m: sp.csr_matrix, rows: np.ndarray | None, col_map: np.ndarray, n_cols: int) -> sp.csr_matrix:
    """``m[rows]`` with column j renamed ``col_map[j]`` (dropped where that is < 0); CSR float32, sorted indices.

    May share ``m``'s arrays (the caller drops ``m``): one copy of the links at a time.
    """
    if rows is not None:
        m = m[rows]
    new = col_map[m.indices]
    drop = new < 0
    dropped = bool(drop.any())
    new[drop] = 0
    out = sp.csr_matrix((m.data, new, m.indptr), shape=(m.shape[0], n_cols), copy=False)
    if dropped:
        out.data[drop] = 0.0  # link weights are > 0: exactly the dropped entries are zero
        del drop
        out.eliminate_zeros()  # in place
    out.sort_indices()  # ascending columns: a row's gathers walk G forward
    return out


def _scale_rows(m: sp.csr_matrix, s: np.ndarray) -> None:
    """``m`` <- diag(s) m, in place."""
    s = np.asarray(s, dtype=m.dtype)
    for a, b in nnz_ranges(m.indptr):
        m.data[m.indptr[a]:m.indptr[b]] *= np.repeat(s[a:b], np.diff(m.indptr[a:b + 1]))


def _equal_ranges(weights: np.ndarray, n_ranges: int) -> list[tuple[int, int]]:
    """``[0, len(weights))`` cut into at most ``n_ranges`` non-empty ranges of about equal total weight."""
    cum = np.concatenate([[0], np.cumsum(weights)])
    cuts = np.searchsorted(cum, np.linspace(0, cum[-1], n_ranges + 1)[1:-1]) if n_ranges > 1 else []
    bounds = np.unique(np.concatenate([[0], cuts, [len(weights)]]).astype(np.int64)).tolist()
    return list(zip(bounds[:-1], bounds[1:]))


def _row_view(m: sp.csr_matrix, a: int, b: int) -> sp.csr_matrix:
    """Rows ``a:b`` of ``m`` sharing its data (no copy)."""
    s, e = m.indptr[a], m.indptr[b]
    return sp.csr_matrix((m.data[s:e], m.indices[s:e], m.indptr[a:b + 1] - s), shape=(b - a, m.shape[1]), copy=False)


def _col_view(m: sp.csc_matrix, a: int, b: int) -> sp.csc_matrix:
    """Columns ``a:b`` of ``m`` sharing its data (no copy)."""
    s, e = m.indptr[a], m.indptr[b]
    return sp.csc_matrix((m.data[s:e], m.indices[s:e], m.indptr[a:b + 1] - s), shape=(m.shape[0], b - a), copy=False)


def _entries_where(m: sp.csr_matrix | sp.csc_matrix, keep: np.ndarray) -> sp.csr_matrix | sp.csc_matrix:
    """``m`` (CSR or CSC) with only the stored entries where ``keep`` (bool, one per entry), in their order."""
    major = np.repeat(np.arange(len(m.indptr) - 1), np.diff(m.indptr))[keep]
    indptr = np.zeros(len(m.indptr), dtype=m.indptr.dtype)
    np.cumsum(np.bincount(major, minlength=len(m.indptr) - 1), out=indptr[1:])
    return type(m)((m.data[keep], m.indices[keep], indptr), shape=m.shape)


def _add_product(y: np.ndarray, m: sp.csr_matrix | sp.csc_matrix, x: np.ndarray) -> None:
    """``y += m @ x`` in place: float32 C-contiguous ``y`` (m rows, w) and ``x`` (m columns, w).

    scipy's own kernel (what ``m @ x`` runs into a zeroed result), called on the caller's ``y``: a product split
    into parts run one after the other adds every term in the same order as the whole product, so its float32
    result is bit-identical (``y1 = A1 @ x; y1 + A2 @ x`` would round the two partial sums separately).
    """
    if not (y.flags.c_contiguous and x.flags.c_contiguous and y.dtype == x.dtype == m.dtype):
        raise ValueError("y and x must be C-contiguous arrays of the matrix's dtype (y is written in place)")
    if not m.nnz:
        return
    if _sparsetools is None or not hasattr(_sparsetools, "csr_matvecs"):  # pragma: no cover - newer scipy
        y += m @ x  # same values up to float32 rounding of the partial sums
        return
    fn = _sparsetools.csr_matvecs if m.format == "csr" else _sparsetools.csc_matvecs
    fn(m.shape[0], m.shape[1], x.shape[1], m.indptr, m.indices, m.data, x.reshape(-1), y.reshape(-1))


class _Sweep:
    """The propagation step of :class:`_Propagator` with the known rows clamped, compiled for speed.

    ``G[U] <- max(alpha A[U, S] G[S], 0)``: the values of ``np.where(known, seed, alpha * prop.apply(G))`` to
    float32 round-off, at a fraction of the cost:

    * S: the rows at most ``n_hops`` links from an artist with genres (all others stay exactly zero); U: those
      without genres. Known rows keep their seed, so only U is ever computed.
    * Positions: U then the known rows, each in reverse Cuthill-McKee order of the co-credit graph; tokens in the
      mean position of their artists. Sparse @ dense waits on fetching the G rows its links point to (it runs at
      a sixth of its in-cache speed): linked artists stored together share cache lines (products 1.4-1.7x faster
      than in catalog order on the generated 300k catalog; ordering by label propagation communities, by degree
      or by barycentre iterations was no better).
    * ``alpha``, the row normalisation, the token weights and the removed diagonal are folded into two matrices,
      so a step is two sparse products and no pass over G: ``H = BT @ G[S]`` (tokens of the factorised families,
      weighted), then ``G[U] = M @ [G[S]; H]`` with ``M = alpha D^-1 [E - diag | B]`` (rows U). ``BT`` is CSC
      over the artists ("push": G is read in order and added into the fewer token rows), 1.4-5x faster than
      gathering each token's artist rows.
    * Each product is cut into ranges of equal nonzeros run on a thread pool (scipy's sparse @ dense releases the
      GIL): ``n_chunks`` row ranges of M (views), ``n_token_chunks`` token ranges of BT (a partition).
    * Each product is run in parts, one after the other into the same result with scipy's own kernel
      (:func:`_add_product`), in the order of its terms, so every sum is added in the same order as by the
      whole product (bit-identical float32): M as its co-credit links to U rows, to known rows, then the rest;
      BT as its U artists, then its known artists. Parts that read only zeros are skipped, which adds nothing
      but time: the U rows in the first step (G[U] starts at 0), and in every step the known rows without a
      genre of the block (19% of the products' nonzeros on the generated 300k catalog with 64-genre blocks; more
      with narrower ones), so 21% less CPU there.

    The working block for ``width`` genre columns is ``X`` ((|S| + n_tokens, width) float32): rows ``[0, n_free)``
    are U, ``[n_free, |S|)`` the known rows' seed, then H; a step also allocates (max(n_tokens, n_free), width) of
    product results. :meth:`cells_per_column` counts both.

    Parameters
    ----------
    prop : _Propagator
        Taken over: its matrices are moved out one at a time (``prop`` is left empty), so the links are held
        once, plus a copy of one link matrix while it is renumbered.
    known : ndarray of bool (n,)
        Rows with genres (clamped).
    alpha : float
        Share of mass passed on per hop.
    n_hops : int
        Steps that will be run (rows further than that from every known row are left out).
    n_chunks : int
        Row ranges of the step product (a few per thread; views of M, they cost no memory).
    n_token_chunks : int, optional
        Token ranges of the token product (default ``n_chunks``): each holds an index pointer over every artist
        of S, so a build uses about two per thread.
    """

    def __init__(self, prop: _Propagator, known: np.ndarray, *, alpha: float, n_hops: int, n_chunks: int = 1,
                 n_token_chunks: int | None = None) -> None:
        n_token_chunks = n_chunks if n_token_chunks is None else n_token_chunks
        n = len(known)
        reach = _reachable(prop, known, n_hops)
        order = _locality_order(prop.expanded, n)
        free = reach & ~known
        #: catalog row at each position: U first, then the known rows
        self.rows = np.concatenate([order[free[order]], order[known[order]]])
        self.n_free = n_free = int(np.count_nonzero(free))
        n_s = len(self.rows)
        del reach, free, order
        pos = np.full(n, -1, dtype=row_dtype(n))  # position of each catalog row, -1 outside S
        pos[self.rows] = np.arange(n_s)
        U = self.rows[:n_free]
        scale = alpha * prop.inv_rowsum[U].astype(np.float64)  # alpha and the row normalisation of each U row

        # M = [E | -diag | B_f ...] (rows U), kept in three parts that a step adds one after the other in M's own
        # entry order: E's links to U rows, E's links to known rows (sorted columns: U positions come first),
        # then the rest. A part whose G rows are all zero is skipped, exactly: the U rows in the first step, and
        # in every step the known rows without a genre of the block (their seed rows are zero)
        #: E's entries in U columns, CSR (n_free, |S| + n_tokens); None without co-credit links
        self.e_free: sp.csr_matrix | None = None
        #: E's entries in known columns, CSR (n_free, |S| + n_tokens)
        self.e_known: sp.csr_matrix | None = None
        if prop.expanded is not None:
            E, prop.expanded = prop.expanded, None
            E = _renumber(E, U, pos, n_s)
            _scale_rows(E, scale)
            in_free = E.indices < n_free
            self.e_free = _entries_where(E, in_free)
            in_free = ~in_free
            self.e_known = _entries_where(E, in_free)
            del E, in_free
        blocks: list[tuple[sp.csr_matrix, int]] = []
        # the factorised terms include each artist's own share: subtract it on the diagonal (U is positions 0..)
        own = (-scale * prop.diag[U]).astype(np.float32)
        at = np.flatnonzero(own)  # artists with factorised links
        blocks.append((sp.csr_matrix((own[at], (at, at)), shape=(n_free, n_s)), 0))
        del own, at
        bs_parts: list[tuple[sp.csr_matrix, int]] = []  # each family's winv-weighted B (|S|, its tokens)
        n_tokens = 0
        while prop.factored:
            B, winv = prop.factored.pop(0)
            Bs = B[self.rows]  # (|S|, tokens) 0/1: artists in position order
            del B
            # token statistics as products (float32 is exact for counts, and the mean only orders the tokens)
            BsT = Bs.T
            mean_pos = BsT @ np.arange(n_s, dtype=np.float32)
            mean_pos /= np.maximum(BsT @ np.ones(n_s, dtype=np.float32), 1.0)
            # a token without artists in U feeds no computed row: left out; the others in their artists' mean order
            tok = np.flatnonzero(Bs[:n_free].T @ np.ones(n_free, dtype=np.float32))
            tok = tok[np.argsort(mean_pos[tok], kind="stable")]
            del mean_pos, BsT
            tok_col = np.full(Bs.shape[1], -1, dtype=row_dtype(len(tok)))
            tok_col[tok] = np.arange(len(tok))
            Bs = _renumber(Bs, None, tok_col, len(tok))
            Bu = Bs[:n_free]
            _scale_rows(Bu, scale)
            blocks.append((Bu, n_s + n_tokens))
            del Bu
            winv = winv[tok]
            for a, b in nnz_ranges(Bs.indptr):
                Bs.data[Bs.indptr[a]:Bs.indptr[b]] *= winv[Bs.indices[Bs.indptr[a]:Bs.indptr[b]]]
            bs_parts.append((Bs, n_tokens))
            n_tokens += len(tok)
            del Bs, tok, tok_col, winv
        # H = (winv B^T) G as a "push" product: B^T is CSC over the artists, so G is read in order once and added
        # into the token rows (fewer, cache-resident for small families); 2-5x faster than gathering the artists'
        # rows of G for each token. Threads take token ranges of all families together: each range's CSC has an
        # index pointer over every artist (4 bytes an artist), so there are only a few of them
        Bs = stack_columns(bs_parts, n_tokens) if bs_parts else sp.csr_matrix((n_s, 0), dtype=np.float32)
        del bs_parts
        per_token = np.bincount(Bs.indices, minlength=n_tokens)
        #: H's products: (first token row, stop, CSC (tokens, |S|))
        self.bt_chunks: list[tuple[int, int, sp.csc_matrix]] = [
            (a, b, sp.csc_matrix(Bs[:, a:b].T) if n_token_chunks > 1 else Bs.T)
            for a, b in _equal_ranges(per_token, n_token_chunks)] if n_tokens else []
        del Bs, per_token
        self.n_tokens = n_tokens
        width = n_s + n_tokens
        rest = stack_columns(blocks, width)  # the removed diagonal, then each factorised family's B
        if self.e_free is not None:  # every part as wide as M: its column indices are positions in X
            self.e_free.resize(n_free, width)
            self.e_known.resize(n_free, width)
        row_nnz = np.diff(rest.indptr) + (np.diff(self.e_free.indptr) + np.diff(self.e_known.indptr)
                                          if self.e_free is not None else 0)
        #: row ranges of the step product (one task each), about equal in nonzeros
        self.m_ranges = _equal_ranges(row_nnz, n_chunks)
        #: M's last part (removed diagonal, factorised families) per range
        self.m_rest = [_row_view(rest, a, b) for a, b in self.m_ranges]
        del rest, row_nnz

    def cells_per_column(self) -> int:
        """float32 cells a step holds per genre column: the working block and the step's product results (the
        token rows are added into the working block in place)."""
        return len(self.rows) + self.n_tokens + self.n_free

    def run(self, seed: np.ndarray, n_iter: int, map_: Callable = map) -> np.ndarray:
        """``n_iter`` steps for one block of genre columns.

        Parameters
        ----------
        seed : ndarray float32 (|S| - n_free, width)
            The known rows' genre distributions, in position order.
        n_iter : int
        map_ : callable
            ``map`` or a thread pool's ``map``: runs the row chunks of each product.

        Returns
        -------
        ndarray float32 (|S|, width)
            G of the positions (``self.rows``) after ``n_iter`` steps.
        """
        n_s, n_free = len(self.rows), self.n_free
        X = np.empty((n_s + self.n_tokens, seed.shape[1]), dtype=np.float32)
        X[:n_free] = 0.0
        X[n_free:n_s] = seed
        G, G_free, G_known = X[:n_s], X[:n_free], X[n_free:n_s]
        # known rows with a genre of this block: the others' seed rows are zero and add nothing
        live = seed.any(axis=1)
        all_live = bool(live.all())
        # the parts reading known rows, without the dead ones (a copy of those links for this block)
        bt_known = [_col_view(m, n_free, n_s) for _, _, m in self.bt_chunks]
        if not all_live:
            bt_known = [_entries_where(m, np.repeat(live, np.diff(m.indptr))) for m in bt_known]
        e_known = self.e_known
        if e_known is not None and not all_live:
            e_known = _entries_where(e_known, live[e_known.indices - n_free])
        e_known_rows = [None if e_known is None else _row_view(e_known, a, b) for a, b in self.m_ranges]
        e_free_rows = [None if self.e_free is None else _row_view(self.e_free, a, b) for a, b in self.m_ranges]
        del e_known
        first = True

        def tokens(i: int) -> None:
            a, b, m = self.bt_chunks[i]
            h = X[n_s + a:n_s + b]  # each thread fills its own rows of H; the products read G only
            h[:] = 0.0
            if not first:  # G's U rows are zero in the first step
                _add_product(h, _col_view(m, 0, n_free), G_free)
            _add_product(h, bt_known[i], G_known)

        def step(i: int) -> np.ndarray:
            a, b = self.m_ranges[i]
            y = np.zeros((b - a, X.shape[1]), dtype=np.float32)
            if e_free_rows[i] is not None:
                if not first:
                    _add_product(y, e_free_rows[i], X)
                _add_product(y, e_known_rows[i], X)
            _add_product(y, self.m_rest[i], X)
            return np.maximum(y, 0.0, out=y)  # the removed diagonal can leave float noise below 0

        for _ in range(n_iter if n_free else 0):
            list(map_(tokens, range(len(self.bt_chunks))))
            ys = list(map_(step, range(len(self.m_ranges))))
            for (a, b), y in zip(self.m_ranges, ys):
                X[a:b] = y  # only once every chunk has read X
            del ys
            first = False
        return G


def _merge_top_k(vals: np.ndarray, idx: np.ndarray, floor: np.ndarray, block: np.ndarray, start: int,
                 map_: Callable = map) -> None:
    """Merge genre columns ``start:start + width`` (``block``) into the running top k, in place.

    ``vals`` float32 and ``idx`` int32, both (rows, k): the k largest values so far and their genres (zeros are
    empty slots); ``floor`` float32 (rows,): each row's smallest kept value. Only rows where the block holds a
    larger value are merged (the later a block, the fewer: narrow blocks at scale would otherwise re-sort every
    row's k values for a few new ones).
    """
    k, w = vals.shape[1], block.shape[1]
    cols = np.arange(start, start + w, dtype=idx.dtype)

    def merge(r0: int) -> None:
        r1 = min(len(vals), r0 + _MERGE_ROWS)
        rows = np.flatnonzero(block[r0:r1].max(axis=1) > floor[r0:r1])
        if len(rows) == 0:
            return
        rows = slice(r0, r1) if len(rows) == r1 - r0 else rows + r0
        cv = np.hstack([vals[rows], block[rows]])
        sel = np.argpartition(-cv, k - 1, axis=1)[:, :k]
        top = np.take_along_axis(cv, sel, axis=1)
        vals[rows] = top
        idx[rows] = np.take_along_axis(np.hstack([idx[rows], np.broadcast_to(cols, (len(top), w))]), sel, axis=1)
        floor[rows] = top.min(axis=1)

    list(map_(merge, range(0, len(vals), _MERGE_ROWS)))


def _top_k_at_rows(vals: np.ndarray, idx: np.ndarray, rows: np.ndarray, n: int, n_cols: int) -> sp.csr_matrix:
    """CSR float32 (n, n_cols): the nonzero ``vals`` (columns ``idx``) of position i in catalog row ``rows[i]``;
    the other rows empty; sorted indices."""
    counts = np.zeros(n, dtype=np.int64)
    counts[rows] = np.count_nonzero(vals > 0, axis=1)
    indptr = np.concatenate([[0], np.cumsum(counts)])
    data, indices = np.empty(int(indptr[-1]), dtype=np.float32), np.empty(int(indptr[-1]), dtype=np.int32)
    order = np.argsort(rows)  # positions in catalog order: their entries come one after the other
    for c in range(0, len(order), _MERGE_ROWS):
        o = order[c:c + _MERGE_ROWS]
        v = vals[o]
        keep = v > 0
        s, e = int(indptr[rows[o[0]]]), int(indptr[rows[o[-1]] + 1])
        data[s:e], indices[s:e] = v[keep], idx[o][keep]
    G = sp.csr_matrix((data, indices, indptr), shape=(n, n_cols))
    G.sort_indices()
    return G


def _at_catalog_rows(G: sp.csr_matrix, rows: np.ndarray, n: int) -> sp.csr_matrix:
    """Row i of ``G`` moved to catalog row ``rows[i]`` (n rows; the others empty)."""
    counts = np.zeros(n, dtype=np.int64)
    counts[rows] = np.diff(G.indptr)
    G = G[np.argsort(rows)]  # rows in catalog order; the missing ones have no entries
    return sp.csr_matrix((G.data, G.indices, np.concatenate([[0], np.cumsum(counts)])), shape=(n, G.shape[1]))


def _available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class GenreInference(TransformerMixin, BaseEstimator):
    """Inferred genre distributions for artists without genres (family "inferred_genres").

    ``fit(catalog)`` learns the genre vocabulary and fits the link families; ``transform(catalog)`` propagates
    and returns CSR float32 (n_artists, n_genres), names ``"inferred_genre=<genre>"``: each row the inferred
    distribution (sums to 1) of an artist *without* genres whose confidence reaches ``min_confidence``; rows of
    artists with real genres are zero, so the block adds information only for the others.

    After ``transform``: ``distribution_`` (CSR float32 (n_artists, n_genres): real genre distribution for
    artists with genres, inferred for the others), ``confidence_`` (float32 (n_artists,), in [0, 1]; 1 for
    artists with genres, 0 where nothing reached), ``is_inferred_`` (bool (n_artists,): the rows this block
    fills), ``block_width_`` and ``block_cells_`` (the genre columns propagated per block and the float32 cells
    of working memory budgeted for a block) and :meth:`top_genres`.

    Confidence = (mass reaching the artist / alpha) * (share of its top genre): 1 when every neighbour has
    genres and they agree; lower when the genres came from far away, were few, or disagree.

    Parameters
    ----------
    link_weights : mapping of str to float, optional
        Weight of each link family in the adjacency (keys from :data:`LINK_FAMILIES`; default
        :data:`DEFAULT_LINK_WEIGHTS`; 0 leaves a family out).
    alpha : float in (0, 1)
        Share of mass passed on per hop: genres reaching an artist in d hops keep alpha**d.
    n_iter : int
        Propagation iterations (the maximum number of hops a genre travels). Each costs a pass over every link
        per block of genres. Default 6: on the generated 300k catalog 10 iterations inferred genres for the same
        share of the artists without any (99.58%), with the same top genre for 99.7% of them and the same held-out
        precision@1 and recall@5 (0.504 / 0.560 both), in 46% more time; 4 iterations lost some precision (0.502).
    top_k : int or None
        Keep only the top_k genres per artist (at the end of the propagation). None keeps every genre that
        reaches an artist (memory: ~8 bytes per nonzero, up to n_artists x n_genres).
    min_confidence : float in [0, 1]
        Rows whose confidence is lower stay zero in the block (and ``is_inferred_`` is False).
    max_dense_cells : int >= 0
        Budget of the propagation's working memory in float32 cells (4 bytes), threads and temporaries included:
        G is propagated in blocks of genre columns (at most 64), as wide as the budget allows for the block
        itself, its token rows, one step's product results and the top_k merge (~2.5 cells per artist and
        column). Not counted: the links, and what is proportional to the result (top_k values per artist). The
        default, 600M cells (2.4 GB), allows 64-column blocks up to ~3.5M artists and ~14 columns at the 15.4M
        artists of the full dump. Narrow blocks cost more per column (a G row then fills less of each cache line
        fetched): at 1M generated artists the whole inference took 266 s with a 200M-cell budget scaled to the
        full dump's block width (~5 columns) against 105 s with 64-column blocks, and 125 s with this default
        scaled the same way (benchmarks/README.md; 10 iterations then). A budget below one column's needs still
        propagates one column at a time.
    n_jobs : int
        Threads for the sparse products and the top_k merge (each product is cut into row ranges, so threads
        share one block and add no memory); -1 uses every CPU available to the process.
    """

    prefix = "inferred_genre"
    #: cached relations of :mod:`recsys.features._links` it reads: the link families' counts, the co-credit
    #: incidence and the artists' genres (a feature build keeps them until this family has run)
    cache_uses: tuple[str, ...] = ("counts:labels", "counts:compilations", "artist_playlist_counts",
                                   "collab_incidence", "fk:artist_genres")

    def __init__(self, *, link_weights: Mapping[str, float] | None = None, alpha: float = 0.9, n_iter: int = 6,
                 top_k: int | None = 20, min_confidence: float = 0.0, max_dense_cells: int = 600_000_000,
                 n_jobs: int = -1) -> None:
        self.link_weights = link_weights
        self.alpha = alpha
        self.n_iter = n_iter
        self.top_k = top_k
        self.min_confidence = min_confidence
        self.max_dense_cells = max_dense_cells
        self.n_jobs = n_jobs

    # -- parameters ----------------------------------------------------------------------------------------
    def _weights(self) -> dict[str, float]:
        w = dict(DEFAULT_LINK_WEIGHTS if self.link_weights is None else self.link_weights)
        unknown = sorted(set(w) - set(LINK_FAMILIES))
        if unknown:
            raise ValueError(f"link_weights: unknown link famil{'y' if len(unknown) == 1 else 'ies'} {unknown}; "
                             f"known: {sorted(LINK_FAMILIES)}")
        for k, v in w.items():
            if not np.isfinite(v) or v < 0:
                raise ValueError(f"link_weights[{k!r}] must be a finite number >= 0, got {v!r}")
        return {k: float(v) for k, v in w.items() if v > 0}

    def _check_params(self) -> None:
        if not (0 < self.alpha < 1):
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha!r}")
        if isinstance(self.n_iter, bool) or not isinstance(self.n_iter, (int, np.integer)) or self.n_iter < 1:
            raise ValueError(f"n_iter must be an int >= 1, got {self.n_iter!r}")
        if self.top_k is not None and (isinstance(self.top_k, bool) or not isinstance(self.top_k, (int, np.integer))
                                       or self.top_k < 1):
            raise ValueError(f"top_k must be None or an int >= 1, got {self.top_k!r}")
        if not (0 <= self.min_confidence <= 1):
            raise ValueError(f"min_confidence must be in [0, 1], got {self.min_confidence!r}")
        if (isinstance(self.max_dense_cells, bool) or not isinstance(self.max_dense_cells, (int, np.integer))
                or self.max_dense_cells < 0):
            raise ValueError(f"max_dense_cells must be an int >= 0 (float32 cells of working memory), "
                             f"got {self.max_dense_cells!r}")
        if (isinstance(self.n_jobs, bool) or not isinstance(self.n_jobs, (int, np.integer))
                or not (self.n_jobs >= 1 or self.n_jobs == -1)):
            raise ValueError(f"n_jobs must be an int >= 1, or -1 for every available CPU, got {self.n_jobs!r}")

    # -- fitting -------------------------------------------------------------------------------------------
    def fit(self, catalog: Catalog, y=None, *, link_families: Mapping[str, TokenFamily] | None = None
            ) -> GenreInference:
        """Learn the genre vocabulary; fit the link families (or reuse fitted ones from ``link_families``)."""
        self._check_params()
        weights = self._weights()
        _, genres = genre_incidence(catalog)
        self.genres_ = np.sort(np.asarray(genres.to_numpy(zero_copy_only=False), dtype=object))
        given = dict(link_families or {})
        self.link_families_ = {}
        for name in weights:
            if name == "collaborations":
                continue  # propagates over the co-credit incidence itself, which needs no fitting
            fam = given.get(name)
            if fam is None or not fam.__sklearn_is_fitted__():
                fam = LINK_FAMILIES[name]().fit(catalog)
            self.link_families_[name] = fam
        self.n_features_out_ = len(self.genres_)
        return self

    def _seed(self, catalog: Catalog) -> sp.csr_matrix:
        """Artist x genre distribution of the real genres (rows sum to 1 or 0), in the fitted vocabulary order."""
        m, keys = genre_incidence(catalog)
        keys = np.asarray(keys.to_numpy(zero_copy_only=False), dtype=object)
        col = np.searchsorted(self.genres_, keys) if len(self.genres_) else np.zeros(len(keys), dtype=np.int64)
        col = np.minimum(col, max(len(self.genres_) - 1, 0))
        ok = np.flatnonzero((self.genres_[col] == keys) if len(self.genres_) else np.zeros(len(keys), bool))
        P = sp.csr_matrix((np.ones(len(ok)), (ok, col[ok])), shape=(len(keys), len(self.genres_)))
        G0 = sp.csr_matrix(m @ P, dtype=np.float64)
        G0.eliminate_zeros()
        return safe_normalize(G0, norm="l1")

    def _propagator(self, catalog: Catalog) -> _Propagator:
        def parts() -> Iterator[tuple[float, sp.csr_matrix]]:  # one family's links at a time
            for name, w in self._weights().items():
                if name == "collaborations":
                    B = sp.csr_matrix(collab_incidence(catalog), copy=True)  # cached: the propagator works in place
                else:
                    B = self.link_families_[name].link_counts(catalog)
                    B = sp.csr_matrix(B, copy=True)  # 0/1 below: never write into a cached matrix
                    B.data[:] = 1.0
                yield w, B
                del B
        return _Propagator(parts(), catalog.num_rows("artists"))

    def _n_jobs(self) -> int:
        return _available_cpus() if self.n_jobs == -1 else int(self.n_jobs)

    def _block_cells(self, sweep: _Sweep, n_genres: int, k: int, n_jobs: int) -> tuple[int, int]:
        """float32 cells a block needs: (fixed, per genre column).

        Per column: the step's (:meth:`_Sweep.cells_per_column`), and the top_k merge's temporaries (~8 a value,
        on the rows the threads merge at once, which also hold k values each: the fixed part) or, when every
        genre is kept, the block's conversion to CSR (~6 a value).
        """
        n_s = len(sweep.rows)
        if k >= n_genres:
            return 0, sweep.cells_per_column() + 6 * n_s
        merging = 8 * min(n_s, n_jobs * _MERGE_ROWS)
        return merging * k, sweep.cells_per_column() + merging

    def _block_width(self, sweep: _Sweep, n_genres: int, k: int, n_jobs: int) -> int:
        """Genre columns per block: at most :data:`_BLOCK_WIDTH`, and the block's cells within the budget."""
        fixed, per_column = self._block_cells(sweep, n_genres, k, n_jobs)
        return int(max(1, min(_BLOCK_WIDTH, n_genres, (int(self.max_dense_cells) - fixed) // max(per_column, 1))))

    def _propagate(self, sweep: _Sweep, G0: sp.csr_matrix, n_jobs: int) -> sp.csr_matrix:
        """G after ``n_iter`` steps from the seed ``G0``, CSR float32 (n_artists, n_genres), top_k per artist.

        Genre columns never mix: each block of columns is propagated on its own (the same values as the whole G)
        and merged into a running top_k per artist; only which of several genres tied at the top_k-th place is
        kept may depend on the blocks.
        """
        n, n_genres = G0.shape
        n_s = len(sweep.rows)
        k = n_genres if self.top_k is None else min(int(self.top_k), n_genres)
        keep_all = k >= n_genres
        width = self._block_width(sweep, n_genres, k, n_jobs)
        fixed, per_column = self._block_cells(sweep, n_genres, k, n_jobs)
        #: genre columns propagated per block, and the float32 cells of working memory a block was budgeted
        self.block_width_, self.block_cells_ = int(width), int(fixed + per_column * width)
        seed = sp.csc_matrix(G0[sweep.rows[sweep.n_free:]], dtype=np.float32)
        vals = np.zeros((0 if keep_all else n_s, k), dtype=np.float32)
        # genre of each kept value: uint16 while the genres fit (the dump has ~6k), 40 bytes an artist less
        idx = np.zeros(vals.shape, dtype=np.uint16 if n_genres <= 1 << 16 else np.int32)
        floor = np.zeros(len(vals), dtype=np.float32)
        kept = []
        pool = ThreadPoolExecutor(n_jobs) if n_jobs > 1 else None
        map_ = pool.map if pool is not None else map
        try:
            for start in range(0, n_genres, width):
                stop = min(n_genres, start + width)
                block = sweep.run(seed[:, start:stop].toarray(), self.n_iter, map_)
                if keep_all:
                    kept.append(sp.csr_matrix(block))
                else:
                    _merge_top_k(vals, idx, floor, block, start, map_)
                del block
        finally:  # on Ctrl-C too: queued chunks are dropped, running ones (one product each) finish
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        if not keep_all:
            return _top_k_at_rows(vals, idx, sweep.rows, n, n_genres)
        G = sp.hstack(kept, format="csr") if kept else sp.csr_matrix((n_s, n_genres), dtype=np.float32)
        return _at_catalog_rows(sp.csr_matrix(G, dtype=np.float32), sweep.rows, n)

    def _infer(self, catalog: Catalog, G0: sp.csr_matrix) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
        """Propagate from seed distributions G0; returns (distribution, confidence, known mask)."""
        known = np.diff(G0.indptr) > 0
        n_jobs = self._n_jobs()
        prop = self._propagator(catalog)
        # the links are copied into the propagator: a feature build may drop the cached link counts now, not
        # after the propagation (at 15.4M artists they are ~3 GB)
        done_reading(catalog)
        sweep = _Sweep(prop, known, alpha=self.alpha, n_hops=int(self.n_iter),
                       n_chunks=1 if n_jobs == 1 else _CHUNKS_PER_THREAD * n_jobs,
                       n_token_chunks=1 if n_jobs == 1 else _TOKEN_CHUNKS_PER_THREAD * n_jobs)
        del prop  # emptied by the sweep, which took its matrices over
        G = self._propagate(sweep, G0, n_jobs)
        del sweep
        # l1-normalised in place (a row with entries has mass > 0), summed in float64 as sklearn's normalize does:
        # exact, so a row's result does not depend on the order of its entries (which of tied genres was kept)
        mass = np.zeros(G.shape[0])
        dist = G
        for a, b in nnz_ranges(dist.indptr):
            s, e = dist.indptr[a], dist.indptr[b]
            counts = np.diff(dist.indptr[a:b + 1])
            mass[a:b] = np.bincount(np.repeat(np.arange(b - a), counts), weights=dist.data[s:e], minlength=b - a)
            dist.data[s:e] = dist.data[s:e] / np.repeat(mass[a:b], counts)
        top = dist.max(axis=1).toarray().ravel() if dist.shape[1] else np.zeros(dist.shape[0])
        conf = np.clip(np.where(known, 1.0, mass / self.alpha * top), 0.0, 1.0)
        return sp.csr_matrix(dist, dtype=np.float32), conf.astype(np.float32), known

    def transform(self, catalog: Catalog) -> sp.csr_matrix:
        """Inferred genre block, CSR float32 (n_artists, n_genres); zero rows for artists with genres."""
        check_is_fitted(self, "genres_")
        dist, conf, known = self._infer(catalog, self._seed(catalog))
        self.distribution_, self.confidence_ = dist, conf
        has = np.diff(dist.indptr) > 0
        self.is_inferred_ = ~known & has & (conf >= self.min_confidence)
        out = sp.csr_matrix(sp.diags(self.is_inferred_.astype(np.float32)) @ dist, dtype=np.float32)
        out.eliminate_zeros()
        return out

    def top_genres(self, row: int, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` most probable genres of artist ``row`` after ``transform``, as [(genre, probability)]."""
        check_is_fitted(self, "distribution_")
        r = self.distribution_[int(row)]
        o = np.lexsort((r.indices, -r.data))[: int(k)]
        return [(str(self.genres_[r.indices[i]]), float(r.data[i])) for i in o]

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """``"inferred_genre=<genre>"`` per column, ndarray of object."""
        check_is_fitted(self, "genres_")
        return np.asarray(f"{self.prefix}=" + self.genres_.astype(object), dtype=object)


def evaluate_genre_inference(catalog: Catalog, *, holdout: float = 0.2, seed: int = 0, **params) -> dict:
    """Hide the genres of a random ``holdout`` share of the artists that have genres, infer them, and score.

    Parameters
    ----------
    catalog : Catalog
    holdout : float in (0, 1)
        Share of the artists with genres whose genres are hidden.
    seed : int
        Seed of the held-out sample (the result is deterministic for a seed).
    **params
        Passed to :class:`GenreInference` (``min_confidence`` limits which inferences count as made).

    Returns
    -------
    dict
        ``precision_at_1``: share of held-out artists with an inference whose top genre is a true genre;
        ``recall_at_5``: mean share of an artist's true genres among its top 5; ``coverage``: share of
        held-out artists that got any inferred genre; ``n_evaluated``: held-out artists;
        ``majority_precision_at_1``: precision@1 of always guessing the most common training genre.
    """
    if not (0 < holdout < 1):
        raise ValueError(f"holdout must be in (0, 1), got {holdout!r}")
    gi = GenreInference(**params).fit(catalog)
    G0 = gi._seed(catalog)
    with_genres = np.flatnonzero(np.diff(G0.indptr) > 0)
    rng = np.random.default_rng(seed)
    n_hold = int(round(holdout * len(with_genres)))
    if n_hold == 0:
        raise ValueError(f"holdout={holdout} of {len(with_genres)} artists with genres hides none; "
                         "the catalog needs artists with genres")
    hidden = np.sort(rng.choice(with_genres, size=n_hold, replace=False))
    keep = np.ones(G0.shape[0])
    keep[hidden] = 0.0
    train = sp.csr_matrix(sp.diags(keep) @ G0)
    train.eliminate_zeros()  # a hidden row must be empty, not hold stored zeros (emptiness marks "unknown")
    dist, conf, _ = gi._infer(catalog, train)
    dist = sp.csr_matrix(dist[hidden])
    truth = sp.csr_matrix(G0[hidden])
    truth.data[:] = 1.0
    made = (np.diff(dist.indptr) > 0) & (conf[hidden] >= gi.min_confidence)
    # top-5 per row as a 0/1 matrix, then overlap with the truth
    top5 = topk_per_row(dist, 5)
    top1 = topk_per_row(dist, 1)
    for m in (top5, top1):
        m.data[:] = 1.0
    hit1 = np.asarray(top1.multiply(truth).sum(axis=1)).ravel() > 0
    n_true = np.asarray(truth.sum(axis=1)).ravel()
    rec5 = np.asarray(top5.multiply(truth).sum(axis=1)).ravel() / np.maximum(n_true, 1)
    majority = int(np.argmax(np.asarray((train > 0).sum(axis=0)).ravel()))
    return {
        "precision_at_1": float(hit1[made].mean()) if made.any() else 0.0,
        "recall_at_5": float(rec5[made].mean()) if made.any() else 0.0,
        "coverage": float(made.mean()),
        "n_evaluated": int(n_hold),
        "majority_genre": str(gi.genres_[majority]),
        "majority_precision_at_1": float(truth[:, majority].toarray().ravel().mean()),
    }
