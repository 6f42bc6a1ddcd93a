"""Monitoring services: drift verdicts, shifts over time, cohorts, calibration and CBPE on the demo story;
overrides (saved, audited, role-checked) and caching on SQLite and Postgres; what sampling does to verdicts.

The demo (data/scenario.py) at scale 0.1 is loaded once per test process into a SQLite file
(`demo_database`, also used by the page and browser tests) and only read here.
"""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from services import ingest
from services.core import audit
from services.core.db import make_engine, write_session
from services.core.errors import InvalidInput, PermissionDenied
from services.core.roles import Actor, Role
from services.core.schema_models import ModelVersion
from services.monitoring import (
    block_build,
    drift_time,
    drift_window,
    estimated,
    frames,
    metrics,
    overrides,
    performance,
)
from services.monitoring import blocks as md
from services.monitoring import views as mon
from services.stats import drift as d
from tests import demo_cache
from tests.services import factories

ANALYST = Actor("analyst@test.io", Role.analyst)
VIEWER = Actor("viewer@test.io", Role.viewer)
W = mon.Window
RELEASE = date(2026, 9, 30)
SHIFTED = {"sessions_per_week", "app_latency_ms"}
_DEMO: dict[str, Path] = {}


def demo_database(folder: Path) -> Path:
    """The demo at scale 0.1 with its monitoring blocks built, in a SQLite file of this process (a copy of
    the run's, tests/demo_cache.py)."""
    path = _DEMO.get("path")
    if path is not None and path.exists():
        return path
    path = demo_cache.copy_demo(folder / "demo.db", 0.1, blocks=True)
    _DEMO["path"] = path
    return path


def demo_copy(tmp_path_factory, name: str = "copy") -> Path:
    """A private copy of the demo database (for tests that write to it)."""
    source = demo_database(tmp_path_factory.getbasetemp() / "monitoring-demo")
    target = tmp_path_factory.mktemp(name) / "loopdeck.db"
    shutil.copyfile(source, target)
    return target


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    engine = make_engine(f"sqlite:///{demo_database(tmp_path_factory.getbasetemp() / 'monitoring-demo')}")
    yield engine
    engine.dispose()


@pytest.fixture
def v2(demo) -> mon.VersionInfo:
    versions = mon.list_versions(demo)
    info = mon.default_version(versions)
    assert (info.model_name, info.version, info.status) == ("churn", 2, "champion")
    return info


# --- the demo story ---------------------------------------------------------------------------------


def test_shifted_features_drift_in_the_post_release_mobile_window_and_others_do_not(demo, v2):
    before, after = W(date(2026, 9, 15), date(2026, 9, 29)), W(RELEASE, date(2026, 10, 29))
    mobile = drift_window.drift_report(demo, v2.id, before, after, {"platform": ["ios", "android"]})
    assert {r.column for r in mobile.features if r.drifted} == SHIFTED
    assert mobile.n_features == 9 and mobile.share_drifted == pytest.approx(2 / 9) and not mobile.drifted
    for r in mobile.features:  # the default rule: distances above 1000 reference rows
        assert r.method == (d.Method.WASSERSTEIN if r.kind == "numeric" else d.Method.JENSEN_SHANNON)
        assert r.n_reference > 1000 and not r.overridden
    assert mobile.column(mon.PREDICTION_SCORE).drifted  # the model reacts to the shifted inputs
    web = drift_window.drift_report(demo, v2.id, before, after, {"platform": ["web"]})
    assert not any(r.drifted for r in web.features)  # the web app did not change


def test_the_release_day_is_where_the_shifted_features_start_drifting(demo, v2):
    reference = mon.default_windows(v2)[0]
    daily = drift_time.drift_over_time(demo, v2.id, reference, "day")
    assert len(daily.dataset) == (v2.last_day - v2.first_day).days + 1
    found = {c: drift_time.shift_of(daily, c) for c in daily.frame["column"].unique()}
    assert {c for c, s in found.items() if s and c in v2.feature_schema} == SHIFTED
    assert all(found[c].day == RELEASE for c in SHIFTED)
    assert found["sessions_per_week"].before < 0.1 <= found["sessions_per_week"].after
    weekly = drift_time.drift_over_time(demo, v2.id, reference, "week")
    assert drift_time.shift_of(weekly, "app_latency_ms").day == date(2026, 9, 28)  # the week of the release
    # The same tests as the report: a window's score over time equals the report's for that window.
    day = W(date(2026, 10, 10), date(2026, 10, 10))
    report = drift_window.drift_report(demo, v2.id, reference, day)
    row = daily.frame[(daily.frame["window_start"] == day.start) & (daily.frame["column"] == "plan")].iloc[0]
    assert row["score"] == pytest.approx(report.column("plan").score)


