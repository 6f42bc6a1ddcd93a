"""Guard-rails: SRM or a guardrail significantly worse opens an alert (a row of the alert table that
Monitoring lists and the Overview counts; audited, once per alert) and proposes to stop the experiment
through an approval request; an approver other than the requester decides and the stop is executed
through services.experiments.lifecycle. The guard runs after every exposures / metrics import and from the shell
(`python -m services experiments guard`). Also: exposures imported with the
legacy `segment` column come back as results by the cohort field "segment". SQLite and Postgres."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from services import ingest
from services.cli.main import main
from services.core import audit
from services.core.errors import PermissionDenied
from services.core.roles import Actor, Role
from services.experiments import guard, readout_service
from services.experiments import lifecycle as experiments
from services.experiments import readout as er
from services.governance import approvals, executor
from services.monitoring import alerts
from services.overview import summary as overview
from tests.services.experiments.test_experiment_readout import ANA, insert, make_experiment

BEN = Actor("ben@example.com", Role.analyst)
APPROVER = Actor("appr@example.com", Role.approver)
VIEWER = Actor("vic@example.com", Role.viewer)


def broken_experiment(engine, key="guarded"):
    """A 50/50 plan with 120 vs 400 units (SRM) and support contacts far up in treatment (guardrail)."""
    exp = make_experiment(engine, key=key, variants=("control", "treatment"))
    rng = np.random.default_rng(5)
    n_c, n_t = 120, 400
    units = [f"u{i}" for i in range(n_c + n_t)]
    variant = np.array(["control"] * n_c + ["treatment"] * n_t)
    treated = variant == "treatment"
    metrics = pd.concat(
        [
            pd.DataFrame({"unit_id": units, "metric": "conv", "pre_value": np.nan,
                          "value": (rng.random(n_c + n_t) < 0.3).astype(float)}),
            pd.DataFrame({"unit_id": units, "metric": "contacts", "pre_value": np.nan,
                          "value": rng.poisson(np.where(treated, 3.0, 0.5)).astype(float)}),
        ],
        ignore_index=True,
    )  # fmt: skip
    insert(engine, exp.id, pd.DataFrame({"unit_id": units, "variant": variant, "segment": None}), metrics)
    return exp


def alert_events(engine, exp):
    f = audit.AuditFilter(action=guard.ALERT_ACTION, subject_type="experiment", subject_id=str(exp.id))
    return audit.list_events(engine, f)


def test_srm_and_a_guardrail_breach_raise_an_alert_and_propose_to_stop(engine):
    exp = broken_experiment(engine)
    readout = readout_service.read_experiment(engine, exp.key)
    assert [a.kind for a in readout.alerts] == ["srm", "guardrail"]
    with pytest.raises(PermissionDenied):
        guard.raise_alerts(engine, VIEWER, readout)

    first = guard.raise_alerts(engine, ANA, readout, "sequential")
    assert first.proposed and first.raised == ("srm::", "guardrail:contacts:treatment")
    request = first.request
    assert request.kind == experiments.STOP_KIND and request.subject_id == exp.key and request.status == "pending"
    assert request.requested_by == ANA.label and request.payload["automatic"] is True
    assert request.payload["alerts"] == ["srm::", "guardrail:contacts:treatment"]
    assert request.evidence["reading"] == "sequential" and request.evidence["alerts"][0]["kind"] == "srm"
    assert "Sample ratio" in request.comment or "sample ratio" in request.comment.lower()
    events = alert_events(engine, exp)
    assert len(events) == 1 and events.iloc[0]["actor"] == ANA.label
    assert json.loads(events.iloc[0]["payload"])["signatures"] == ["srm::", "guardrail:contacts:treatment"]
    # Real alerts: Monitoring's list (open, with the experiment's summary) and the Overview's counts.
    views = alerts.list_alerts(engine, "open")
    assert sorted(v.alert.id for v in views) == sorted(first.opened) and len(first.opened) == 2
    srm_view = next(v for v in views if v.alert.signature == "srm::")
    assert srm_view.alert.experiment_id == exp.id and srm_view.rule.name == guard.RULE_NAME
    assert srm_view.rule.severity == "critical" and not srm_view.rule.enabled
    assert srm_view.alert.value == pytest.approx(readout.health[0].value) and srm_view.alert.value < 0.001
    assert srm_view.summary.startswith(f"{exp.key}: Sample ratio mismatch")
    contacts = next(v for v in views if v.alert.signature == "guardrail:contacts:treatment")
    assert contacts.alert.value < 0.05 and contacts.alert.evidence["rel_lift"] > 0.5
    assert overview.alert_counts(engine).open_by_severity == {"critical": 2}
    assert request.payload["alert_ids"] == list(first.opened)

    # Reading again (another analyst, another page view) raises nothing new and files nothing.
    again = guard.raise_alerts(engine, BEN, readout_service.read_experiment(engine, exp.key))
    assert not again.proposed and again.raised == () and again.opened == () and again.request.id == request.id
    assert len(alert_events(engine, exp)) == 1 and len(alerts.list_alerts(engine)) == 2
    assert [r.id for r in experiments.stop_requests(engine, exp.key)] == [request.id]
    assert [h["signatures"] for h in guard.alert_history(engine, exp.key)] == [list(first.raised)]

    # Four eyes: the requester cannot decide; an approver approves; an approver executes the stop.
    approvals.decide(engine, APPROVER, request.id, "approve", "the split is broken")
    executor.execute(engine, APPROVER, request.id)
    stopped = experiments.get_experiment(engine, exp.key)
    assert stopped.status == "stopped"
    after = guard.raise_alerts(engine, ANA, readout_service.read_experiment(engine, exp.key))
    assert after.request is None and not after.proposed and "stopped" in after.message
    # The alerts go through Monitoring's lifecycle.
    alerts.acknowledge(engine, BEN, srm_view.alert.id, "split fixed; experiment stopped")
    alerts.resolve(engine, BEN, contacts.alert.id, "stopped")
    counts = overview.alert_counts(engine)
    assert counts.open_by_severity == {} and counts.acknowledged == 1
    assert audit.verify(engine).intact


def test_a_rejected_stop_is_not_filed_again_for_the_same_alerts_but_a_new_alert_files_one(engine):
    exp = broken_experiment(engine, key="rejected")
    readout = readout_service.read_experiment(engine, exp.key)
    request = guard.raise_alerts(engine, ANA, readout).request
    approvals.decide(engine, APPROVER, request.id, "reject", "SRM explained: bot filter, fixed")
    quiet = guard.raise_alerts(engine, ANA, readout_service.read_experiment(engine, exp.key))
    assert quiet.request is None and not quiet.proposed and quiet.raised == ()
    assert len(experiments.stop_requests(engine, exp.key)) == 1

    extra = er.Alert("guardrail", "Guardrail latency is significantly worse.", metric="latency", variant="treatment")
    worse = dataclasses.replace(readout, alerts=(*readout.alerts, extra))
    filed = guard.raise_alerts(engine, ANA, worse)
    assert filed.proposed and filed.raised == ("guardrail:latency:treatment",) and len(filed.opened) == 1
    assert filed.request.id != request.id and len(alert_events(engine, exp)) == 2
    assert len(guard.experiment_alerts(engine, exp.key)) == 3


def test_no_alert_no_request(engine):
    exp = make_experiment(engine, key="calm", variants=("control", "treatment"))
    rng = np.random.default_rng(1)
    units = [f"u{i}" for i in range(800)]
    variant = np.where(np.arange(800) % 2 == 0, "control", "treatment")
    metrics = pd.DataFrame({"unit_id": units, "metric": "conv", "pre_value": np.nan,
                            "value": (rng.random(800) < 0.3).astype(float)})  # fmt: skip
    insert(engine, exp.id, pd.DataFrame({"unit_id": units, "variant": variant, "segment": None}), metrics)
    result = guard.raise_alerts(engine, ANA, readout_service.read_experiment(engine, exp.key))
    assert result.alerts == () and result.request is None and not result.proposed
    assert experiments.stop_requests(engine, exp.key) == [] and len(alert_events(engine, exp)) == 0


def test_imported_segments_come_back_as_results_by_segment(engine):
    exp = make_experiment(engine, key="exp-seg", variants=("control", "treatment"), secondary_metrics=[],
                          guardrail_metrics=[])  # fmt: skip
    rng = np.random.default_rng(3)
    n = 1200
    units = [f"user-{i:04d}" for i in range(n)]
    variant = np.where(np.arange(n) % 2 == 0, "control", "treatment")
    segment = np.array(["mobile", "desktop", "tablet", ""], dtype=object)[(np.arange(n) // 2) % 4]  # "" = none
    exposures = pd.DataFrame({"experiment_key": exp.key, "unit_id": units, "variant": variant,
                              "ts": "2026-09-01T10:00:00Z", "segment": segment})  # fmt: skip
    metrics = pd.DataFrame({"experiment_key": exp.key, "unit_id": units, "metric": "conv",
                            "value": (rng.random(n) < 0.3).astype(int)})  # fmt: skip
    ingest.import_file(engine, ANA, "exposures", exposures.to_csv(index=False).encode(), "exposures.csv")
    ingest.import_file(engine, ANA, "metrics", metrics.to_csv(index=False).encode(), "metrics.csv")

    readout = readout_service.read_experiment(engine, exp.key)
    assert readout.fields == ("segment",)  # the legacy column is the cohort field "segment"
    assert set(readout.segments["segment"]) == {"mobile", "desktop", "tablet", er.NONE}
    rows = readout.results[readout.results["metric"] == "conv"].set_index("segment")
    for seg in ("mobile", "desktop", "tablet"):
        mask = segment == seg
        assert rows.loc[seg, "n_control"] == int((mask & (variant == "control")).sum())
        assert rows.loc[seg, "n_treatment"] == int((mask & (variant == "treatment")).sum())
        conv = metrics["value"].to_numpy()
        assert rows.loc[seg, "mean_control"] == pytest.approx(conv[mask & (variant == "control")].mean(), rel=1e-12)
    assert rows.loc[er.NONE, "n_control"] + rows.loc[er.NONE, "n_treatment"] == n // 4
    csv = pd.read_csv(pd.io.common.BytesIO(readout_service.results_csv(readout)))
    assert {"mobile", "desktop", "tablet"} <= set(csv["segment"])


def _broken_files(key: str) -> tuple[bytes, bytes]:
    """A 50/50 plan with 150 vs 450 units (SRM) and support contacts far up in treatment (guardrail)."""
    rng = np.random.default_rng(8)
    n_c, n_t = 150, 450
    units = [f"user-{i:04d}" for i in range(n_c + n_t)]
    variant = np.array(["control"] * n_c + ["treatment"] * n_t)
    exposures = pd.DataFrame({"experiment_key": key, "unit_id": units, "variant": variant,
                              "ts": "2026-09-01T10:00:00Z", "cohort_platform": "web"})  # fmt: skip
    contacts = rng.poisson(np.where(variant == "treatment", 3.0, 0.5))
    metrics = pd.DataFrame({"experiment_key": key, "unit_id": units, "metric": "contacts", "value": contacts})
    return exposures.to_csv(index=False).encode(), metrics.to_csv(index=False).encode()


def test_an_import_alone_opens_the_alerts_and_files_the_stop_request_once(engine):
    exp = make_experiment(engine, key="imported", variants=("control", "treatment"))
    other = make_experiment(engine, key="bystander", variants=("control", "treatment"))
    exposures, metrics = _broken_files(exp.key)

    first = ingest.import_file(engine, ANA, "exposures", exposures, "exposures.csv")
    assert first.new == 600 and first.alerts_error == ""
    [srm_alert] = guard.experiment_alerts(engine, exp.key)
    assert srm_alert.signature == "srm::" and srm_alert.state == "open" and list(first.alerts_opened) == [srm_alert.id]
    [request] = experiments.stop_requests(engine, exp.key)
    assert request.status == "pending" and request.requested_by == ANA.label and request.payload["automatic"]
    assert request.payload["alert_ids"] == [srm_alert.id]

    # The metrics bring the guardrail alert; the stop request already pending is not filed again.
    second = ingest.import_file(engine, ANA, "metrics", metrics, "metrics.csv")
    assert [a.signature for a in guard.experiment_alerts(engine, exp.key)] == ["guardrail:contacts:treatment", "srm::"]
    assert len(second.alerts_opened) == 1
    # Re-importing the same files (nothing new) and evaluating again open nothing and file nothing.
    assert ingest.import_file(engine, ANA, "exposures", exposures, "exposures.csv").alerts_opened == ()
    again = guard.evaluate(engine, BEN, exp.key)
    assert again.opened == () and not again.proposed and again.request.id == request.id
    assert len(guard.experiment_alerts(engine, exp.key)) == 2
    assert [r.id for r in experiments.stop_requests(engine, exp.key)] == [request.id]
    # Another experiment the files did not touch is not read; a concluded one is not guarded.
    assert guard.experiment_alerts(engine, other.key) == [] and experiments.stop_requests(engine, other.key) == []
    assert len(alerts.list_alerts(engine, "open")) == 2
    assert audit.verify(engine).intact


def test_the_guard_from_the_shell_exits_1_when_a_new_alert_opened(engine, monkeypatch, capsys):
    monkeypatch.setenv("LOOPDECK_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    broken = broken_experiment(engine, key="cron-broken")
    calm = make_experiment(engine, key="cron-calm", variants=("control", "treatment"))
    units = [f"c{i}" for i in range(400)]
    conv = (np.random.default_rng(2).random(400) < 0.3).astype(float)
    metrics = pd.DataFrame({"unit_id": units, "metric": "conv", "value": conv, "pre_value": np.nan})
    insert(engine, calm.id, pd.DataFrame({"unit_id": units, "variant": ["control", "treatment"] * 200}), metrics)

    assert main(["experiments", "guard"]) == 1
    out = capsys.readouterr().out
    assert "cron-broken: 2 alerts" in out and "cron-calm: ok" in out and "2 new alerts." in out
    [request] = experiments.stop_requests(engine, broken.key)
    assert f"stop request #{request.id} proposed" in out and request.requested_by.startswith("cli:")
    assert main(["experiments", "guard", "--experiment", broken.key]) == 0
    out = capsys.readouterr().out
    assert "cron-calm" not in out and "0 new alerts." in out
    assert len(guard.experiment_alerts(engine, broken.key)) == 2
    assert len(experiments.stop_requests(engine, broken.key)) == 1
    assert main(["experiments", "guard", "--experiment", "nope"]) == 2
