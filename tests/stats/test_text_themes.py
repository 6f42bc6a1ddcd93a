"""Theme clustering finds the planted demo themes; near-duplicates are grouped."""

import numpy as np
import pytest

from data import themes as demo_themes
from services.stats.text_themes import cluster_texts, near_duplicate_groups, normalized_text, purity


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
