"""The judge: MLflow-style gates, the paired tests against statsmodels, and the demo story on SQLite and
Postgres: a candidate retrained from the champion on data that includes the mobile release (and the
corrected mobile feedback) fixes the mobile cohort without hurting the others.

The demo is loaded once per backend (scale 0.1) into its own database."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

from data import scenario as sc
from services.backlog import evidence as backlog_evidence
from services.core.db import make_engine
from services.core.errors import InvalidInput
from services.core.roles import Actor, Role
from services.core.schema_feedback import Feedback
from services.feedback import edits, training_sets
from services.governance import approvals
from services.models import judge, registry, retraining
from tests import demo_cache
from tests.conftest import drop_database

POSTGRES_URL = os.environ.get("LOOPDECK_TEST_POSTGRES_URL")
ANA = Actor("analyst@loopdeck.demo", Role.analyst)


# --- gates (pure) --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rule, candidate, champion, passed",
    [
        # MLflow's meaning for positive values: the candidate must improve by at least that much.
        (judge.MetricThreshold(min_absolute_change=0.01), 0.815, 0.80, True),
        (judge.MetricThreshold(min_absolute_change=0.01), 0.805, 0.80, False),
        (judge.MetricThreshold(min_relative_change=0.05), 0.84, 0.80, True),
        (judge.MetricThreshold(min_relative_change=0.05, greater_is_better=False), 0.40, 0.42, False),
        (judge.MetricThreshold(min_relative_change=0.04, greater_is_better=False), 0.40, 0.42, True),
        (judge.MetricThreshold(threshold=0.8), 0.79, 0.5, False),
        (judge.MetricThreshold(threshold=0.3, greater_is_better=False), 0.29, 0.5, True),
        # Negative values: a tolerance ("at most this much worse"): the no-regression rule.
        (judge.MetricThreshold(min_absolute_change=-0.01), 0.791, 0.80, True),
        (judge.MetricThreshold(min_absolute_change=-0.01), 0.789, 0.80, False),
        (judge.MetricThreshold(min_absolute_change=-0.01, greater_is_better=False), 0.409, 0.40, True),
        (judge.MetricThreshold(min_relative_change=-0.05, greater_is_better=False), 0.43, 0.40, False),
    ],
)
def test_metric_thresholds_read_like_mlflow(rule, candidate, champion, passed):
    results = [check(candidate, champion) for _, check in rule.rules("m")]
    assert len(results) == 1 and results[0] is passed


def test_rule_texts_and_round_trip():
    assert judge.DEFAULT_THRESHOLDS["accuracy"].rules("accuracy")[0][0] == "accuracy >= champion - 0.01"
    assert judge.DEFAULT_THRESHOLDS["log_loss"].rules("log_loss")[0][0] == "log_loss <= champion x 1.05"
    setting = judge.default_thresholds_setting()
    parsed = judge.parse_thresholds(json.loads(json.dumps(setting)))
    assert parsed["overall"] == judge.DEFAULT_THRESHOLDS and parsed["cohort"] == judge.DEFAULT_COHORT_THRESHOLDS
    with pytest.raises(InvalidInput, match="Unknown metric"):
        judge.parse_thresholds({"overall": {"f1": {}}})
    with pytest.raises(InvalidInput, match="number"):
        judge.parse_thresholds({"overall": {"accuracy": {"min_absolute_change": "a bit"}}})


def _side(version: int) -> judge.Side:
    return judge.Side(version, "churn", version, "candidate", "0" * 64)


def test_an_admin_sets_the_default_gates(engine):
    from services.core import audit, settings
    from services.core.errors import PermissionDenied

    admin = Actor("root@test.io", Role.admin)
    assert judge.config_from_settings(engine).thresholds == judge.DEFAULT_THRESHOLDS
    value = {"overall": {"roc_auc": {"min_absolute_change": 0.005}},
             "cohort": {"accuracy": {"min_absolute_change": -0.05}}}  # fmt: skip
    with pytest.raises(PermissionDenied):
        settings.set_value(engine, ANA, judge.SETTING_KEY, value)
    with pytest.raises(InvalidInput, match="Unknown metric"):
        settings.set_value(engine, admin, judge.SETTING_KEY, {"overall": {"f1": {}}})
    with pytest.raises(InvalidInput, match="at least one overall gate"):
        settings.set_value(engine, admin, judge.SETTING_KEY, {"overall": {}, "cohort": {}})
    settings.set_value(engine, admin, judge.SETTING_KEY, value)
    config = judge.config_from_settings(engine, n_resamples=50)
    assert config.thresholds == {"roc_auc": judge.MetricThreshold(min_absolute_change=0.005)}
    assert config.cohort_thresholds == {"accuracy": judge.MetricThreshold(min_absolute_change=-0.05)}
    assert config.n_resamples == 50
    assert judge.thresholds_setting_value(config) == settings.get(engine, judge.SETTING_KEY)
    assert audit.count_events(engine, audit.AuditFilter(action="setting.change")) == 1


def test_a_worse_candidate_fails_its_gates_and_small_cohorts_are_not_gated():
    rng = np.random.default_rng(0)
    n = 3000
    y = (rng.random(n) < 0.3).astype(int)
    signal = rng.normal(size=n) + 1.5 * y
    champion = 1 / (1 + np.exp(-(signal - 0.8)))
    candidate = 1 / (1 + np.exp(-(signal + rng.normal(scale=2.0, size=n) - 0.8)))  # much noisier
    cohorts = pd.DataFrame({"platform": np.where(np.arange(n) < 60, "tv", rng.choice(["web", "ios"], n))})
    holdout = judge.Holdout(pd.Timestamp("2026-10-10", tz="UTC"), None, n, int(y.sum()), None, None)
    panel = judge.evaluate_panel(y, candidate, champion, cohorts, judge.JudgeConfig(n_resamples=200), _side(3),
                                 _side(2), holdout)  # fmt: skip
    assert panel.verdict == "fail" and "fails" in panel.headline()
    failed = {(g.scope, g.metric) for g in panel.failed}
    assert {("overall", "roc_auc"), ("overall", "log_loss"), ("platform=web", "roc_auc")} <= failed
    tv = [g for g in panel.gates if g.scope == "platform=tv"]
    assert tv and all(g.passed is None and "fewer than 100 rows" in g.note for g in tv)
    same = judge.evaluate_panel(y, champion, champion, cohorts, judge.JudgeConfig(n_resamples=50), _side(3),
                                _side(2), holdout)  # fmt: skip
    assert same.verdict == "pass"
    evidence = same.to_evidence()
    assert json.loads(json.dumps(evidence)) == evidence and evidence["verdict"] == "pass"


def test_a_failed_cohort_gate_is_backlog_evidence_reaching_its_cohort(engine):
    """JudgePanel.gate_evidence: a "judge_gate" link whose reach is the predictions per week in the gate's
    cohort (the Models page files it with app/backlog_form.create_from_evidence)."""
    from services.backlog import items as backlog
    from tests.services import factories

    rng = np.random.default_rng(0)
    n = 3000
    y = (rng.random(n) < 0.3).astype(int)
    signal = rng.normal(size=n) + 1.5 * y
    champion = 1 / (1 + np.exp(-(signal - 0.8)))
    candidate = 1 / (1 + np.exp(-(signal + rng.normal(scale=2.0, size=n) - 0.8)))
    cohorts = pd.DataFrame({"platform": rng.choice(["web", "ios"], n)})
    holdout = judge.Holdout(pd.Timestamp("2026-10-10", tz="UTC"), None, n, int(y.sum()), None, None)
    panel = judge.evaluate_panel(y, candidate, champion, cohorts, judge.JudgeConfig(n_resamples=200), _side(3),
                                 _side(2), holdout)  # fmt: skip
    gate = next(g for g in panel.failed if g.scope == "platform=ios" and g.metric == "roc_auc")
    ref = panel.gate_evidence(gate)
    assert (ref.ref_type, ref.ref_id) == ("judge_gate", "churn:v3-vs-v2:platform=ios:roc_auc")
    assert ref.label.startswith("churn v3 fails the roc_auc gate on platform=ios against v2: ")
    assert ref.detail["cohort"] == {"platform": "ios"} and ref.detail["passed"] is False
    assert ref.detail["rule"] == gate.rule and ref.detail["holdout"]["rows"] == n
    assert json.loads(json.dumps(ref.detail)) == ref.detail  # plain JSON, stored as it is
    mv = factories.model_version(engine)
    factories.predictions(engine, mv, 56)  # one an hour, platform alternating ios / web
    item = backlog.create_item(engine, ANA, kind="model_improvement", title="Fix iOS AUC", links=[ref])
    assert item.reach == pytest.approx(28.0 * 7 / backlog_evidence.REACH_DAYS)  # the 28 ios predictions, per week
    assert item.reach_basis == f"predictions per week for platform = ios (last {backlog_evidence.REACH_DAYS} days)"
    [stored] = backlog.get_item(engine, item.id).evidence
    assert (stored.ref_type, stored.ref_id, stored.detail) == ("judge_gate", ref.ref_id, ref.detail)


# --- the demo story ------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def story(request, tmp_path_factory):
    """The demo, the corrected mobile feedback labelled into a training set, and a candidate retrained
    from the champion with the default window and that set."""
    folder = tmp_path_factory.mktemp(f"judge-{request.param}")
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{demo_cache.copy_demo(folder / 'demo.db', 0.1, blocks=False)}")
    else:
        if not POSTGRES_URL:
            pytest.skip("LOOPDECK_TEST_POSTGRES_URL is not set: Postgres runs are skipped")
        engine = make_engine(demo_cache.postgres_demo("judge", 0.1))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(registry.ARTIFACT_DIR_ENV, str(folder / "artifacts"))
        with engine.connect() as conn:
            versions = dict(conn.execute(sa.select(Feedback.id, Feedback.version).where(
                Feedback.corrected_label.is_not(None), Feedback.request_id.is_not(None))).all())  # fmt: skip
        edits.update_items(engine, ANA, versions, edits.Patch(status="labelled"))
        dataset = training_sets.create_dataset(engine, ANA, "mobile-corrections", "corrected labels from triage")
        champion = registry.aliases(engine, sc.MODEL_NAME).champion
        window = retraining.suggest_window(engine, sc.MODEL_NAME)
        result = retraining.retrain(engine, ANA, champion.id, window.train_from, window.train_to, dataset.id, seed=0)
        panel = judge.judge(engine, result.version.id, config=judge.JudgeConfig(n_resamples=400))
        yield engine, champion, result, panel, dataset
    engine.dispose()
    if request.param == "postgres":
        drop_database(engine.url.render_as_string(hide_password=False))


@pytest.fixture(scope="module")
def scored(story) -> pd.DataFrame:
    """The holdout rows scored again by both versions, outside the judge: to check its numbers."""
    engine, champion, result, panel, _ = story
    rows = retraining.labelled_rows(engine, sc.MODEL_NAME, panel.holdout.start, None, start_inclusive=False)
    rows = rows.sort_values("request_id", ignore_index=True)
    features = retraining.feature_frame(rows["features"], dict(champion.feature_schema))
    for key, version_id in (("candidate", result.version.id), ("champion", champion.id)):
        score = registry.load_model(engine, version_id).predict_proba(features)[:, 1]
        rows[f"{key}_right"] = (score >= 0.5) == rows["label"]
    rows["platform"] = [c["platform"] for c in rows["cohorts"]]
    return rows


def _mcnemar(rows: pd.DataFrame):
    a, b = rows["candidate_right"].to_numpy(), rows["champion_right"].to_numpy()
    table = [[np.sum(a & b), np.sum(a & ~b)], [np.sum(~a & b), np.sum(~a & ~b)]]
    return sm_mcnemar(table, exact=table[0][1] + table[1][0] < 25), a.mean() - b.mean()


def test_the_candidate_fixes_the_mobile_cohort_without_hurting_the_others(story, scored):
    engine, champion, result, panel, dataset = story
    assert champion.version == 2 and panel.champion.id == champion.id and panel.candidate.id == result.version.id
    t = result.training
    assert t.dataset["id"] == dataset.id and t.feedback_overrides + t.feedback_added + t.feedback_confirmed > 0
    assert panel.verdict == "pass", panel.gates_frame().to_string()
    assert all(gate.passed is not False for gate in panel.gates)
    # The holdout starts where the candidate's window ends (after the champion's): unseen by both.
    assert panel.holdout.start.isoformat() == result.version.training_data["window_end"]
    assert panel.holdout.rows == len(scored) >= 800
    # Mobile (ios + android) is fixed: better on each platform, significantly so together.
    mobile = scored[scored["platform"].isin(sc.MOBILE)]
    test, difference = _mcnemar(mobile)
    assert difference >= 0.04 and test.pvalue < 0.01, (difference, test.pvalue)
    for platform in sc.MOBILE:
        assert panel.comparison.group("platform", platform)["accuracy"].difference > 0.02, platform
    # ... without hurting web or any other cohort beyond the tolerance.
    web = panel.comparison.group("platform", "web")
    assert abs(web["accuracy"].difference) <= 0.02 and web["accuracy"].p_value > 0.05
    assert web["roc_auc"].difference >= -0.01
    for group in panel.comparison.groups:
        assert group["accuracy"].difference >= -0.03, group.label
    overall = panel.comparison.overall
    assert overall["accuracy"].difference > 0.02 and overall["accuracy"].p_value < 0.05
    assert overall["log_loss"].difference < 0 and overall["brier"].difference < 0


def test_the_judges_tests_match_statsmodels(story, scored):
    _, _, _, panel, _ = story
    test, difference = _mcnemar(scored)
    assert panel.comparison.overall["accuracy"].p_value == pytest.approx(test.pvalue, rel=1e-9)
    assert panel.comparison.overall["accuracy"].difference == pytest.approx(difference)
    ios = scored[scored["platform"] == "ios"]
    assert panel.comparison.group("platform", "ios")["accuracy"].p_value == pytest.approx(_mcnemar(ios)[0].pvalue)


def test_the_holdout_must_be_unseen_and_the_panel_is_evidence(story):
    engine, champion, result, panel, _ = story
    with pytest.raises(InvalidInput, match="after both training windows"):
        judge.judge(engine, result.version.id, holdout_from=pd.Timestamp("2026-09-01", tz="UTC").to_pydatetime())
    with pytest.raises(InvalidInput, match="two different"):
        judge.judge(engine, champion.id, champion.id)
    evidence = panel.to_evidence()
    request = approvals.request_change(engine, ANA, "promote", result.version.id, "fixes mobile", {"stage": "full"},
                                       evidence)  # fmt: skip
    stored = approvals.get_request(engine, request.id).request.evidence
    assert stored == json.loads(json.dumps(evidence))
    assert stored["verdict"] == "pass" and stored["candidate"]["version"] == result.version.version
    assert {g["scope"] for g in stored["gates"]} >= {"overall", "platform=ios", "platform=android", "platform=web"}
    approvals.cancel(engine, ANA, request.id)
