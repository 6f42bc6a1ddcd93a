"""Themes in free text: TF-IDF + NMF topics, labelled by their top terms, and near-duplicate groups.
Pure functions on lists of strings (no database)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.decomposition import NMF
from sklearn.feature_extraction.text import TfidfVectorizer

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
    """What two near-duplicate texts share: case, punctuation, digits, markup and redactions folded."""
    text = _NOISE.sub(" ", text or "").lower()
    text = re.sub(r"\d+", "0", text)
    return re.sub(r"[^a-z0]+", " ", text).strip()


def near_duplicate_groups(ids: list[int], texts: list[str]) -> dict[int, int]:
    """Map each id that has near-duplicates to its group (the smallest id of the group)."""
    frame = pd.DataFrame({"id": ids, "key": [normalized_text(t) for t in texts]})
    frame = frame[frame["key"].str.len() > 0]
    group = frame.groupby("key")["id"].transform("min")
    sizes = frame.groupby("key")["id"].transform("size")
    mask = sizes > 1
    return dict(zip(frame.loc[mask, "id"].tolist(), group[mask].tolist(), strict=True))


def purity(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Share of texts whose theme's majority true class is their own class."""
    table = pd.crosstab(pd.Series(predicted, name="p"), pd.Series(truth, name="t"))
    return float(table.max(axis=1).sum() / table.to_numpy().sum())
