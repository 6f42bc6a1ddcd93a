"""The demo's feedback story seen through the Themes view's own reads: the loader clusters the texts,
and the clustered theme that holds most of the mobile-app complaints rises after the app 5.0 release
on day 60 (2026-09-30). Read with services.feedback.themes (list_themes, theme_volume, theme_mix), as the
Themes view does; the generator's truth is used only to pick which clustered theme is the mobile one.

The demo is loaded once per backend (scale 0.1) into a database of its own."""

from __future__ import annotations

import os

import pandas as pd
import pytest
import sqlalchemy as sa

from data import scenario as sc
from services.core.db import make_engine
from services.core.schema_feedback import Feedback
from services.feedback import themes
from tests import demo_cache
from tests.conftest import drop_database

SCALE = 0.1
RELEASE = pd.Timestamp(sc.day_start(sc.RELEASE_DAY)).tz_convert(None)  # 2026-09-30, day 60


@pytest.fixture(scope="module")
def scenario() -> sc.Scenario:
    return sc.build_scenario(SCALE)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def demo(request, tmp_path_factory, scenario):
    folder = tmp_path_factory.mktemp(f"demo-themes-{request.param}")
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{demo_cache.copy_demo(folder / 'demo.db', SCALE, blocks=False)}")
    else:
        if not os.environ.get("LOOPDECK_TEST_POSTGRES_URL"):
            pytest.skip("LOOPDECK_TEST_POSTGRES_URL is not set: Postgres runs are skipped")
        engine = make_engine(demo_cache.postgres_demo("demo_themes", SCALE))
    yield engine
    engine.dispose()
    if request.param == "postgres":
        drop_database(engine.url.render_as_string(hide_password=False))


@pytest.fixture(scope="module")
def clustered(demo, scenario) -> pd.DataFrame:
    """Each stored item's clustered theme (id, label) beside the generator's true theme."""
    with demo.connect() as conn:
        stored = pd.DataFrame(conn.execute(sa.select(Feedback.feedback_id, Feedback.theme_id)).all())
    stored["truth"] = stored["feedback_id"].map(scenario.feedback.set_index("feedback_id")["theme"])
    listed = themes.list_themes(demo)
    assert listed["label"].is_unique  # theme_volume is keyed by label
    stored["label"] = stored["theme_id"].map(dict(zip(listed["id"], listed["label"], strict=True)))
    assert stored["label"].notna().all()
    return stored


@pytest.fixture(scope="module")
def mobile_theme(clustered) -> tuple[int, str]:
    """(id, label) of the clustered theme holding most of the items the generator wrote as mobile-app
    complaints (the loader's clustering may put a few of them, e.g. "usage stats look wrong on
    mobile", in a theme of their own)."""
    mobile = clustered[clustered["truth"] == "mobile_app"]
    theme_id = int(mobile["theme_id"].value_counts().idxmax())
    assert (mobile["theme_id"] == theme_id).mean() >= 0.6  # most mobile complaints land in this theme
    members = clustered[clustered["theme_id"] == theme_id]
    assert (members["truth"] == "mobile_app").mean() >= 0.8  # and it is about the mobile app
    return theme_id, members["label"].iloc[0]


def test_the_mobile_theme_rises_after_the_release(demo, mobile_theme, clustered):
    _, label = mobile_theme
    volume = themes.theme_volume(demo, "D")
    daily = volume[volume["theme"] == label].set_index("period")["items"]
    days = pd.date_range(sc.START.replace(tzinfo=None), periods=sc.DAYS, freq="D")
    daily = daily.reindex(days, fill_value=0)  # days without an item count as 0
    assert daily.sum() > 0 and daily.index.min() == pd.Timestamp("2026-08-01")
    before, after = daily[daily.index < RELEASE], daily[daily.index >= RELEASE]
    assert len(before) == sc.RELEASE_DAY and len(after) == sc.DAYS - sc.RELEASE_DAY
    assert after.mean() >= 4 * max(before.mean(), 1 / len(before)), (before.mean(), after.mean())
    # The themes about something else stay level: the rise is the mobile theme's, not more feedback.
    mobile_share = clustered.groupby("label")["truth"].apply(lambda t: (t == "mobile_app").mean())
    others = volume[volume["theme"].map(mobile_share) < 0.5]
    assert others["theme"].nunique() >= 4
    for theme, rows in others.groupby("theme"):
        series = rows.set_index("period")["items"].reindex(days, fill_value=0)
        ratio = series[series.index >= RELEASE].mean() / max(series[series.index < RELEASE].mean(), 1e-9)
        assert ratio < 2, (theme, ratio)


def test_the_mobile_theme_comes_from_mobile_platforms_and_is_rated_low(demo, mobile_theme):
    theme_id, label = mobile_theme
    mix = themes.theme_mix(demo, theme_id, "platform")
    mobile_share = mix.loc[mix["value"].isin(sc.MOBILE), "share"].sum()
    assert mobile_share >= 0.8, mix
    listed = themes.list_themes(demo).set_index("label")
    assert listed.loc[label, "negative_share"] == listed["negative_share"].max()
