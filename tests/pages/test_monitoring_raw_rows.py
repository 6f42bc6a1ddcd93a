"""The Performance tab's raw-row section in AppTest: the current window filtered on two cohort fields at once
shows the counts of exactly those raw rows (DuckDB over the raw store), only when asked; analysts get the
download, viewers do not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from services.monitoring import raw_store
from services.monitoring import views as mon
from tests.pages.test_monitoring_page import demo_db, no_exception, open_as, table, to_tab  # noqa: F401

MV_KEY = "mon_raw_filter_{mv}_{field}"


@pytest.fixture
def raw_rows(demo_db, tmp_path, monkeypatch) -> pd.DataFrame:  # noqa: F811
    """Raw rows of the champion (churn v2) for its last 60 days, in a raw store of this test's own."""
    monkeypatch.setenv("LOOPDECK_RAW_STORE_DIR", str(tmp_path / "raw"))
    info = next(v for v in mon.list_versions(demo_db) if v.model_name == "churn" and v.version == 2)
    rng = np.random.default_rng(11)
    n = 6_000
    last = datetime.combine(info.last_day, datetime.min.time(), tzinfo=UTC)
    frame = pd.DataFrame({
        "request_id": [f"raw-{i}" for i in range(n)],
        "ts": [last - timedelta(days=int(d), hours=int(h))
               for d, h in zip(rng.integers(0, 60, n), rng.integers(0, 23, n), strict=True)],
        "score": rng.random(n).round(3),
        "platform": rng.choice(["android", "ios", "web"], n),
        "region": rng.choice(["EU", "NA", "APAC"], n),
    })  # fmt: skip
    frame["predicted_label"] = (frame["score"] > 0.5).astype(int)
    frame["label"] = np.where(rng.random(n) < 0.3, np.nan, (rng.random(n) < frame["score"]) * 1.0)
    raw_store.append(raw_store.root_for(demo_db), "churn", 2, frame)
    return frame


def _ask(at, field_values: dict[str, list[str]]):
    for field, values in field_values.items():
        at.multiselect(key=MV_KEY.format(mv=2, field=field)).set_value(values)
    at.run()
    at.button(key="mon_raw_run").click()
    return at.run()


def test_two_fields_at_once_count_exactly_their_rows_and_analysts_download(demo_db, raw_rows):  # noqa: F811
    at = to_tab(open_as(demo_db, "analyst@loopdeck.demo"), "Performance")
    no_exception(at)
    options = at.multiselect(key=MV_KEY.format(mv=2, field="platform")).options
    assert {"android", "ios", "web"} <= set(options)  # the values come from the summaries, not from rows
    assert "Rows" not in [m.label for m in at.metric]  # nothing read until asked
    at = _ask(at, {"platform": ["ios"], "region": ["EU", "NA"]})
    no_exception(at)
    (_, start, end, _), _ = at.session_state["mon_raw_result"]
    days = raw_rows["ts"].dt.date
    want = raw_rows[
        (days >= start) & (days <= end) & (raw_rows["platform"] == "ios") & raw_rows["region"].isin(["EU", "NA"])
    ]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Rows"] == f"{len(want):,}" and len(want) > 0
    assert metrics["With outcomes"] == f"{int(want['label'].notna().sum()):,}"
    known = want[want["label"].notna()]
    accuracy = (known["label"] == known["predicted_label"]).mean()
    assert metrics["Accuracy"] == f"{accuracy:.1%}"
    shown = table(at, "Metric")
    values = dict(zip(shown["Metric"], shown["Value"], strict=True))
    assert values["True positives"] == f"{int(((known['label'] == 1) & (known['predicted_label'] == 1)).sum()):,}"
    assert f"Download these {len(want):,} rows" in [b.label for b in at.get("download_button")]

    at.multiselect(key=MV_KEY.format(mv=2, field="region")).set_value(["APAC"])
    at.run()  # other values: the old answer is not shown for them
    assert "Rows" not in [m.label for m in at.metric]


def test_viewers_query_but_do_not_download(demo_db, raw_rows):  # noqa: F811
    at = _ask(to_tab(open_as(demo_db, "viewer@loopdeck.demo"), "Performance"), {"platform": ["web"]})
    no_exception(at)
    assert "Rows" in [m.label for m in at.metric]
    assert not [b for b in at.get("download_button") if b.label.startswith("Download these")]
