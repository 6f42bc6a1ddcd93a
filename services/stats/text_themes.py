"""Themes in free text: TF-IDF + NMF topics, labelled by their top terms, and near-duplicate groups
(TF-IDF character n-gram cosine).
Pure functions on lists of strings (no database)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.decomposition import NMF
from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer, TfidfVectorizer

# Redaction tokens and markup say nothing about the topic.
_NOISE = re.compile(r"\[(?:EMAIL|PHONE|CARD|IBAN)\]|<[^>]{0,100}>|https?://\S+")


@dataclass(frozen=True)
class ThemeClusters:
    labels: np.ndarray  # theme index per text; -1 where a text has no informative words
    top_terms: list[list[str]]  # per theme, most characteristic first
    sizes: list[int]
    method: str


def cluster_texts(texts: list[str], n_themes: int = 8, seed: int = 0, top_n: int = 6) -> ThemeClusters:
    """NMF on sublinear TF-IDF of words and word pairs. NMF's parts-based topics read better as labels
    than k-means centroids, and its factors give each text a membership we take the arg-max of."""
    if n_themes < 2:
        raise ValueError("n_themes must be at least 2")
    cleaned = [_NOISE.sub(" ", t or "") for t in texts]
    min_df = 2 if len(cleaned) >= 50 else 1
    vectorizer = TfidfVectorizer(
        stop_words="english", sublinear_tf=True, min_df=min_df, max_df=0.5, ngram_range=(1, 2),
        max_features=30_000, token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z]+\b", dtype=np.float32,
    )  # fmt: skip
    matrix = vectorizer.fit_transform(cleaned)
    n_themes = min(n_themes, max(2, matrix.shape[1] - 1), max(2, matrix.shape[0] - 1))
    model = NMF(n_components=n_themes, init="nndsvda", random_state=seed, max_iter=400)
    weights = model.fit_transform(matrix)
    labels = weights.argmax(axis=1)
    labels[weights.max(axis=1) <= 0] = -1
    terms = vectorizer.get_feature_names_out()
    top_terms = [
        _distinct_terms(terms[np.argsort(component)[::-1][: top_n * 3]], top_n) for component in model.components_
    ]
    sizes = np.bincount(labels[labels >= 0], minlength=n_themes).tolist()
    return ThemeClusters(labels, top_terms, sizes, f"TF-IDF (1-2 grams) + NMF, {n_themes} themes, seed {seed}")


def _distinct_terms(ranked: np.ndarray, top_n: int) -> list[str]:
    """Drop a word when a pair containing it is already listed (and vice versa) so labels don't stutter."""
    chosen: list[str] = []
    for term in ranked:
        words = set(term.split())
        if any(words & set(c.split()) for c in chosen):
            continue
        chosen.append(str(term))
        if len(chosen) == top_n:
            break
    return chosen


def theme_label(top_terms: list[str], n: int = 3) -> str:
    return " / ".join(top_terms[:n])


def normalized_text(text: str) -> str:
    """Case, punctuation, digits, markup and redactions folded: texts equal after this are duplicates."""
    text = _NOISE.sub(" ", text or "").lower()
    text = re.sub(r"\d+", "0", text)
    return re.sub(r"[^a-z0]+", " ", text).strip()


NEAR_DUPLICATE_SIMILARITY = 0.9  # cosine of the texts' TF-IDF character 3-grams
NEIGHBOUR_WINDOW = 8  # how many neighbours in each sort order are compared


def char_ngram_tfidf(keys: list[str], n: int = 3) -> sparse.csr_matrix:
    """TF-IDF of character n-grams within words (scikit-learn's `char_wb` analyzer, sublinear tf,
    rows of unit length) of normalized texts (words separated by single spaces).

    N-grams found in only one of the texts are left out (min_df=2): a typo or a rare name says
    nothing about what a text shares with another, and with its high IDF it would make a text with
    one typo look unlike its original. The counts are computed on the distinct words: a text's
    n-gram counts are the sum of its words' counts, so the slow per-character analysis runs once per
    word, not once per text."""
    words = CountVectorizer(token_pattern=r"\S+", lowercase=False, dtype=np.float32)
    word_counts = words.fit_transform(keys)
    grams = CountVectorizer(analyzer="char_wb", ngram_range=(n, n), lowercase=False, dtype=np.float32)
    counts = (word_counts @ grams.fit_transform(words.get_feature_names_out())).tocsr()
    counts.sum_duplicates()
    shared = np.bincount(counts.indices, minlength=counts.shape[1]) >= 2
    if not shared.any():
        return sparse.csr_matrix(counts.shape, dtype=np.float32)
    tfidf = TfidfTransformer(sublinear_tf=True).fit_transform(counts[:, shared])
    return tfidf.astype(np.float32).tocsr()


