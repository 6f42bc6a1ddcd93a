"""The Feedback filter, pure (tested without a browser): what the filter widgets show (FilterState),
its URL codec (a link opens the same view), the widgets' values, and the service's QueueFilter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from app.query_values import known_values
from pages.feedback import keys
from services.core import text_filter
from services.feedback import triage as feedback
from services.feedback.triage import QueueFilter

LABELS = (0, 1)  # the models Loopdeck watches are binary classifiers (predicted_label 0/1)
ME = "me"  # the assignee filter's "whoever is signed in" (a shared link means the opener's queue)
ANY = ""  # the "no filter" choice of single-choice filters
OUTCOMES = ("", "yes", "no")
MY_QUEUE_STATUSES = ("new", "in_review", "escalated")


@dataclass(frozen=True)
class FilterState:
    """What the filter widgets show; one URL parameter per field (see PARAMS)."""

    statuses: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    ratings: tuple[int, ...] = ()
    categories: tuple[str, ...] = ()
    theme_ids: tuple[int, ...] = ()
    assignee: str = ANY  # ANY, ME, feedback.UNASSIGNED or an e-mail
    priorities: tuple[str, ...] = ()
    model_ids: tuple[int, ...] = ()
    cohort_field: str = ""
    cohort_values: tuple[str, ...] = ()  # any of these values of cohort_field (ios or android)
    outcome: str = ""  # "", "yes", "no"
    overdue: bool = False
    text: str = ""
    sort: str = "newest"
    since: date | None = None  # received on or after this UTC day
    until: date | None = None  # ... and on or before this one
    score_min: float | None = None  # the prediction's score, 0..1, inclusive
    score_max: float | None = None
    predicted: tuple[int, ...] = ()  # the predicted label
    actual: tuple[int, ...] = ()  # the outcome's label

    def is_default(self) -> bool:
        return self == FilterState()


# field -> URL parameter. The page's widget for a field has the key keys.FILTER_PREFIX + parameter.
PARAMS: dict[str, str] = {
    "statuses": "status", "sources": "source", "ratings": "rating", "categories": "category",
    "theme_ids": "theme", "assignee": "assignee", "priorities": "priority", "model_ids": "model",
    "cohort_field": "cohort", "cohort_values": "value", "outcome": "outcome", "overdue": "overdue",
    "text": "q", "sort": "sort", "since": "from", "until": "to", "score_min": "score_min",
    "score_max": "score_max", "predicted": "predicted", "actual": "actual",
}  # fmt: skip
INT_TUPLES = {"ratings", "theme_ids", "model_ids", "predicted", "actual"}
DATES = {"since", "until"}
SCORES = {"score_min", "score_max"}
TRUE = {"1", "true", "yes", "on"}
MAX_COHORT_VALUES = feedback.MAX_COHORT_VALUES  # a link's cohort values beyond this are dropped


def widget_key(name: str) -> str:
    """The session-state key of the widget for a FilterState field."""
    return f"{keys.FILTER_PREFIX}{PARAMS[name]}"


def _ints(values: Iterable[str]) -> tuple[int, ...]:
    out = []
    for value in values:
        try:
            number = int(str(value).strip())
        except ValueError:
            continue
        if number not in out:
            out.append(number)
    return tuple(out)


def _strings(values: Iterable[str]) -> tuple[str, ...]:
    out: list[str] = []
    for value in values:
        text = str(value)
        if text and text not in out:
            out.append(text)
    return tuple(out)


def _date(value: str) -> date | None:
    try:
        return date.fromisoformat(value.strip()) if value else None
    except ValueError:
        return None


def _score(value: str) -> float | None:
    """A score bound from the URL: a number in 0..1 (rounded to 4 places), else no bound."""
    try:
        number = float(value)
    except ValueError:
        return None
    return round(number, 4) if 0.0 <= number <= 1.0 else None


def state_from_params(params: Mapping[str, str | list[str]]) -> FilterState:
    """URL query parameters (a value or a list of values each) -> FilterState. Unknown or malformed
    values are dropped, never an error: a hand-edited link still opens."""

    def values(name: str) -> list[str]:
        raw = params.get(PARAMS[name], [])
        return [raw] if isinstance(raw, str) else list(raw)

    def last(name: str) -> str:
        found = values(name)
        return found[-1] if found else ""

    kwargs: dict[str, Any] = {}
    for f in fields(FilterState):
        if f.name in INT_TUPLES:
            kwargs[f.name] = _ints(values(f.name))
        elif f.name in ("statuses", "sources", "categories", "priorities"):
            kwargs[f.name] = _strings(values(f.name))
        elif f.name == "cohort_values":
            kwargs[f.name] = _strings(values(f.name))[:MAX_COHORT_VALUES]
        elif f.name == "overdue":
            kwargs[f.name] = last(f.name).lower() in TRUE
        elif f.name in DATES:
            kwargs[f.name] = _date(last(f.name))
        elif f.name in SCORES:
            kwargs[f.name] = _score(last(f.name))
        else:
            kwargs[f.name] = last(f.name)
    state = FilterState(**kwargs)
    return replace(
        state,
        statuses=tuple(s for s in state.statuses if s in feedback.STATUSES),
        priorities=tuple(p for p in state.priorities if p in feedback.PRIORITIES),
        ratings=tuple(r for r in state.ratings if 1 <= r <= 5),
        predicted=tuple(v for v in state.predicted if v in LABELS),
        actual=tuple(v for v in state.actual if v in LABELS),
        outcome=state.outcome if state.outcome in OUTCOMES else "",
        sort=state.sort if state.sort in feedback.SORTS else "newest",
        text=state.text[:200],
        cohort_values=state.cohort_values if state.cohort_field else (),
    )


def without_control_characters(state: FilterState) -> tuple[FilterState, str | None]:
    """The search without control characters (a hand-edited link such as `?q=%00`), and a message
    saying what was removed; (state, None) when there was nothing to remove."""
    found = text_filter.bad_characters(state.text)
    if not found:
        return state, None
    message = f"Removed control characters ({', '.join(found[:5])}) from the search: they cannot be searched for."
    return replace(state, text=text_filter.clean(state.text)), message


def params_from_state(state: FilterState) -> dict[str, str | list[str]]:
    """FilterState -> URL query parameters, leaving out everything at its default (short links)."""
    default = FilterState()
    params: dict[str, str | list[str]] = {}
    for f in fields(FilterState):
        value = getattr(state, f.name)
        if value == getattr(default, f.name):
            continue
        name = PARAMS[f.name]
        if isinstance(value, tuple):
            params[name] = [str(v) for v in value]
        elif isinstance(value, bool):
            params[name] = "1"
        elif isinstance(value, date):
            params[name] = value.isoformat()
        elif isinstance(value, float):
            params[name] = f"{value:g}"
        else:
            params[name] = str(value)
    return params


def same_params(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Compare two query-parameter dicts, a single value being equal to a one-element list."""

    def norm(params: Mapping[str, Any]) -> dict[str, list[str]]:
        return {k: [v] if isinstance(v, str) else [str(x) for x in v] for k, v in params.items()}

    return norm(a) == norm(b)