def test_mobile_cohorts_stand_out_after_the_release(demo, v2):
    reference = mon.default_windows(v2)[0]
    after = mon.preset_window(v2, "after_reference", reference)
    every = performance.cohort_report(demo, v2.id, after, reference=reference)
    flagged = {line.label: line for line in every.flagged}
    assert "platform = ios" in flagged and "platform = web" not in flagged
    assert flagged["platform = ios"].new_since_reference and flagged["platform = ios"].gap_change < -0.05
    ranks = [line.rank for line in every.lines if line.rank is not None]
    assert ranks == list(range(1, len(ranks) + 1)) and flagged["platform = ios"].rank <= 2  # among every field
    platform = performance.cohort_report(demo, v2.id, after, ("platform",), reference=reference)
    # Both mobile platforms rank below web (at scale 0.1 android's interval still touches zero).
    assert [line.row.cohort for line in platform.lines] == [("ios",), ("android",), ("web",)]
    assert platform.lines[1].row.gap < 0 < platform.lines[2].row.gap
    ios = next(line.row for line in platform.lines if line.row.cohort == ("ios",))
    assert ios.metrics["accuracy"].ci_low < ios.metrics["accuracy"].value < ios.metrics["accuracy"].ci_high
    assert np.isfinite(ios.metrics["roc_auc"].ci_low) and platform.n_resamples == performance.resamples_for(
        platform.n_labelled
    )
    two = performance.cohort_report(demo, v2.id, after, ("platform", "tier"), min_size=400)
    assert all(len(line.row.cohort) == 2 for line in two.lines)
    assert any(line.row.too_small and line.row.rank is None for line in two.lines)


def test_mobile_accuracy_drops_week_by_week(demo, v2):
    weekly = performance.performance_over_time(demo, v2.id, "week", "accuracy", "platform").frame
    ios = weekly[weekly["cohort"] == "ios"].set_index("window_start")["value"]
    web = weekly[weekly["cohort"] == "web"].set_index("window_start")["value"]
    assert ios[date(2026, 9, 21)] - ios[date(2026, 10, 5)] > 0.05
    assert abs(web[date(2026, 9, 21)] - web[date(2026, 10, 5)]) < 0.05
    assert (weekly["ci_low"] <= weekly["value"]).all() and (weekly["value"] <= weekly["ci_high"]).all()


def test_cbpe_tracks_the_realized_accuracy_and_fills_the_unlabelled_weeks(demo, v2):
    reference = mon.default_windows(v2)[0]
    report = estimated.cbpe_report(demo, v2.id, reference, "week")
    acc = report.metric("accuracy")
    known = acc[acc["n_labelled"] >= 1000]
    assert len(known) >= 3
    assert (abs(known["estimate"] - known["realized"]) < 0.02).all()
    last = acc.iloc[-1]
    assert last["n_labelled"] == 0 and np.isnan(last["realized"]) and 0.7 < last["estimate"] < 0.9
    assert report.n_reference_labelled > 100 and report.calibration in ("isotonic", "none")
    current = estimated.estimate_window(demo, v2.id, reference, mon.preset_window(v2, "last7"))
    assert current.accuracy.lower <= current.accuracy.value <= current.accuracy.upper
    # Each window says where its realized value lies against the band; the flagged ones are outside it.
    checks = {estimated.band_check(r, lo, hi) for r, lo, hi in zip(acc["realized"], acc["lower"], acc["upper"],
                                                                    strict=True)}  # fmt: skip
    assert checks <= {"inside", "below", "above", "unknown"} and list(acc["band_check"])[-1] == "unknown"
    missed = report.outside_band("accuracy")
    assert len(missed) >= 1  # the demo has weeks where the estimate missed (after the app release)
    assert ((missed["realized"] < missed["lower"]) | (missed["realized"] > missed["upper"])).all()
    inside = acc[acc["band_check"] == "inside"]
    assert ((inside["lower"] <= inside["realized"]) & (inside["realized"] <= inside["upper"])).all()


