"""Seeded splits, and the training view of a catalog that features are built on.

Mental model: *what an experiment hides is dropped from the catalog before any feature sees it.*

:class:`CatalogView` is a training copy of a catalog whose tables are the base catalog's with some rows removed
(a boolean drop mask per table), written as a catalog directory of its own. Whatever way a feature family reads
a table, it sees the training data and nothing else: held-out co-credits are simply absent from
``track_artists``, held-out genres from ``artist_genres``, and when playlists are the ground truth the
``playlists`` and ``playlist_tracks`` tables are empty. Entity tables (artists, tracks, albums) are never
filtered, so item rows stay aligned with the base catalog.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..atomic import sha256_file
from ..catalog import Catalog

__all__ = ["CatalogView", "split_items", "sample_items", "hold_out_credits", "co_credit_pairs", "pairs_to_relevant",
           "groups_to_co_members"]

#: tables whose rows are entities: filtering them would shift every row index
_ENTITY_TABLES = ("artists", "tracks", "albums")


class CatalogView(Catalog):
    """A training copy of a catalog with some rows of some link tables removed.

    The copy is a real catalog directory (a private temporary directory, removed when the view is garbage
    collected or :meth:`close` d): filtered tables are rewritten, the others are symbolic links to the base files.
    So every reader, ``Catalog.table`` or a reader streaming the Parquet file itself, sees only the training rows.

    Parameters
    ----------
    base : Catalog
    drop : mapping of table name to bool ndarray or True
        Per table, a mask over its rows (True = hide the row) or True to hide the whole table.
    workdir : path, optional
        Where to create the temporary directory (default: the system's temporary directory).

    Raises
    ------
    ValueError
        An entity table (artists, tracks, albums) or an unknown table is named, or a mask has the wrong length.
    """

    def __init__(self, base: Catalog, drop: Mapping[str, np.ndarray | bool], *,
                 workdir: str | os.PathLike | None = None) -> None:  # noqa: D107
        keeps: dict[str, np.ndarray] = {}
        for name, mask in drop.items():
            if name in _ENTITY_TABLES:
                raise ValueError(f"drop: {name!r} is an entity table; hiding its rows would shift every item row")
            n = base.num_rows(name)  # raises ValueError for an unknown table
            if mask is True:
                keeps[name] = np.zeros(n, dtype=bool)
                continue
            m = np.asarray(mask, dtype=bool)
            if m.shape != (n,):
                raise ValueError(f"drop[{name!r}] must be a bool mask over the table's {n} rows, got shape {m.shape}")
            keeps[name] = ~m
        self.base = base
        self._tmp = tempfile.TemporaryDirectory(prefix="recsys-view-", dir=workdir)
        root = Path(self._tmp.name)
        manifest = copy.deepcopy(base.manifest)
        for name, entry in manifest["tables"].items():
            src = (base.path / entry["file"]).resolve()
            dst = root / entry["file"]
            if name in keeps:
                pq.write_table(base.table(name).filter(pa.array(keeps[name])), dst)
                entry.update(rows=int(keeps[name].sum()), bytes=dst.stat().st_size, sha256=sha256_file(dst))
            else:
                try:
                    os.symlink(src, dst)
                except OSError:  # no symlinks here (some Windows setups): a copy reads the same
                    shutil.copyfile(src, dst)
        manifest["view"] = {"base": str(base.path), "dropped_rows": {k: int((~v).sum()) for k, v in keeps.items()}}
        (root / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        super().__init__(root, verify=False)  # the base verified its files; the rewritten ones are ours

    def __repr__(self) -> str:
        return f"CatalogView({self.base!r}, dropped={self.manifest['view']['dropped_rows']})"

    def close(self) -> None:
        """Remove the temporary directory now (it is removed at garbage collection otherwise)."""
        self._tmp.cleanup()


def sample_items(candidates: np.ndarray, size: int | None, seed: int) -> np.ndarray:
    """At most ``size`` of ``candidates`` (all when None), drawn without replacement with ``seed``, sorted."""
    candidates = np.asarray(candidates, dtype=np.int64)
    if size is None or size >= len(candidates):
        return np.sort(candidates)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(candidates, size=int(size), replace=False))


def split_items(items: np.ndarray, validation_share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of query items (or playlists) into (validation, test), each sorted.

    Weights and other settings are tuned on validation and reported on test, so no number in a report was
    tuned on the queries it is measured on.
    """
    if not 0.0 <= float(validation_share) < 1.0:
        raise ValueError(f"validation_share must be in [0, 1), got {validation_share!r}")
    items = np.asarray(items, dtype=np.int64)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(items))
    n_val = int(round(validation_share * len(items)))
    return np.sort(items[perm[:n_val]]), np.sort(items[perm[n_val:]])


