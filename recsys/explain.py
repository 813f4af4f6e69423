"""Why two items are neighbours, in words, from the feature blocks' contributions to their similarity.

Mental model: *the cosine of two combined vectors is a sum over features of x_q[f] * x_j[f]; group that sum by
feature family, keep the families that carry a real share, and name their strongest shared features.*

Nothing here is a hand-written rule about music: a family appears in an explanation only in proportion to how
much it added to the score, and the named features are the shared ones that added the most.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .catalog import Catalog
from .strings import StringColumn

__all__ = ["Reason", "Explainer"]

# Families whose keys are ids that need a name from the catalog.
_ID_FAMILIES = {"collaborator": "artists", "compilation": "albums", "playlist": "playlists"}


@dataclass(frozen=True)
class Reason:
    """One family's part in a similarity: ``share`` of the score (0..1) and a phrase for people."""

    family: str
    share: float
    text: str
    features: tuple[str, ...] = ()


class Explainer:
    """Explain neighbour pairs in one feature space.

    Parameters
    ----------
    catalog : Catalog
        For turning ids in feature names (collaborators, compilations, playlists) into names.
    X : scipy.sparse matrix, shape (n_items, n_features)
        The combined, weighted item vectors the model's similarity is based on.
    blocks : list of (family, slice)
        Column range of each family in ``X``.
    feature_names : StringColumn or sequence of str, shape (n_features,)
        ``"family=key"`` names.
    min_share : float
        Families contributing less than this share of the pair's dot product are left out.
    """

    def __init__(self, catalog: Catalog, X: sp.spmatrix, blocks: Sequence[tuple[str, slice]],
                 feature_names: Sequence[str], *, min_share: float = 0.08, max_features: int = 3) -> None:
        self.catalog = catalog
        self.X = sp.csr_matrix(X)
        self.blocks = list(blocks)
        self.names = StringColumn(feature_names)  # no copy of a StringColumn
        self.min_share = min_share
        self.max_features = max_features
        # a column's family from the block starting last at or before it: no array per column (millions)
        ordered = sorted(self.blocks, key=lambda b: (b[1].start, b[1].stop))
        self._block_starts = np.array([sl.start for _, sl in ordered], dtype=np.int64)
        self._block_families = np.array([fam for fam, _ in ordered], dtype=object)
        self._id_names: dict[str, dict[str, str]] = {}

    # -- names for ids ----------------------------------------------------------------------------------------
    def _name_of(self, kind: str, key: str) -> str:
        table = _ID_FAMILIES.get(kind)
        if table is None:
            return key
        if table not in self._id_names:
            t = self.catalog.table(table, ["id", "name"])
            self._id_names[table] = dict(zip(t.column("id").to_pylist(), t.column("name").to_pylist()))
        return self._id_names[table].get(key, key)

    # -- explanations -----------------------------------------------------------------------------------------
    def explain(self, query: int, neighbours: Sequence[int]) -> list[list[Reason]]:
        """Reasons for each (query, neighbour) pair, strongest family first; -1 neighbours get []."""
        q = self.X[int(query)]
        out: list[list[Reason]] = []
        for j in neighbours:
            if j is None or int(j) < 0:
                out.append([])
                continue
            prod = q.multiply(self.X[int(j)]).tocsr()
            out.append(self._reasons(int(query), int(j), prod))
        return out

    def explain_text(self, query: int, neighbours: Sequence[int]) -> list[str]:
        """One line per neighbour: the reasons' phrases joined with '; '."""
        return ["; ".join(r.text for r in reasons) for reasons in self.explain(query, neighbours)]

    def _reasons(self, q: int, j: int, prod: sp.csr_matrix) -> list[Reason]:
        cols, vals = prod.indices, prod.data
        keep = vals > 0
        cols, vals = cols[keep], vals[keep]
        total = float(vals.sum())
        if total <= 0:
            return []
        fams = self._block_families[np.searchsorted(self._block_starts, cols, side="right") - 1]
        reasons = []
        for fam in dict.fromkeys(fams.tolist()):
            sel = fams == fam
            share = float(vals[sel].sum()) / total
            if share < self.min_share:
                continue
            order = np.argsort(-vals[sel], kind="stable")
            feats = [str(self.names[c]) for c in cols[sel][order]]
            text = self._phrase(fam, feats, q, j)
            if text:
                reasons.append(Reason(fam, round(share, 3), text, tuple(feats[: self.max_features])))
        reasons.sort(key=lambda r: -r.share)
        return reasons

    def _phrase(self, family: str, feats: list[str], q: int, j: int) -> str:
        keys = [f.split("=", 1)[1] if "=" in f else f for f in feats]
        kind = feats[0].split("=", 1)[0] if feats and "=" in feats[0] else family
        top = keys[: self.max_features]
        more = f" (+{len(keys) - len(top)} more)" if len(keys) > len(top) else ""
        if family == "genres":
            return f"shares genres: {', '.join(top)}{more}"
        if family == "inferred_genres":
            return f"inferred genre: {', '.join(top)}"
        if family == "labels":
            return f"same label: {', '.join(top)}{more}"
        if family == "collaborations":
            ids = {self.catalog.artists.ids[q], self.catalog.artists.ids[j]} if kind == "collaborator" else set()
            direct = [k for k in keys if k in ids]
            others = [self._name_of("collaborator", k) for k in keys if k not in ids]
            parts = []
            if direct:
                parts.append("collaborated directly")
            if others:
                parts.append(f"{len(others)} shared collaborator{'s' if len(others) > 1 else ''}: "
                             f"{', '.join(others[: self.max_features])}")
            return "; ".join(parts)
        if family == "compilations":
            names = [self._name_of("compilation", k) for k in top]
            return f"on the same compilation{'s' if len(keys) > 1 else ''}: {', '.join(names)}{more}"
        if family == "playlists":
            names = [self._name_of("playlist", k) for k in keys[:2]]
            return f"together in {len(keys)} playlist{'s' if len(keys) > 1 else ''} (e.g. {', '.join(names)})"
        if family == "era":
            return f"both {top[0]}"
        if family == "markets":
            return f"same regional markets: {', '.join(keys[:5])}"
        if family == "audio":
            return f"similar sound ({', '.join(top)})"
        if family == "popularity":
            return "similar popularity"
        if family == "artists":  # track space: the credited artists' similarity
            return "by similar artists"
        return f"{family}: {', '.join(top)}"