def sanitize(state: FilterState, facets: feedback.QueueFacets) -> FilterState:
    """Drop values the filter widgets cannot show (a theme replaced by re-clustering, a deleted
    category, ...): a selectbox or multiselect refuses a value outside its options."""
    theme_ids = {t for t, _ in facets.themes}
    model_ids = {m for m, _ in facets.model_versions}
    known = facets.cohort_fields.get(state.cohort_field)
    assignees = {ANY, ME, feedback.UNASSIGNED, *facets.assignees}
    return replace(
        state,
        sources=tuple(s for s in state.sources if s in facets.sources),
        categories=tuple(c for c in state.categories if c in facets.categories),
        theme_ids=tuple(t for t in state.theme_ids if t in theme_ids),
        model_ids=tuple(m for m in state.model_ids if m in model_ids),
        assignee=state.assignee if state.assignee in assignees else ANY,
        cohort_field=state.cohort_field if known is not None else "",
        cohort_values=tuple(known_values(state.cohort_values, known or [], MAX_COHORT_VALUES)),
    )


def widget_values(state: FilterState) -> dict[str, Any]:
    """FilterState -> {widget key: value} (multiselects take lists)."""
    return {
        widget_key(f.name): list(getattr(state, f.name)) if isinstance(getattr(state, f.name), tuple)
        else getattr(state, f.name)
        for f in fields(FilterState)
    }  # fmt: skip


def state_from_widgets(values: Mapping[str, Any]) -> FilterState:
    """{widget key: value} -> FilterState (missing keys take the default)."""
    default = FilterState()
    kwargs = {}
    for f in fields(FilterState):
        value = values.get(widget_key(f.name), getattr(default, f.name))
        if isinstance(getattr(default, f.name), tuple):
            value = tuple(value or ())
        elif f.name == "overdue":
            value = bool(value)
        elif f.name in SCORES and value is not None:
            value = round(float(value), 4)
        elif f.name in DATES and isinstance(value, datetime):
            value = value.date()
        elif value is None:
            value = getattr(default, f.name)
        kwargs[f.name] = value
    return FilterState(**kwargs)


def my_queue(state: FilterState) -> FilterState:
    """The "My queue" shortcut: open items assigned to whoever is signed in, the oldest first."""
    return replace(FilterState(), assignee=ME, statuses=MY_QUEUE_STATUSES, sort="oldest", text=state.text)


def queue_filter(state: FilterState, me: str) -> QueueFilter:
    """FilterState -> the service's QueueFilter ("me" becomes the signed-in user's e-mail)."""
    return QueueFilter(
        statuses=state.statuses,
        sources=state.sources,
        categories=state.categories,
        priorities=state.priorities,
        theme_ids=state.theme_ids,
        assignee=(me if state.assignee == ME else state.assignee) or None,
        ratings=state.ratings,
        model_version_ids=state.model_ids,
        cohort=tuple((state.cohort_field, v) for v in state.cohort_values) if state.cohort_field else (),
        has_outcome={"yes": True, "no": False}.get(state.outcome),
        overdue_only=state.overdue,
        text=state.text.strip(),
        since=datetime.combine(state.since, time.min, tzinfo=UTC) if state.since else None,
        until=datetime.combine(state.until, time.min, tzinfo=UTC) + timedelta(days=1) if state.until else None,
        score_min=state.score_min,
        score_max=state.score_max,
        predicted_labels=state.predicted,
        actual_labels=state.actual,
    )


def advanced_filters_active(state: FilterState) -> bool:
    basic = {"statuses", "assignee", "text", "sort"}
    default = FilterState()
    return any(getattr(state, f.name) != getattr(default, f.name) for f in fields(FilterState) if f.name not in basic)