def test_calibration_per_cohort(demo, v2):
    window = mon.preset_window(v2, "after_reference", mon.default_windows(v2)[0])
    report = performance.calibration_report(demo, v2.id, window, "platform")
    assert report.overall.n == report.n_labelled == sum(report.cohort_sizes)
    assert set(report.cohorts.cohorts) == {("ios",), ("android",), ("web",)}
    assert all(0 <= dg.ece < 0.5 for dg in report.cohorts.diagrams)


def test_versions_windows_and_presets(demo, v2):
    versions = mon.list_versions(demo)
    assert [v.version for v in versions] == [2, 1]
    reference, current = mon.default_windows(v2)
    assert reference == W(v2.first_day, v2.first_day + timedelta(days=13))
    assert current == W(v2.last_day - timedelta(days=27), v2.last_day)
    assert mon.preset_window(v2, "last7").days == 7
    with pytest.raises(InvalidInput):
        mon.preset_window(v2, "after_reference", W(v2.first_day, v2.last_day))
    features, fields, values = frames.version_columns(demo, v2)
    assert features["plan"] == "categorical" and features["tenure_months"] == "numeric"
    assert fields == ["platform", "region", "tier"] and values["platform"] == ["android", "ios", "web"]


def _window_frame(engine, info: mon.VersionInfo, window: mon.Window, cohort_filter=None) -> pd.DataFrame:
    """The window's rows straight from the day blocks (no monitoring cache), cohort filter applied."""
    frame = md.read_frame(engine, [b for b in md.block_index(engine, info.id) if window.contains(b.day)])
    for field, values in (cohort_filter or {}).items():
        frame = frame[frame[md.COHORT_PREFIX + field].isin(values)]
    return frame


@pytest.mark.parametrize("mobile", [False, True])
def test_outcome_and_score_drift_use_the_default_tests_and_equal_scipy(demo, v2, mobile):
    """The outcome row (outcome.label) and the score row (prediction.score): the rule's test above 1,000
    reference rows, and the very distance scipy gives on the same rows (the demo windows are below
    SAMPLE_SIZE: nothing is sampled)."""
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import wasserstein_distance

    cohort = {"platform": ["ios", "android"]} if mobile else None
    before, after = W(date(2026, 9, 15), date(2026, 9, 29)), W(RELEASE, date(2026, 10, 29))
    report = drift_window.drift_report(demo, v2.id, before, after, cohort)
    ref, cur = _window_frame(demo, v2, before, cohort), _window_frame(demo, v2, after, cohort)

    outcome = report.column(mon.OUTCOME_LABEL)
    ref_y, cur_y = ref["label"].dropna().astype(int), cur["label"].dropna().astype(int)
    assert outcome.role == "outcome" and outcome.kind == "categorical" and not outcome.overridden
    assert (outcome.n_reference, outcome.n_current) == (len(ref_y), len(cur_y))
    assert outcome.n_reference > 1000 and outcome.n_current > 1000
    assert outcome.method == d.Method.JENSEN_SHANNON and outcome.threshold == 0.1
    assert outcome.reason.startswith(f"reference {len(ref_y):,} rows > 1,000; categorical")
    p = np.array([(ref_y == k).mean() for k in (0, 1)])
    q = np.array([(cur_y == k).mean() for k in (0, 1)])
    expected = float(jensenshannon(p, q))  # natural log, as Evidently
    assert 0 < expected < 1 and outcome.score == pytest.approx(expected, rel=1e-9)
    assert outcome.distance == outcome.score and outcome.p_value is None
    assert outcome.drifted == (expected >= 0.1)

    score = report.column(mon.PREDICTION_SCORE)
    ref_s, cur_s = ref["score"].to_numpy(), cur["score"].to_numpy()
    assert score.role == "prediction" and score.kind == "numeric"
    assert (score.n_reference, score.n_current) == (score.tested_reference, score.tested_current) == (
        ref_s.size, cur_s.size)  # fmt: skip
    assert score.method == d.Method.WASSERSTEIN and score.threshold == 0.1
    expected = wasserstein_distance(ref_s, cur_s) / np.std(ref_s)
    assert score.score == pytest.approx(expected, rel=1e-9) and score.drifted == (expected >= 0.1)
    # The model's scores react to the release's shifted inputs; the share of churners barely moves.
    assert score.drifted and score.score > 0.3
    assert not outcome.drifted and 0.01 < outcome.score < 0.1


