"""The saved monitoring summary the Overview shows: drift of the main version (its first 14 days against
its last 28, monitoring's defaults) and the weekly headline metric, realized where outcomes are known
and CBPE-estimated for the recent weeks.

It is saved (derived_summary) under a digest of its inputs, the version's block generations and
windows: a new process or another replica reads it in one query instead of decoding the blocks again,
and new data (a rebuilt block) changes the digest, so it is recomputed. services/monitoring/refresh.py
saves it whenever the blocks change; services/overview reads it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.core.db import read_session, write_session
from services.core.errors import LoopdeckError
from services.core.schema_monitoring import DerivedSummary
from services.core.timeutil import utcnow
from services.monitoring import block_build, drift_window, metrics
from services.monitoring import blocks as md
from services.monitoring import views as mon

log = logging.getLogger(__name__)


# --- monitoring: drift and the headline metric ------------------------------------------------------


@dataclass(frozen=True)
class DriftStatus:
    version_label: str
    reference: mon.Window
    current: mon.Window
    n_features: int
    n_drifted: int
    share: float
    dataset_drift: bool
    drifted_columns: tuple[str, ...]


@dataclass(frozen=True)
class Headline:
    version_label: str
    metric: str
    # window_start, window_end, n, labelled_share, realized, estimate, lower, upper (weekly)
    weeks: pd.DataFrame
    last_realized: float | None
    previous_realized: float | None
    estimate_recent: float | None  # CBPE on the last week, whose outcomes are mostly unknown
    estimate_week: str | None
    labelled_share_recent: float | None

    @property
    def trend(self) -> float | None:
        if self.last_realized is None or self.previous_realized is None:
            return None
        return self.last_realized - self.previous_realized


@dataclass(frozen=True)
class MonitoringStatus:
    drift: DriftStatus | None
    headline: Headline | None
    problem: str | None = None  # why a part could not be computed (shown, never raised)
    stale: bool = False  # predictions or outcomes arrived that the day blocks do not hold yet


MIN_LABELLED_SHARE = 0.5  # a week counts as "realized" when at least half its predictions have outcomes
HEADLINE_WEEKS = 7  # the trend covers the last 7 ISO weeks of the version's data


WEEK_COLUMNS = ["window_start", "window_end", "n", "labelled_share", "realized", "estimate", "lower", "upper"]


def week_row(engine: Engine, info: mon.VersionInfo, window: mon.Window, reference: mon.Window,
             metric: str) -> dict[str, Any]:  # fmt: skip
    """One week of the headline: the realized `metric` (on the predictions whose outcome is known), the
    share labelled, and the CBPE estimate with its band. The Overview's trend and the weekly report
    both read weeks through here, so the same window gives the same numbers."""
    realized = metrics.metric_value(engine, info.id, metric, window)
    est = metrics.metric_value(engine, info.id, mon.ESTIMATED_PREFIX + metric, window, reference=reference)
    n = int(est.n)
    return {"window_start": window.start, "window_end": window.end, "n": n,
            "labelled_share": realized.n / n if n else float("nan"),
            "realized": realized.value if realized.n else float("nan"), "estimate": est.value,
            "lower": est.detail.get("lower"), "upper": est.detail.get("upper")}  # fmt: skip


def _headline(engine: Engine, info: mon.VersionInfo, reference: mon.Window, metric: str) -> Headline:
    """Realized and CBPE-estimated `metric` for each of the last HEADLINE_WEEKS weeks (monitoring's
    metric_value per week: only those weeks' blocks are read). Saved with the drift status by
    monitoring_status, so it is computed once per change of the blocks."""
    assert info.first_day is not None and info.last_day is not None
    first = max(info.first_day, info.last_day - timedelta(days=7 * HEADLINE_WEEKS))
    windows = mon.rolling_windows(first, info.last_day, "week")[-HEADLINE_WEEKS:]
    weeks = pd.DataFrame([week_row(engine, info, w, reference, metric) for w in windows], columns=WEEK_COLUMNS)
    known = weeks[(weeks["labelled_share"] >= MIN_LABELLED_SHARE) & weeks["realized"].notna()]
    last = weeks.iloc[-1] if len(weeks) else None
    return Headline(
        info.label, metric, weeks,
        float(known["realized"].iloc[-1]) if len(known) else None,
        float(known["realized"].iloc[-2]) if len(known) > 1 else None,
        float(last["estimate"]) if last is not None else None,
        f"{last['window_start']:%Y-%m-%d} to {last['window_end']:%Y-%m-%d}" if last is not None else None,
        float(last["labelled_share"]) if last is not None else None,
    )  # fmt: skip


def _main_version(engine: Engine) -> mon.VersionInfo | None:
    return mon.default_version(mon.list_versions(engine))


def monitoring_status(engine: Engine, metric: str = "accuracy") -> MonitoringStatus:
    """Drift of the champion (its first 14 days against its last 28, monitoring's defaults) and the
    weekly headline metric: realized where outcomes are known, CBPE-estimated for the recent weeks.

    The result is saved (derived_summary) under a digest of its inputs, the champion's block
    generations and windows: a new process or another replica reads it in one query instead of
    decoding the blocks again, and new data (a rebuilt block) changes the digest, so it is recomputed."""
    try:
        stale = block_build.needs_refresh(engine)
        info = _main_version(engine)
    except LoopdeckError as exc:
        return MonitoringStatus(None, None, str(exc))
    if info is None:
        return MonitoringStatus(None, None, None, stale)
    try:
        reference, current = mon.default_windows(info)
    except LoopdeckError as exc:
        return MonitoringStatus(None, None, str(exc), stale)
    key = f"overview.monitoring:{info.id}:{metric}"
    token = _summary_token(info, reference, current, metric, md.block_index(engine, info.id))
    saved = _saved_summary(engine, key, token)
    if saved is not None:
        return MonitoringStatus(*saved, None, stale)
    drift = headline = None
    problems = []
    try:
        with mon.one_version_list(engine):
            report = drift_window.drift_report(engine, info.id, reference, current)
            drift = DriftStatus(info.label, reference, current, report.n_features, report.n_drifted,
                                report.share_drifted, report.drifted,
                                tuple(r.column for r in report.features if r.drifted))  # fmt: skip
            headline = _headline(engine, info, reference, metric)
    except LoopdeckError as exc:
        problems.append(str(exc))
    if not problems:
        _save_summary(engine, key, token, drift, headline)
    return MonitoringStatus(drift, headline, "; ".join(problems) or None, stale)


SUMMARY_FORMAT = 1  # bump when the saved shape or what goes into it changes


def _summary_token(info: mon.VersionInfo, reference: mon.Window, current: mon.Window, metric: str,
                   blocks: list) -> str:  # fmt: skip
    parts = [SUMMARY_FORMAT, info.id, info.label, metric, reference.label, current.label, MIN_LABELLED_SHARE,
             HEADLINE_WEEKS, [(b.day.isoformat(), b.generation) for b in blocks]]  # fmt: skip
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _window(d: dict[str, str]) -> mon.Window:
    return mon.Window(date.fromisoformat(d["start"]), date.fromisoformat(d["end"]))


def _summary_payload(drift: DriftStatus | None, headline: Headline | None) -> dict[str, Any]:
    def num(x: Any) -> float | None:
        return None if x is None or pd.isna(x) else float(x)

    weeks = []
    if headline is not None:
        for row in headline.weeks.itertuples(index=False):
            week = {"window_start": row.window_start.isoformat(), "window_end": row.window_end.isoformat(),
                    "n": int(row.n)}  # fmt: skip
            week.update({c: num(getattr(row, c)) for c in ("labelled_share", "realized", "estimate", "lower", "upper")})
            weeks.append(week)
    return {
        "drift": None if drift is None else {
            "version_label": drift.version_label, "reference": drift.reference.as_dict(),
            "current": drift.current.as_dict(), "n_features": drift.n_features, "n_drifted": drift.n_drifted,
            "share": drift.share, "dataset_drift": drift.dataset_drift, "drifted_columns": list(drift.drifted_columns),
        },
        "headline": None if headline is None else {
            "version_label": headline.version_label, "metric": headline.metric, "weeks": weeks,
            "last_realized": num(headline.last_realized), "previous_realized": num(headline.previous_realized),
            "estimate_recent": num(headline.estimate_recent), "estimate_week": headline.estimate_week,
            "labelled_share_recent": num(headline.labelled_share_recent),
        },
    }  # fmt: skip


def _from_payload(payload: dict[str, Any]) -> tuple[DriftStatus | None, Headline | None]:
    d, h = payload.get("drift"), payload.get("headline")
    drift = None if d is None else DriftStatus(
        d["version_label"], _window(d["reference"]), _window(d["current"]), d["n_features"], d["n_drifted"],
        d["share"], d["dataset_drift"], tuple(d["drifted_columns"]))  # fmt: skip
    headline = None
    if h is not None:
        weeks = pd.DataFrame(h["weeks"], columns=["window_start", "window_end", "n", "labelled_share", "realized",
                                                  "estimate", "lower", "upper"])  # fmt: skip
        for c in ("window_start", "window_end"):
            weeks[c] = [date.fromisoformat(v) for v in weeks[c]]
        for c in ("labelled_share", "realized", "estimate", "lower", "upper"):
            weeks[c] = weeks[c].astype("float64")
        headline = Headline(h["version_label"], h["metric"], weeks, h["last_realized"], h["previous_realized"],
                            h["estimate_recent"], h["estimate_week"], h["labelled_share_recent"])  # fmt: skip
    return drift, headline


def _saved_summary(engine: Engine, key: str, token: str) -> tuple[DriftStatus | None, Headline | None] | None:
    with read_session(engine) as session:
        row = session.get(DerivedSummary, key)
        if row is None or row.token != token:
            return None
        payload = row.payload
    try:
        return _from_payload(payload)
    except (KeyError, TypeError, ValueError):  # an older shape: recompute
        return None


def _save_summary(engine: Engine, key: str, token: str, drift: DriftStatus | None, headline: Headline | None) -> None:
    """Best effort: a replica saving the same summary at the same moment wins, this one moves on."""
    try:
        with write_session(engine) as session:
            row = session.get(DerivedSummary, key)
            if row is None:
                session.add(DerivedSummary(key=key, token=token, payload=_summary_payload(drift, headline)))
            else:
                row.token, row.payload, row.computed_at = token, _summary_payload(drift, headline), utcnow()
    except sa.exc.SQLAlchemyError:
        log.warning("could not save the Overview's monitoring summary %s", key, exc_info=True)
