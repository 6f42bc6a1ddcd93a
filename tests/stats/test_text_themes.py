"""Theme clustering finds the planted demo themes; near-duplicates (a typo, another word order) are
grouped, checked against scikit-learn's char n-gram TF-IDF and the all-pairs cosine."""

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from data import themes as demo_themes
from services.stats.text_themes import (
    NEAR_DUPLICATE_SIMILARITY,
    char_ngram_tfidf,
    cluster_texts,
    near_duplicate_groups,
    normalized_text,
    purity,
)


def planted(n: int, seed: int = 7):
    rng = np.random.default_rng(seed)
    keys = list(demo_themes.THEMES)
    truth = rng.choice(keys, size=n)
    return [demo_themes.compose(demo_themes.THEMES[k], rng) for k in truth], truth


@pytest.mark.parametrize("n_themes", [6, 8])
def test_clusters_recover_the_planted_themes(n_themes):
    texts, truth = planted(3000)
    result = cluster_texts(texts, n_themes=n_themes)
    assert purity(result.labels, truth) >= 0.8
    assert len(result.top_terms) == n_themes and all(len(t) >= 3 for t in result.top_terms)
    assert sum(result.sizes) == (result.labels >= 0).sum()


def test_the_mobile_theme_is_labelled_by_its_words():
    texts, truth = planted(2000)
    result = cluster_texts(texts, n_themes=6)
    mobile = np.bincount(result.labels[truth == "mobile_app"]).argmax()
    words = " ".join(result.top_terms[mobile])
    assert any(w in words for w in ("app", "update", "logs", "slow", "sessions"))


def test_same_input_same_themes():
    texts, _ = planted(500)
    a, b = cluster_texts(texts, 6, seed=1), cluster_texts(texts, 6, seed=1)
    assert (a.labels == b.labels).all() and a.top_terms == b.top_terms


def test_purity_definition():
    assert purity(np.array([0, 0, 1, 1]), np.array(["a", "a", "b", "a"])) == 0.75


def test_near_duplicates_fold_case_numbers_punctuation_and_redactions():
    assert normalized_text("App crashed 3 times!! [EMAIL]") == normalized_text("app crashed 12 times.")
    groups = near_duplicate_groups(
        [1, 2, 3, 4],
        ["App crashed 3 times!", "app crashed 5 times", "Pricing is too high", "<b>APP crashed 9 times</b>"],
    )
    assert groups == {1: 1, 2: 1, 4: 1}


NEAR = [
    "The app logs me out every few minutes since the update.",  # 1
    "the app lgos me out every few minutes since the update",  # 2: a typo
    "Since the update, the app logs me out every few minutes!",  # 3: the same words in another order
    "The app logs me out every time I lock my phone since the update.",  # 4: same template, other words
    "The app is painfully slow since the update.",  # 5: same theme, another complaint
    "Pricing is too high for small teams.",  # 6
    "Support never answers my tickets.",  # 7
    "Support never answers my tikcets, again.",  # 8: a typo and an extra word
]


def test_near_duplicates_catch_typos_and_word_order_but_not_related_texts():
    groups = near_duplicate_groups(list(range(1, 9)), NEAR)
    assert groups == {1: 1, 2: 1, 3: 1, 7: 7, 8: 7}


def test_near_duplicate_group_is_named_by_its_smallest_id():
    groups = near_duplicate_groups(
        [30, 10, 20], ["Pricing is way too high", "Invoices are wrong", "pricing is way to high"]
    )
    assert groups == {30: 20, 20: 20}


def test_char_ngram_tfidf_is_scikit_learns_char_wb_tfidf():
    texts, _ = planted(400)
    keys = sorted({normalized_text(t) for t in texts})
    reference = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(3, 3), sublinear_tf=True, min_df=2, lowercase=False
    ).fit_transform(keys)
    ours = char_ngram_tfidf(keys)
    assert ours.shape == reference.shape
    gram_ours, gram_reference = (ours @ ours.T).toarray(), (reference @ reference.T).toarray()
    assert np.allclose(gram_ours, gram_reference, atol=1e-5)


def test_near_duplicate_groups_agree_with_all_pairs_cosine():
    """Against the brute-force n^2 similarities: every member is a near-duplicate (cosine >= 0.9) of
    its group's first text or of a member that is, and the sorted-neighbourhood blocking finds nearly
    every text that has a near-duplicate."""
    texts, _ = planted(3000, seed=11)
    ids = list(range(100, 3100))
    groups = near_duplicate_groups(ids, texts)
    keys = [normalized_text(t) for t in texts]
    distinct = sorted(set(keys))
    position = {k: i for i, k in enumerate(distinct)}
    matrix = char_ngram_tfidf(distinct)
    cosine = (matrix @ matrix.T).toarray()
    key_of = dict(zip(ids, keys, strict=True))
    near = cosine >= NEAR_DUPLICATE_SIMILARITY - 1e-5
    members: dict[int, list[int]] = {}
    for member, first in groups.items():
        members.setdefault(first, []).append(position[key_of[member]])
    for first, group in members.items():
        assert first == min(i for i, g in groups.items() if g == first)
        head = position[key_of[first]]
        direct = {m for m in group if near[m, head]}
        for m in group:
            assert m in direct or any(near[m, d] for d in direct), (first, distinct[m])
    np.fill_diagonal(cosine, 0)
    has_twin = {k for k in distinct if cosine[position[k]].max() >= NEAR_DUPLICATE_SIMILARITY}
    has_twin |= {k for k in distinct if keys.count(k) > 1}
    should = [i for i in ids if key_of[i] in has_twin]
    assert len(should) > 1000  # the templated demo texts have many near-duplicates
    found = sum(i in groups for i in should) / len(should)
    assert found >= 0.95, found
    assert set(groups) <= set(should)  # nothing unlike every other text is grouped