def test_alert_metrics_on_the_demo(demo, v2):
    reference = mon.default_windows(v2)[0]
    last7 = mon.preset_window(v2, "last7")
    drift = metrics.metric_value(demo, v2.id, "drift:sessions_per_week", last7, reference)
    assert drift.value >= 0.1 and drift.detail["method"] == d.Method.WASSERSTEIN
    share = metrics.metric_value(demo, v2.id, mon.DRIFT_SHARE, last7, reference)
    assert share.value == pytest.approx(2 / 9)
    window = W(date(2026, 10, 5), date(2026, 10, 18))
    mobile = metrics.metric_value(demo, v2.id, "accuracy", window, cohort_filter={"platform": ["ios", "android"]})
    web = metrics.metric_value(demo, v2.id, "accuracy", window, cohort_filter={"platform": "web"})
    assert mobile.value < web.value - 0.05 and mobile.n > 300
    est = metrics.metric_value(demo, v2.id, "estimated_accuracy", last7, reference)
    assert 0.7 < est.value < 0.9
    with pytest.raises(InvalidInput):
        metrics.metric_value(demo, v2.id, "nonsense", last7)


# --- synthetic data on SQLite and Postgres ------------------------------------------------------------

START = datetime(2026, 3, 2, tzinfo=UTC)


def synthetic(engine, days: int = 10, per_day: int = 300, shift_day: int = 6, seed: int = 5,
              labelled_days: int | None = None) -> int:  # fmt: skip
    """One model version: x shifts by +1 sd for ios from `shift_day`; ios predictions go wrong then too.
    Scores are calibrated (labels ~ Bernoulli(score)) everywhere else. Outcomes for the first
    `labelled_days` days (all by default)."""
    rng = np.random.default_rng(seed)
    mv = factories.model_version(engine, "churn", 1)
    with write_session(engine) as session:
        session.get(ModelVersion, mv).feature_schema = {"x": "numeric", "z": "numeric", "plan": "categorical"}
    n = days * per_day
    day = np.repeat(np.arange(days), per_day)
    platform = rng.choice(["web", "ios", "android"], n)
    late_ios = (platform == "ios") & (day >= shift_day)
    score = rng.beta(2, 5, n).round(6)
    y = (rng.random(n) < score).astype(int)
    y = np.where(late_ios & (rng.random(n) < 0.35), 1 - y, y)
    frame = pd.DataFrame(
        {
            "request_id": [f"s-{i}" for i in range(n)],
            "model_name": "churn",
            "model_version": 1,
            "ts": [
                (START + timedelta(days=int(dd), seconds=int(s))).isoformat()
                for dd, s in zip(day, rng.integers(0, 86_399, n), strict=True)
            ],  # fmt: skip
            "score": score,
            "predicted_label": (score >= 0.5).astype(int),
            "feature_x": (rng.normal(size=n) + np.where(late_ios, 1.0, 0.0)).round(4),
            "feature_z": rng.normal(size=n).round(4),
            "feature_plan": rng.choice(["trial", "monthly", "annual"], n),
            "cohort_platform": platform,
        }
    )
    ingest.import_frame(engine, ANALYST, "predictions", frame, "synthetic")
    keep = day < (labelled_days if labelled_days is not None else days)
    outcomes = pd.DataFrame({"request_id": frame["request_id"][keep], "ts": (START + timedelta(days=40)).isoformat(),
                             "actual_label": y[keep]})  # fmt: skip
    ingest.import_frame(engine, ANALYST, "outcomes", outcomes, "synthetic")
    block_build.refresh(engine)
    return mv


@pytest.fixture(autouse=True)
def _fresh_caches():
    frames.clear_caches()
    yield
    frames.clear_caches()