def similar_pairs(
    keys: list[str], threshold: float = NEAR_DUPLICATE_SIMILARITY, window: int = NEIGHBOUR_WINDOW
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i, j), i < j, of distinct normalized texts whose character n-gram cosine is >= threshold,
    and their cosines.
    Candidates are blocked by sorted neighbourhoods: each text is compared with the `window` texts
    after it in three sort orders (the text, the text reversed, its words sorted), which brings
    together texts that share a beginning, an ending, or their words in another order. Comparing
    all pairs would cost n^2 (10^10 at 100,000 texts); this costs 3 * window * n row products."""
    n = len(keys)
    none = (np.empty((0, 2), dtype=np.int64), np.empty(0, dtype=np.float32))
    if n < 2:
        return none
    matrix = char_ngram_tfidf(keys)
    orders = [
        np.argsort(np.array(keys, dtype=object), kind="stable"),
        np.argsort(np.array([k[::-1] for k in keys], dtype=object), kind="stable"),
        np.argsort(np.array([" ".join(sorted(k.split())) for k in keys], dtype=object), kind="stable"),
    ]
    found, similarity = [], []
    for order in orders:
        ordered = matrix[order]
        ordered.sort_indices()
        for step in range(1, min(window, n - 1) + 1):
            # Row k of the product is the cosine of the k-th and (k + step)-th text of this order.
            product = _rows(ordered, 0, n - step).multiply(_rows(ordered, step, n))
            cosine = np.asarray(product.sum(axis=1)).ravel()
            hit = np.flatnonzero(cosine >= threshold - 1e-6)
            first, second = order[hit], order[hit + step]
            found.append(np.column_stack([np.minimum(first, second), np.maximum(first, second)]))
            similarity.append(cosine[hit])
    pairs = np.concatenate(found).astype(np.int64)
    if not len(pairs):
        return none
    pairs, first_seen = np.unique(pairs, axis=0, return_index=True)
    return pairs, np.concatenate(similarity)[first_seen]


def _rows(matrix: sparse.csr_matrix, start: int, stop: int) -> sparse.csr_matrix:
    """Rows start..stop-1 of a CSR matrix with sorted indices, sharing its arrays (a slice copies them)."""
    bounds = matrix.indptr
    rows = sparse.csr_matrix(
        (
            matrix.data[bounds[start] : bounds[stop]],
            matrix.indices[bounds[start] : bounds[stop]],
            bounds[start : stop + 1] - bounds[start],
        ),
        shape=(stop - start, matrix.shape[1]),
        copy=False,
    )
    rows.has_sorted_indices = True
    return rows


def _leaders(rank: np.ndarray, pairs: np.ndarray, cosine: np.ndarray) -> np.ndarray:
    """Group around first texts: in rank order, a text not yet in a group starts one with every
    similar text not yet in a group; a text whose similar texts are all taken joins the group of the
    most similar one. So every member is a near-duplicate of the group's first text or of a text
    that is, and groups do not chain on (A ~ B ~ C ~ D with A and D unlike stay apart)."""
    n = len(rank)
    leader = np.arange(n)
    if not len(pairs):
        return leader
    both = np.concatenate([pairs, pairs[:, ::-1]])
    graph = sparse.csr_matrix((np.tile(cosine, 2), (both[:, 0], both[:, 1])), shape=(n, n))
    grouped = np.zeros(n, dtype=bool)
    for node in np.argsort(rank, kind="stable"):
        start, stop = graph.indptr[node], graph.indptr[node + 1]
        if grouped[node] or start == stop:
            continue
        neighbours = graph.indices[start:stop]
        free = neighbours[~grouped[neighbours]]
        if len(free):
            leader[free] = node
            grouped[free] = True
        else:
            leader[node] = leader[neighbours[np.argmax(graph.data[start:stop])]]
        grouped[node] = True
    return leader


def near_duplicate_groups(
    ids: list[int], texts: list[str], threshold: float = NEAR_DUPLICATE_SIMILARITY, window: int = NEIGHBOUR_WINDOW
) -> dict[int, int]:
    """Map each id that has near-duplicates to its group (the smallest id of the group). Texts equal
    after `normalized_text` are one; distinct ones join when their character 3-gram TF-IDF cosine is
    at least `threshold` (a typo, a changed word, words in another order), see `similar_pairs`."""
    frame = pd.DataFrame({"id": ids, "key": [normalized_text(t) for t in texts]})
    frame = frame[frame["key"].str.len() > 0]
    if frame.empty:
        return {}
    first_id = frame.groupby("key", sort=False)["id"].min()
    keys = first_id.index.tolist()
    ranks = first_id.to_numpy()
    leader = _leaders(ranks, *similar_pairs(keys, threshold, window))
    group = frame["key"].map(dict(zip(keys, ranks[leader].tolist(), strict=True)))
    sizes = group.map(group.value_counts())
    mask = sizes > 1
    return dict(zip(frame.loc[mask, "id"].tolist(), group[mask].tolist(), strict=True))


def purity(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Share of texts whose theme's majority true class is their own class."""
    table = pd.crosstab(pd.Series(predicted, name="p"), pd.Series(truth, name="t"))
    return float(table.max(axis=1).sum() / table.to_numpy().sum())
