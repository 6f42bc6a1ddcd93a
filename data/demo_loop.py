"""The demo's loop in motion: what the team did during the story, each act on its story date.

data/scenario.py generates what the model saw (predictions, outcomes, feedback, experiments); this module
plans what the people did with it, and data/demo.py replays both in date order through the ordinary
services, each act inside `timeutil.story_time(its date)`, so audit events, alerts, triage edits,
deployments and backlog items carry the story's dates, in order (the audit chain stays valid):

    nightly      the day's feedback arrives; weekly, predictions, outcomes, exposures and read-outs
    day 52       the analyst watches the mobile cohort: alert rule "accuracy < 80% on iOS + Android, 14 days"
    from day 60  the rule fires once the regression's labels arrive (evaluated on every import)
    daily        the analyst and the approver triage the feedback, within a day or two before the
                 release; after it the mobile flood outruns them (part stays new, some of it overdue)
    10-30 08:00  the themes are clustered; 09:00 the alert, its feedback theme and the drift become
                 backlog items with their evidence; 10:00 STORY_NOW: the data clock the demo is read on.

Everything here is deterministic (its own random generator): the scenario's numbers do not change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from data import scenario as sc

STORY_NOW = sc.NOW + timedelta(hours=10)  # Friday 2026-10-30 10:00 UTC: the demo's data clock
# The data arrives in imports, each bringing the rows before its cut: feedback every night (at 00:00, the
# day before's), predictions, outcomes, exposures and experiment read-outs weekly (and the last days on the
# last night). An item about a prediction waits for the prediction's import (the import refuses feedback
# about a prediction it does not know).
DAILY_CUTS = tuple(sc.day_start(d) for d in range(1, sc.DAYS + 1))
WEEKLY_CUTS = tuple(sc.day_start(d) for d in range(7, sc.DAYS, 7)) + (sc.NOW,)
RULE_AT = sc.day_start(52) + timedelta(hours=10)
THEMES_AT = sc.NOW + timedelta(hours=8)
BACKLOG_AT = sc.NOW + timedelta(hours=9)
TRIAGE_SEED = 20261030
TRIAGE_HOURS = (10, 15)  # triage sessions: 10:00 and 15:00

ALERT_RULE = {
    "name": "Mobile accuracy (iOS + Android)",
    "model_name": sc.MODEL_NAME,
    "metric": "accuracy",
    "threshold": 0.80,
    "comparison": "<",
    "window": "14d",
    "cohort": {"platform": list(sc.MOBILE)},
    "severity": "critical",
}
ANALYST, APPROVER = "analyst@loopdeck.demo", "approver@loopdeck.demo"

# theme -> what triage decides (status, category, priority, assignee); an item that carries a corrected
# label is labelled whatever its theme (the label is what retraining needs).
DECISIONS: dict[str, tuple[str, str, str, str | None]] = {
    "mobile_app": ("escalated", "bug", "high", ANALYST),
    "false_churn_alert": ("in_review", "wrong prediction", "high", ANALYST),
    "pricing": ("dismissed", "other", "low", None),
    "support_response": ("dismissed", "other", "normal", None),
    "data_export": ("in_review", "bug", "normal", APPROVER),
    "onboarding_docs": ("dismissed", "question", "low", None),
}


def import_cut(ts: pd.Series, cuts: tuple[datetime, ...]) -> pd.Series:
    """The import (its cut-off time) that brings each timestamp in: the first cut after it (the last cut
    brings everything left)."""
    edges = np.asarray([np.datetime64(c.replace(tzinfo=None), "ns") for c in cuts])
    naive = pd.to_datetime(ts, utc=True).dt.tz_convert(None).to_numpy(dtype="datetime64[ns]")
    index = np.minimum(np.searchsorted(edges, naive, side="right"), len(cuts) - 1)
    return pd.Series(np.asarray(cuts, dtype=object)[index], index=ts.index)


def feedback_cut(s: sc.Scenario) -> pd.Series:
    """The import that brings each feedback item: the night after it, or its prediction's weekly import
    when that comes later."""
    fb = s.feedback
    cut = pd.to_datetime(import_cut(fb["ts"], DAILY_CUTS), utc=True)
    prediction_ts = fb["request_id"].map(s.requests.set_index("request_id")["ts"])
    linked = prediction_ts.notna()
    waits = pd.to_datetime(import_cut(prediction_ts[linked], WEEKLY_CUTS), utc=True)
    cut[linked] = np.maximum(cut[linked], waits)
    return cut


def _session_after(moment: pd.Timestamp) -> pd.Timestamp:
    """The first triage session (10:00 or 15:00, any day) at or after `moment`."""
    day = moment.normalize()
    for offset in range(3):
        for hour in TRIAGE_HOURS:
            slot = day + pd.Timedelta(days=offset, hours=hour)
            if slot >= moment:
                return slot
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class TriageAct:
    at: datetime
    actor: str  # e-mail of the demo account
    feedback_ids: tuple[str, ...]
    patches: tuple[dict, ...]  # services.feedback.edits.Patch fields, one per item


def triage_plan(s: sc.Scenario) -> list[TriageAct]:
    """Who triaged which item when. Before the release the team keeps up (a day or two); after it the
    mobile complaints flood in and only part of them is triaged, later; nothing is triaged after the
    last import. Items are triaged only after the import that brought them in."""
    rng = np.random.default_rng(TRIAGE_SEED)
    fb = s.feedback
    ts = pd.to_datetime(fb["ts"], utc=True)
    after = ts >= pd.Timestamp(sc.day_start(sc.RELEASE_DAY))
    mobile = (fb["theme"] == "mobile_app").to_numpy()
    share = np.where(after, np.where(mobile, 0.45, 0.75), 0.95)
    triaged = rng.random(len(fb)) < share
    delay = np.where(after, 1.0 + rng.gamma(2.0, 1.5, len(fb)), 0.2 + rng.gamma(1.5, 0.5, len(fb)))
    ready = feedback_cut(s) + pd.Timedelta(minutes=30)
    due = np.maximum(ts + pd.to_timedelta(delay, unit="D"), ready)
    sessions = pd.Series([_session_after(m) for m in due], index=fb.index)
    keep = triaged & (sessions < pd.Timestamp(sc.NOW)).to_numpy()
    plan = pd.DataFrame({"feedback_id": fb["feedback_id"], "theme": fb["theme"], "at": sessions,
                         "label": fb["corrected_label"]})[keep]  # fmt: skip
    acts = []
    for at, group in plan.groupby("at", sort=True):
        actor = APPROVER if at.day_of_week in (1, 3) else ANALYST  # the approver helps on Tuesdays and Thursdays
        patches = tuple(_patch(row.theme, row.label) for row in group.itertuples())
        acts.append(TriageAct(at.to_pydatetime(), actor, tuple(group["feedback_id"]), patches))
    return acts


def _patch(theme: str, label) -> dict:
    status, category, priority, assignee = DECISIONS[theme]
    if not pd.isna(label):
        status = "labelled"
    patch = {"status": status, "category": category, "priority": priority}
    if assignee:
        patch["assignee"] = assignee
    return patch