def co_credit_pairs(track: np.ndarray, artist: np.ndarray, n_artists: int) -> np.ndarray:
    """Distinct unordered artist pairs credited on a common track, as int64 keys ``a * n_artists + b`` (a < b).

    ``track`` and ``artist`` are the credit rows sorted by track (as :func:`recsys.features._links.credits`).
    """
    keys = []
    if len(track):
        starts = np.flatnonzero(np.r_[True, track[1:] != track[:-1]])
        sizes = np.diff(np.r_[starts, len(track)])
        for size in np.unique(sizes[sizes >= 2]):
            # all tracks with `size` credits at once: (n_tracks, size) block, every pair of its columns
            blocks = artist[starts[sizes == size][:, None] + np.arange(size)]
            for i in range(size):
                for j in range(i + 1, size):
                    a, b = blocks[:, i], blocks[:, j]
                    keys.append(np.minimum(a, b) * n_artists + np.maximum(a, b))
    if not keys:
        return np.zeros(0, dtype=np.int64)
    k = np.unique(np.concatenate(keys))
    return k[(k // n_artists) != (k % n_artists)]


def hold_out_credits(catalog: Catalog, share: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hide a seeded share of the co-credit links between artists.

    A share of the distinct collaborating artist pairs is drawn; on every track the two share, the later
    credit of the pair is removed from ``track_artists`` (the primary credit always stays, so the track keeps
    its main artist). Removing a credit can also cut links to third artists on the same track; the held-out
    links are therefore recomputed as *every pair co-credited in the full catalog and not in the training
    view*, so the truth is exactly what the features cannot see.

    Returns
    -------
    drop : ndarray of bool, shape (n_track_artists_rows,)
        Rows of ``track_artists`` to hide.
    held_out : ndarray of int64, shape (n_pairs,)
        Pair keys ``a * n_artists + b`` (a < b) of the hidden links.
    drawn : ndarray of int64
        The pair keys that were drawn (a subset of ``held_out``).
    """
    from ..features._links import column_rows

    if not 0.0 < float(share) < 1.0:
        raise ValueError(f"share must be in (0, 1), got {share!r}")
    n_art = catalog.num_rows("artists")
    t = catalog.table("track_artists", ["rowid"])
    trk = column_rows(catalog, "track_artists", "track_rowid", "tracks")
    art = column_rows(catalog, "track_artists", "artist_rowid", "artists")
    order_key = t.column("rowid").to_numpy()
    idx = np.flatnonzero((trk >= 0) & (art >= 0))
    o = idx[np.lexsort((order_key[idx], trk[idx]))]  # table rows sorted by (track, credit order)
    s_trk, s_art = trk[o], art[o]
    full = co_credit_pairs(s_trk, s_art, n_art)
    rng = np.random.default_rng(seed)
    drawn = np.sort(rng.choice(full, size=int(round(share * len(full))), replace=False)) if len(full) else full
    drop = np.zeros(len(trk), dtype=bool)
    if len(drawn):
        # position of each credit within its track (0 = primary)
        starts = np.r_[0, np.flatnonzero(s_trk[1:] != s_trk[:-1]) + 1]
        pos = np.arange(len(s_trk)) - np.repeat(starts, np.diff(np.r_[starts, len(s_trk)]))
        first_of_track = np.repeat(starts, np.diff(np.r_[starts, len(s_trk)]))
        drawn_set = set(drawn.tolist())
        # for each non-primary credit, check whether it pairs with an earlier credit of the same track in a
        # drawn pair; tracks have a handful of credits, so this loop is over credits, not pairs of tracks
        for i in np.flatnonzero(pos > 0):
            b = s_art[i]
            for j in range(first_of_track[i], i):
                a = s_art[j]
                key = min(a, b) * n_art + max(a, b)
                if key in drawn_set and not drop[o[j]]:
                    drop[o[i]] = True
                    break
    keep = ~drop[o]
    train = co_credit_pairs(s_trk[keep], s_art[keep], n_art)
    held_out = np.setdiff1d(full, train, assume_unique=True)
    return drop, held_out, drawn


def pairs_to_relevant(keys: np.ndarray, n_items: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Symmetric pair keys -> (query items with at least one partner, partners of each), sorted."""
    a, b = keys // n_items, keys % n_items
    src = np.concatenate([a, b])
    dst = np.concatenate([b, a])
    order = np.lexsort((dst, src))
    src, dst = src[order], dst[order]
    queries, starts = np.unique(src, return_index=True)
    return queries, np.split(dst, starts[1:]) if len(queries) else []


def groups_to_co_members(groups: Sequence[np.ndarray], n_items: int) -> list[np.ndarray]:
    """Per item, the other items sharing at least one group with it (sorted int64 arrays; empty if none)."""
    import scipy.sparse as sp

    if not groups:
        return [np.zeros(0, dtype=np.int64) for _ in range(n_items)]
    rows = np.concatenate([np.asarray(g, dtype=np.int64) for g in groups])
    cols = np.repeat(np.arange(len(groups)), [len(g) for g in groups])
    M = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(n_items, len(groups)))
    C = (M @ M.T).tocsr()
    C.setdiag(0)
    C.eliminate_zeros()
    C.sort_indices()
    return [C.indices[C.indptr[i]:C.indptr[i + 1]].astype(np.int64) for i in range(n_items)]