def test_drift_report_and_cohorts_on_synthetic_data(engine):
    mv = synthetic(engine)
    before, after = W(date(2026, 3, 2), date(2026, 3, 7)), W(date(2026, 3, 8), date(2026, 3, 11))
    ios = drift_window.drift_report(engine, mv, before, after, {"platform": "ios"})
    assert [r.column for r in ios.features if r.drifted] == ["x"]
    # About 600 reference rows for ios: the small-sample branch of the default rule (p-values).
    assert ios.column("x").method == d.Method.KS and ios.column("plan").method == d.Method.CHI_SQUARE
    assert ios.column("x").n_current > 300 and ios.column("x").p_value < 0.05
    everyone = drift_window.drift_report(engine, mv, before, after)
    assert everyone.n_reference == 1800 and everyone.n_current == 1200
    assert everyone.column("x").method == d.Method.WASSERSTEIN
    dist = everyone.column("plan").distribution
    assert dist.kind == "categories" and set(dist.labels) == {"annual", "monthly", "trial"}
    assert sum(dist.reference) == pytest.approx(1.0) and sum(dist.current) == pytest.approx(1.0)
    hist = everyone.column("x").distribution
    assert hist.kind == "bins" and len(hist.edges) == mon.DISTRIBUTION_BINS + 1
    cohorts = performance.cohort_report(engine, mv, after, ("platform",), reference=before)
    assert cohorts.lines[0].row.cohort == ("ios",) and cohorts.lines[0].row.flagged
    assert cohorts.lines[0].new_since_reference
    assert cohorts.n_labelled == 1200


def test_overrides_are_saved_audited_and_used(engine):
    mv = synthetic(engine, days=4, per_day=200)
    window = W(date(2026, 3, 2), date(2026, 3, 3)), W(date(2026, 3, 4), date(2026, 3, 5))
    assert drift_window.drift_report(engine, mv, *window).column("x").method == d.Method.KS  # 400 reference rows
    with pytest.raises(PermissionDenied):
        overrides.set_override(engine, VIEWER, "churn", "x", d.Method.WASSERSTEIN, 0.2)
    with pytest.raises(InvalidInput):
        overrides.set_override(engine, ANALYST, "churn", "plan", d.Method.KS)  # KS does not apply to categories
    with pytest.raises(InvalidInput):
        overrides.set_override(engine, ANALYST, "churn", "x", d.Method.ANDERSON, 1.5)  # not a p-value threshold
    overrides.set_override(engine, ANALYST, "churn", "x", d.Method.WASSERSTEIN, 0.2)
    overrides.set_override(engine, ANALYST, "churn", mon.PREDICTION_SCORE, None, 0.01)
    report = drift_window.drift_report(engine, mv, *window)
    row = report.column("x")
    assert (row.method, row.threshold, row.overridden, row.reason) == (d.Method.WASSERSTEIN, 0.2, True,
                                                                         "set by the user")  # fmt: skip
    score = report.column(mon.PREDICTION_SCORE)
    assert score.method == d.Method.KS and score.threshold == 0.01 and score.overridden
    assert set(overrides.overrides(engine, "churn")) == {"x", mon.PREDICTION_SCORE}
    events = audit.list_events(engine, audit.AuditFilter(action="monitoring.override.set"))
    assert len(events) == 2 and set(events["actor"]) == {ANALYST.label}
    # Changing it again keeps one row per column and records what it was.
    overrides.set_override(engine, ANALYST, "churn", "x", d.Method.PSI, 0.25)
    assert len(overrides.list_overrides(engine, "churn")) == 2
    assert '"previous":{"method":"wasserstein","threshold":0.2}' in audit.list_events(
        engine, audit.AuditFilter(action="monitoring.override.set"))["payload"].iloc[0]  # fmt: skip
    assert overrides.clear_override(engine, ANALYST, "churn", "x") is True
    assert overrides.clear_override(engine, ANALYST, "churn", "x") is False
    assert drift_window.drift_report(engine, mv, *window).column("x").method == d.Method.KS
    assert len(audit.list_events(engine, audit.AuditFilter(action="monitoring.override.clear"))) == 1


def test_results_are_cached_until_the_data_changes(engine):
    mv = synthetic(engine, days=4, per_day=200)
    a, b = W(date(2026, 3, 2), date(2026, 3, 3)), W(date(2026, 3, 4), date(2026, 3, 5))
    first = drift_window.drift_report(engine, mv, a, b)
    assert drift_window.drift_report(engine, mv, a, b) is first  # revisiting costs nothing
    more = pd.DataFrame({"request_id": ["extra-1"], "model_name": "churn", "model_version": 1,
                         "ts": "2026-03-05T12:00:00+00:00", "score": 0.9, "predicted_label": 1,
                         "feature_x": 50.0})  # fmt: skip
    ingest.import_frame(engine, ANALYST, "predictions", more, "one more")
    block_build.refresh(engine)
    second = drift_window.drift_report(engine, mv, a, b)
    assert second is not first and second.n_current == first.n_current + 1
    assert drift_window.drift_report(engine, mv, a, W(date(2026, 3, 4), date(2026, 3, 4))).n_current == 200


def test_cbpe_estimates_a_calibrated_model_within_two_points(engine):
    mv = synthetic(engine, days=6, per_day=2000, shift_day=99, labelled_days=6)
    report = estimated.cbpe_report(engine, mv, W(date(2026, 3, 2), date(2026, 3, 3)), "day")
    acc = report.metric("accuracy")
    assert len(acc) == 6 and (acc["n_labelled"] == 2000).all()
    assert (abs(acc["estimate"] - acc["realized"]) < 0.02).all()
    auc = report.metric("roc_auc")
    assert (abs(auc["estimate"] - auc["realized"]) < 0.03).all()


def _sampling_story(engine, days: int = 10, per_day: int = 600, shift_day: int = 6, seed: int = 9) -> int:
    """One version whose windows exceed a small sample size: `shifted` moves by 1 sd for everyone from
    `shift_day`; `visits` (5 values) and `plan` stay put; `steady` too; `sparse` is present in 40% of
    rows; `rare_six` has 5 common values and a sixth one in 2 rows of the first day only."""
    rng = np.random.default_rng(seed)
    mv = factories.model_version(engine, "churn", 1)
    names = ("shifted", "steady", "visits", "sparse", "rare_six")
    with write_session(engine) as session:
        session.get(ModelVersion, mv).feature_schema = {**dict.fromkeys(names, "numeric"), "plan": "categorical"}
    n = days * per_day
    day = np.repeat(np.arange(days), per_day)
    rare = rng.choice([1.0, 2.0, 3.0, 4.0, 5.0], n)
    rare[[3, 17]] = 60.0
    sparse = rng.normal(10, 2, n).round(4)
    score = rng.beta(2, 5, n).round(6)
    frame = pd.DataFrame(
        {
            "request_id": [f"t-{i}" for i in range(n)],
            "model_name": "churn",
            "model_version": 1,
            "ts": [
                (START + timedelta(days=int(dd), seconds=int(s))).isoformat()
                for dd, s in zip(day, rng.integers(0, 86_399, n), strict=True)
            ],  # fmt: skip
            "score": score,
            "predicted_label": (score >= 0.5).astype(int),
            "feature_shifted": (rng.normal(size=n) + np.where(day >= shift_day, 1.0, 0.0)).round(4),
            "feature_steady": rng.normal(size=n).round(4),
            "feature_visits": rng.integers(0, 5, n),
            "feature_sparse": np.where(rng.random(n) < 0.4, sparse, np.nan),
            "feature_rare_six": rare,
            "feature_plan": rng.choice(["trial", "monthly", "annual"], n),
            "cohort_platform": rng.choice(["web", "ios"], n),
        }
    )
    ingest.import_frame(engine, ANALYST, "predictions", frame, "sampling story")
    outcomes = pd.DataFrame({"request_id": frame["request_id"], "ts": (START + timedelta(days=40)).isoformat(),
                             "actual_label": (rng.random(n) < score).astype(int)})  # fmt: skip
    ingest.import_frame(engine, ANALYST, "outcomes", outcomes, "sampling story")
    block_build.refresh(engine)
    return mv


def test_a_sampled_window_gets_the_whole_windows_test_and_verdicts(engine, monkeypatch):
    """The sampling path, with SAMPLE_SIZE made small (500) so that the 3,600-row reference and the
    2,400-row current window are sampled: each numeric test reads 500 values of each window, the table
    shows the whole windows' counts beside them, the test is the one the unsampled report chose (a
    500-value sample alone would get KS, 5 values a chi-square or Jensen-Shannon), the verdicts agree
    where they cannot be noise, and a second computation reads the same sample."""
    from pages.monitoring.frames import drift_frame

    mv = _sampling_story(engine)
    before, after = W(date(2026, 3, 2), date(2026, 3, 7)), W(date(2026, 3, 8), date(2026, 3, 11))
    full = drift_window.drift_report(engine, mv, before, after)  # 3,600 and 2,400 rows: below SAMPLE_SIZE
    monkeypatch.setattr(md, "SAMPLE_SIZE", 500)
    frames.clear_caches()
    sampled = drift_window.drift_report(engine, mv, before, after)
    assert (sampled.n_reference, sampled.n_current) == (full.n_reference, full.n_current) == (3600, 2400)
    numeric = [r.column for r in full.rows if r.kind == "numeric"]
    assert numeric == ["rare_six", "shifted", "sparse", "steady", "visits", mon.PREDICTION_SCORE]
    for name in numeric:
        s, f = sampled.column(name), full.column(name)
        assert (f.tested_reference, f.tested_current) == (f.n_reference, f.n_current)  # unsampled
        assert (s.tested_reference, s.tested_current) == (500, 500)
        assert (s.n_reference, s.n_current) == (f.n_reference, f.n_current)
        assert s.n_reference > 1000 and s.n_current > 500
        assert s.method == f.method and s.threshold == f.threshold and not s.overridden
        assert s.reason.startswith(f"reference {f.n_reference:,} rows > 1,000;")
        if abs(f.score - 0.1) > md.wasserstein_sampling_error(500) and f.method == d.Method.WASSERSTEIN:
            assert s.drifted == f.drifted  # the documented bound: only distances this close can flip
    # A sparse column keeps its share of the sample: 500 of its own values, not 40% of 500 rows.
    sparse = sampled.column("sparse")
    assert 1300 < sparse.n_reference < 1600 and sparse.method == d.Method.WASSERSTEIN
    # The rule's distinct values are the whole windows': the sample missed the sixth value of rare_six.
    ref_prepared = drift_window.prepared_window(engine, mon.get_version(engine, mv), before, None)[0]
    assert ref_prepared.numeric["rare_six"].n_unique == 5 and ref_prepared.sampled
    assert (sampled.column("rare_six").n_unique, full.column("rare_six").n_unique) == (6, 6)
    assert sampled.column("rare_six").method == d.Method.WASSERSTEIN
    assert sampled.column("visits").method == d.Method.JENSEN_SHANNON
    assert sampled.column("visits").n_unique == 5
    # Verdicts on the clearly drifted and the clearly stable columns.
    assert sampled.column("shifted").drifted and full.column("shifted").drifted
    assert sampled.column("shifted").score > 0.5
    assert not sampled.column("visits").drifted and sampled.column("visits").score < 0.06
    assert not full.column("visits").drifted
    assert [r.column for r in sampled.features if r.drifted] == [r.column for r in full.features if r.drifted]
    # Counts are never sampled: categorical rows are the unsampled report's, to the last digit.
    for name in ("plan", mon.PREDICTION_LABEL, mon.OUTCOME_LABEL):
        assert sampled.column(name) == full.column(name)
    # The table shows the whole window's n beside what the test read.
    table = drift_frame(sampled).set_index("column")
    assert table.loc["shifted", "reference n"] == 3600 and table.loc["shifted", "current n"] == 2400
    assert table.loc["shifted", "tested"] == "500 / 500 (sample)"
    assert table.loc["plan", "tested"] == "3,600 / 2,400"
    # Deterministic: computed again from nothing, the same sample and the same numbers.
    frames.clear_caches()
    md.clear_caches()
    again = drift_window.drift_report(engine, mv, before, after)
    assert again is not sampled and again.rows == sampled.rows
    # Drift over time samples each window and the reference (here at 500): the same tests as the report.
    monkeypatch.setattr(drift_time, "OVER_TIME_SAMPLE", 500)
    over = drift_time.drift_over_time(engine, mv, before, "day").frame
    for name in numeric:
        assert set(over.loc[over["column"] == name, "method"]) == {full.column(name).method}, name
    late = over[(over["column"] == "shifted") & (over["window_start"] >= after.start)]
    assert len(late) == 4 and late["drifted"].all()


def test_a_window_without_rows_is_no_evidence(engine):
    mv = synthetic(engine, days=3, per_day=100)
    info = mon.get_version(engine, mv)
    assert info.has_data and info.n_rows == 300
    empty = drift_window.drift_report(
        engine, mv, W(date(2026, 3, 2), date(2026, 3, 2)), W(date(2026, 1, 1), date(2026, 1, 2))
    )
    assert empty.n_current == 0 and not any(r.drifted for r in empty.rows)
    cohorts = performance.cohort_report(engine, mv, W(date(2026, 1, 1), date(2026, 1, 2)))
    assert cohorts.n_labelled == 0 and cohorts.lines == ()
    with pytest.raises(InvalidInput):
        performance.cohort_report(engine, mv, W(date(2026, 3, 2), date(2026, 3, 4)), ("platform", "x", "y"))


# --- pure parts ---------------------------------------------------------------------------------------


def test_windows():
    assert W(date(2026, 3, 2), date(2026, 3, 2)).label == "2026-03-02"
    with pytest.raises(InvalidInput):
        W(date(2026, 3, 3), date(2026, 3, 2))
    weeks = mon.rolling_windows(date(2026, 3, 4), date(2026, 3, 20), "week")  # Wednesday to Friday
    assert [(w.start.isoformat(), w.end.isoformat()) for w in weeks] == [
        ("2026-03-04", "2026-03-08"), ("2026-03-09", "2026-03-15"), ("2026-03-16", "2026-03-20")]  # fmt: skip
    assert len(mon.rolling_windows(date(2026, 3, 4), date(2026, 3, 20), "day")) == 17
    with pytest.raises(InvalidInput):
        mon.rolling_windows(date(2026, 3, 4), date(2026, 3, 20), "hour")
    assert (
        performance.resamples_for(1_000) == 200
        and performance.resamples_for(100_000) == 50
        and performance.resamples_for(10**7) == 30
    )


def _normed_wasserstein_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Normed Wasserstein distance between the rows of a and b (equal sizes: the mean absolute
    difference of the sorted values), divided by the std of a's rows as drift.wasserstein_normed does."""
    a, b = np.sort(a, axis=1), np.sort(b, axis=1)
    return np.abs(a - b).mean(axis=1) / np.maximum(a.std(axis=1), 0.001)


def test_what_sampling_does_to_the_distance_verdicts():
    """The documented sampling error: two n-value samples of one distribution stay within 4 / sqrt(n) of
    each other (normed Wasserstein) in 99% of draws, about 1.8 / sqrt(n) on average: 0.018 at n = 50,000.
    The 99% claim is checked on 4,000 draws at n = 2,000 (the bound scales as 1 / sqrt(n): the average
    agrees at n = 50,000); a sampled window's distance stays that close to the full window's, so only
    distances that close to 0.1 can change their verdict."""
    rng = np.random.default_rng(7)
    n = md.SAMPLE_SIZE
    bound = md.wasserstein_sampling_error(n)
    assert bound == pytest.approx(0.0179, abs=1e-4)
    draws = (lambda s: rng.normal(size=s), lambda s: rng.lognormal(0, 0.6, s),
             lambda s: rng.poisson(3, s).astype(float), lambda s: rng.gamma(1.4, 15, s))  # fmt: skip
    a, b = draws[1]((1, 3000)), draws[1]((1, 3000))
    assert _normed_wasserstein_rows(a, b)[0] == pytest.approx(d.wasserstein_normed(a[0], b[0]).distance, rel=1e-12)
    small = 2_000
    many = np.concatenate([_normed_wasserstein_rows(draw((1000, small)), draw((1000, small))) for draw in draws])
    assert many.size == 4000
    assert np.quantile(many, 0.99) < md.wasserstein_sampling_error(small)  # the 99% bound holds
    assert np.quantile(many, 0.99) > 3.4 / np.sqrt(small)  # and is not loose
    assert np.mean(many) * np.sqrt(small) == pytest.approx(1.8, abs=0.1)
    same = np.array([d.wasserstein_normed(draw(n), draw(n)).distance for draw in draws for _ in range(10)])
    assert np.mean(same) * np.sqrt(n) == pytest.approx(1.8, abs=0.2)  # the same 1 / sqrt(n) law at 50,000
    assert np.quantile(same, 0.9) < bound
    reference = rng.lognormal(0, 0.5, 400_000)
    for shift in (0.0, 0.05, 0.09, 0.12, 0.3):
        current = rng.lognormal(shift, 0.5, 400_000)
        full = d.wasserstein_normed(reference, current).distance
        idx_r = md.uniform_sample(reference.size, n, 1)
        idx_c = md.uniform_sample(current.size, n, 2)
        sampled = d.wasserstein_normed(reference[idx_r], current[idx_c]).distance
        assert abs(sampled - full) < bound
        if abs(full - 0.1) > bound:
            assert (sampled >= 0.1) == (full >= 0.1)
