"""The Feedback page: pure helpers first (the filter <-> URL codec, the data editor's rows <-> triage
edits, the tables; tested without a browser), then the views that draw it (`render`, called by the thin
pages/feedback/page.py). The drawing lives in this module rather than in the page script because Streamlit
re-parses a page script on every run (for "magic"), while a module is compiled once.

Feedback text, theme names, categories and e-mails come from users: the page shows them only through
plain-text elements (TextColumn, st.text, widget options). Where one must go into a markdown element
(a success message), `md_escape` neutralises it first.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pandas as pd
import streamlit as st
from sqlalchemy.engine import Engine

from app import figures_feedback as figs
from app import format as fmt
from app import state, widgets
from services.backlog import items as backlog
from services.core import settings, users
from services.core.db import database_url
from services.core.errors import Conflict, LoopdeckError
from services.core.roles import Actor, Role
from services.feedback import edits as feedback_edits
from services.feedback import themes, training_sets
from services.feedback import triage as feedback
from services.feedback.edits import Edit, Patch
from services.feedback.triage import QueueFilter

VIEWS = ("Queue", "Review", "Themes", "Training sets")
LABELS = (0, 1)  # the models Loopdeck watches are binary classifiers (predicted_label 0/1)
PAGE_SIZE = 100
ME = "me"  # the assignee filter's "whoever is signed in" (a shared link means the opener's queue)
ANY = ""  # the "no filter" choice of single-choice filters
OUTCOMES = ("", "yes", "no")
MY_QUEUE_STATUSES = ("new", "in_review", "escalated")
EDITABLE = ("status", "category", "assignee", "priority", "corrected_label")
SELECT = "select"
SLA_FLAG = "⚠️"


# --- the filter and the URL --------------------------------------------------------------------


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
    cohort_value: str = ""
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


# field -> URL parameter. The page's widget for a field has the key "fb_" + parameter.
PARAMS: dict[str, str] = {
    "statuses": "status", "sources": "source", "ratings": "rating", "categories": "category",
    "theme_ids": "theme", "assignee": "assignee", "priorities": "priority", "model_ids": "model",
    "cohort_field": "cohort", "cohort_value": "value", "outcome": "outcome", "overdue": "overdue",
    "text": "q", "sort": "sort", "since": "from", "until": "to", "score_min": "score_min",
    "score_max": "score_max", "predicted": "predicted", "actual": "actual",
}  # fmt: skip
INT_TUPLES = {"ratings", "theme_ids", "model_ids", "predicted", "actual"}
DATES = {"since", "until"}
SCORES = {"score_min", "score_max"}
TRUE = {"1", "true", "yes", "on"}


def widget_key(name: str) -> str:
    """The session-state key of the widget for a FilterState field."""
    return f"fb_{PARAMS[name]}"


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
        cohort_value=state.cohort_value if state.cohort_field else "",
    )


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
    cohort_values = facets.cohort_fields.get(state.cohort_field)
    assignees = {ANY, ME, feedback.UNASSIGNED, *facets.assignees}
    return replace(
        state,
        sources=tuple(s for s in state.sources if s in facets.sources),
        categories=tuple(c for c in state.categories if c in facets.categories),
        theme_ids=tuple(t for t in state.theme_ids if t in theme_ids),
        model_ids=tuple(m for m in state.model_ids if m in model_ids),
        assignee=state.assignee if state.assignee in assignees else ANY,
        cohort_field=state.cohort_field if cohort_values is not None else "",
        cohort_value=state.cohort_value if cohort_values and state.cohort_value in cohort_values else "",
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
        cohort=((state.cohort_field, state.cohort_value),) if state.cohort_field and state.cohort_value else (),
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


# --- the queue table ---------------------------------------------------------------------------


def queue_table(rows: pd.DataFrame) -> pd.DataFrame:
    """list_queue rows -> the table the page shows: a selection column, an SLA flag, the editable
    columns, then the context (text, prediction, cohorts). Index 0..n-1 matches the editor's rows.
    Every column has an explicit dtype, so an empty page still has checkbox and text columns."""
    rows = rows.reset_index(drop=True)

    def column(name: str, dtype: str) -> pd.Series:
        values = rows[name] if name in rows else pd.Series([None] * len(rows))
        return pd.Series(values.to_numpy(), dtype=dtype) if dtype != "object" else values.astype(object)

    model = [
        f"{m} v{int(v)}" if isinstance(m, str) and not _missing(v) else ""
        for m, v in zip(column("model_name", "object"), column("model_version", "object"), strict=True)
    ]
    table = pd.DataFrame(
        {
            SELECT: pd.Series([False] * len(rows), dtype=bool),
            "sla": pd.Series(
                [SLA_FLAG if not _missing(o) and bool(o) else "" for o in column("overdue", "object")], dtype="string"
            ),
            "feedback_id": column("feedback_id", "string"),
            "age_days": column("age_days", "float64"),
            "status": column("status", "object"),
            "category": column("category", "object"),
            "assignee": column("assignee", "object"),
            "priority": column("priority", "object"),
            "corrected_label": column("corrected_label", "Int64"),
            "rating": column("rating", "Int64"),
            "source": column("source", "string"),
            "text": column("text", "string"),
            "theme": column("theme", "string"),
            "model": pd.Series(model, dtype="string"),
            "score": column("score", "float64"),
            "predicted_label": column("predicted_label", "Int64"),
            "actual_label": column("actual_label", "Int64"),
        }
    )
    for name in sorted(c for c in rows.columns if c.startswith("cohort_")):
        table[name] = column(name, "string")
    return table


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def snapshot(rows: pd.DataFrame) -> list[dict[str, Any]]:
    """What each editor row was when drawn: the id, the version (for the optimistic check) and the
    editable values (so an edit that was changed back is no edit)."""
    out = []
    for record in rows[["id", "version", "feedback_id", *EDITABLE]].to_dict("records"):
        out.append({k: (None if _missing(v) else v) for k, v in record.items()})
    return out


def _row(edited_rows: Mapping[Any, Mapping[str, Any]], snap: list[dict[str, Any]]):
    for index, changes in edited_rows.items():
        position = int(index)
        if 0 <= position < len(snap):
            yield snap[position], changes


def selected(edited_rows: Mapping[Any, Mapping[str, Any]], snap: list[dict[str, Any]]) -> dict[int, int]:
    """{feedback pk: version} of the rows ticked in the selection column."""
    return {int(row["id"]): int(row["version"]) for row, changes in _row(edited_rows, snap) if changes.get(SELECT)}


def _label(value: Any) -> int | None:
    if _missing(value) or value == "":
        return None
    return int(float(value))


def edits_from_editor(edited_rows: Mapping[Any, Mapping[str, Any]], snap: list[dict[str, Any]]) -> list[Edit]:
    """The data editor's edited_rows -> one Edit per changed row, with the version the row had when
    drawn. Cleared cells: category and assignee are removed, the label is cleared; a cleared status
    or priority is no change (they cannot be empty). The selection column is not an edit."""
    edits = []
    for row, changes in _row(edited_rows, snap):
        patch: dict[str, Any] = {}
        for column in EDITABLE:
            if column not in changes:
                continue
            new, old = changes[column], row.get(column)
            if column == "corrected_label":
                label = _label(new)
                if label != _label(old) and label is None:
                    patch["clear_label"] = True
                elif label != _label(old):
                    patch["corrected_label"] = label
            elif column in ("status", "priority"):
                if not _missing(new) and new != "" and new != old:
                    patch[column] = new
            else:  # category, assignee: "" clears
                value = "" if _missing(new) else str(new)
                if value != (old or ""):
                    patch[column] = value
        if patch:
            edits.append(Edit(int(row["id"]), int(row["version"]), Patch(**patch)))
    return edits


def pending_cell_edits(edited_rows: Mapping[Any, Mapping[str, Any]]) -> int:
    """Rows with a change in an editable column (ticking the selection box does not count)."""
    return sum(1 for changes in edited_rows.values() if set(changes) & set(EDITABLE))


NO_CHANGE = "(no change)"
NONE = "(none)"
CLEAR = "(clear)"


def bulk_patch(
    status: str = NO_CHANGE, category: str = NO_CHANGE, assignee: str = NO_CHANGE, priority: str = NO_CHANGE,
    label: Any = NO_CHANGE, me: str = "",
) -> Patch:  # fmt: skip
    """The bulk bar's choices -> one Patch. assignee ME is the signed-in user, UNASSIGNED unassigns;
    category NONE removes the category; label CLEAR removes the corrected label."""
    values: dict[str, Any] = {}
    if status != NO_CHANGE:
        values["status"] = status
    if category != NO_CHANGE:
        values["category"] = "" if category == NONE else category
    if assignee != NO_CHANGE:
        values["assignee"] = me if assignee == ME else "" if assignee == feedback.UNASSIGNED else assignee
    if priority != NO_CHANGE:
        values["priority"] = priority
    if label == CLEAR:
        values["clear_label"] = True
    elif label != NO_CHANGE:
        values["corrected_label"] = int(label)
    return Patch(**values)


# --- one item ----------------------------------------------------------------------------------


def item_title(row: Mapping[str, Any], width: int = 70) -> str:
    """A one-line name for an item in a picker (plain text: options are never markdown)."""
    text = " ".join(str(row.get("text") or "").split())
    if len(text) > width:
        text = text[: width - 1] + "…"
    return f"{row.get('feedback_id')} · {row.get('status')} · {text}"


def features_table(features: Mapping[str, Any] | None) -> pd.DataFrame:
    """A prediction's features as two text columns (mixed types stay readable)."""
    items = sorted((features or {}).items())
    return pd.DataFrame({"feature": [k for k, _ in items], "value": [str(v) for _, v in items]}, dtype="string")


def review_status_options(current: str) -> list[str]:
    """The statuses an item may take from `current` (itself first, so "no change" is the default)."""
    return [current, *sorted(feedback.TRANSITIONS.get(current, ()), key=feedback.STATUSES.index)]


def review_default_status(current: str) -> str:
    """Review mode sets a label, so "labelled" is the usual next status when it is allowed."""
    return "labelled" if current == "labelled" or "labelled" in feedback.TRANSITIONS.get(current, ()) else current


def review_position(ids: list[int], current: int | None) -> int:
    """Index of `current` in the review list; 0 when it is not (any more) in the list."""
    try:
        return ids.index(current) if current is not None else 0
    except ValueError:
        return 0


def next_after(ids: list[int], current: int) -> int | None:
    """The item after `current` (wraps to the start); None when `current` is the only one."""
    if current not in ids:
        return ids[0] if ids else None
    if len(ids) == 1:
        return None
    return ids[(ids.index(current) + 1) % len(ids)]


def previous_before(ids: list[int], current: int) -> int | None:
    if current not in ids:
        return ids[0] if ids else None
    return ids[(ids.index(current) - 1) % len(ids)]


# --- themes and training sets ------------------------------------------------------------------


def themes_table(frame: pd.DataFrame) -> pd.DataFrame:
    """services.feedback.themes.list_themes -> the Themes table (negative share 0..1, the 14-day change)."""
    columns = ["id", "label", "top_terms", "items", "negative_share", "last_14d", "prior_14d", "change", "untriaged"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    out = frame.copy()
    prior = out["prior_14d"].astype(float)
    out["change"] = (out["last_14d"].astype(float) - prior) / prior.where(prior > 0)
    for column in ("items", "last_14d", "prior_14d", "untriaged"):
        out[column] = out[column].fillna(0).astype(int)
    out["label"] = out["label"].astype("string")
    return out[columns]


def datasets_table(datasets: Iterable[Any]) -> pd.DataFrame:
    """services.feedback.training_sets.list_datasets -> one row per version."""
    rows = [
        {
            "id": d.id,
            "name": d.name,
            "version": d.version,
            "items": d.item_count,
            "labels": ", ".join(f"{k}: {v:,}" for k, v in sorted((d.label_counts or {}).items())),
            "created_by": d.created_by,
            "created_at": d.created_at,
            "sha256": d.content_sha256,
        }
        for d in datasets
    ]
    return pd.DataFrame(
        rows, columns=["id", "name", "version", "items", "labels", "created_by", "created_at", "sha256"]
    )


def categories_from_text(text: str) -> list[str]:
    """The admin's category box (one per line, or comma-separated) -> a list."""
    return [part.strip() for part in re.split(r"[\n,]", text or "") if part.strip()]


md_escape = fmt.md_escape


# =================================================================================================
# The page (Streamlit). Everything below draws; each action is one service call.
# =================================================================================================

VIEW = "fb_view"  # session-state keys of the page (the filter widgets: widget_key)
GENERATION = "fb_editor_generation"  # bumped to drop the editor's edits and reload its rows
SNAPSHOT = "fb_snapshot"  # {"key": editor key, "rows": the rows as drawn}: pending edits keep these
SELECTED = "fb_selected"  # pks ticked in the Queue, for the Training sets view
REVIEW_ITEM = "fb_review_item"
VIEW_PARAM = {"Queue": "queue", "Review": "review", "Themes": "themes", "Training sets": "datasets"}
VIEW_FROM_PARAM = {v: k for k, v in VIEW_PARAM.items()}
VIEW_NAMES = {"Queue": "Queue", "Review": "Review mode", "Themes": "Themes", "Training sets": "Training sets"}


@dataclass(frozen=True)
class Page:
    """What every view of one run needs."""

    me: Actor
    engine: Engine
    facets: feedback.QueueFacets
    filter: FilterState
    queue_filter: QueueFilter

    @property
    def can_triage(self) -> bool:
        return self.me.can(Role.analyst)


@st.cache_data(ttl=30, show_spinner=False)
def cached_facets(url: str) -> feedback.QueueFacets:
    """The filters' choices change rarely (an import, a re-clustering, an admin's categories)."""
    return feedback.facets(state.get_engine(url))


@st.cache_data(ttl=120, show_spinner=False)
def cached_theme_volume(url: str, freq: str) -> pd.DataFrame:
    """Items per theme and period change only with new feedback or a re-clustering (which clears
    this); reading them takes ~1.7 s at 100,000 items, so they are not re-read on every click."""
    return themes.theme_volume(state.get_engine(url), freq)


def _clear_theme_caches() -> None:
    cached_facets.clear()
    cached_theme_volume.clear()


def _fresh_actor(engine: Engine) -> Actor | None:
    """Callbacks run before the page re-reads the user: re-read here so a demoted account cannot act."""
    user_id = st.session_state.get(state.USER_ID)
    return users.current_actor(engine, user_id) if user_id is not None else None


def _act(call, success) -> Any:
    """One service call from a callback; its message shows at the top of the run that follows.
    Returns the result, or the LoopdeckError it raised. Error messages quote user data (feedback
    ids, names), so they are escaped before they reach a markdown element."""
    try:
        result = call()
    except LoopdeckError as exc:
        widgets.flash("error", md_escape(str(exc)))
        return exc
    widgets.flash("success", success(result) if callable(success) else success)
    return result


def _query_params() -> dict[str, list[str]]:
    return {key: st.query_params.get_all(key) for key in st.query_params.keys()}  # noqa: SIM118


def _set_filter(new: FilterState) -> None:
    for key, value in widget_values(new).items():
        st.session_state[key] = value


def render(me: Actor, engine: Engine) -> None:
    st.title("Feedback")
    facets = cached_facets(database_url())
    url = _query_params()
    if VIEW not in st.session_state:
        st.session_state[VIEW] = VIEW_FROM_PARAM.get((url.get("view") or ["queue"])[-1], "Queue")
    view = st.segmented_control(
        "View", VIEWS, required=True, key=VIEW, label_visibility="collapsed", format_func=VIEW_NAMES.get
    ) or "Queue"  # fmt: skip

    # The filter: from the URL on the first load (and after a view without filters), else from the
    # widgets; cleaned of values the widgets cannot show; written back to the URL when it changed.
    if any(widget_key(name) not in st.session_state for name in PARAMS):
        current = state_from_params(url)
    else:
        current = state_from_widgets(st.session_state)
    current = sanitize(current, facets)
    if view in ("Queue", "Review"):
        _set_filter(current)
        current = _filters(me, facets, current)
    wanted = params_from_state(current)
    if view != "Queue":
        wanted["view"] = VIEW_PARAM[view]
    if not same_params(wanted, url):
        st.query_params.from_dict(wanted)

    page = Page(me, engine, facets, current, queue_filter(current, me.label))
    {"Queue": _queue, "Review": _review, "Themes": _themes, "Training sets": _datasets}[view](page)
    if me.can(Role.admin):
        _admin(me, engine)


def _filters(me: Actor, facets: feedback.QueueFacets, current: FilterState) -> FilterState:
    top = st.columns([3, 3, 2, 2], vertical_alignment="bottom")
    top[0].text_input("Search", key=widget_key("text"), placeholder="words in the text, or a feedback id")
    top[1].multiselect("Status", feedback.STATUSES, key=widget_key("statuses"), placeholder="any status")
    top[2].selectbox(
        "Assignee", [ANY, ME, feedback.UNASSIGNED, *facets.assignees], key=widget_key("assignee"),
        format_func=lambda a: {ANY: "anyone", ME: f"me ({me.label})"}.get(a, a),
    )  # fmt: skip
    top[3].selectbox("Sort", list(feedback.SORTS), key=widget_key("sort"))
    with st.expander("More filters", expanded=advanced_filters_active(current), icon=":material/filter_list:"):
        row = st.columns(5)
        row[0].multiselect("Source", facets.sources, key=widget_key("sources"), placeholder="any")
        row[1].multiselect("Rating", [1, 2, 3, 4, 5], key=widget_key("ratings"), placeholder="any")
        row[2].multiselect("Category", facets.categories, key=widget_key("categories"), placeholder="any")
        theme_names = dict(facets.themes)
        row[3].multiselect(
            "Theme", list(theme_names), key=widget_key("theme_ids"), format_func=theme_names.get, placeholder="any"
        )
        row[4].multiselect("Priority", feedback.PRIORITIES, key=widget_key("priorities"), placeholder="any")
        row = st.columns(5, vertical_alignment="bottom")
        versions = dict(facets.model_versions)
        row[0].multiselect(
            "Model version", list(versions), key=widget_key("model_ids"), format_func=versions.get, placeholder="any"
        )
        field = row[1].selectbox(
            "Cohort field", ["", *facets.cohort_fields], key=widget_key("cohort_field"),
            format_func=lambda f: f or "any",
        )  # fmt: skip
        row[2].selectbox(
            "Cohort value", ["", *facets.cohort_fields.get(field, [])], key=widget_key("cohort_value"),
            format_func=lambda v: v or "any", disabled=not field,
        )  # fmt: skip
        row[3].selectbox(
            "Outcome known", OUTCOMES, key=widget_key("outcome"),
            format_func=lambda o: {"": "either", "yes": "yes", "no": "no"}[o],
        )  # fmt: skip
        row[4].toggle("Overdue only", key=widget_key("overdue"), help="New items older than the SLA.")
        row = st.columns(6, vertical_alignment="bottom")
        # value=None: each can be emptied again (no bound), not only changed.
        day = {"value": None, "format": "YYYY-MM-DD", "help": "A UTC day, included."}
        row[0].date_input("Received from", key=widget_key("since"), **day)
        row[1].date_input("Received to", key=widget_key("until"), **day)
        score = dict(value=None, min_value=0.0, max_value=1.0, step=0.05, format="%.2f", placeholder="any")
        row[2].number_input("Score from", key=widget_key("score_min"), **score)
        row[3].number_input("Score to", key=widget_key("score_max"), **score)
        row[4].multiselect("Predicted label", LABELS, key=widget_key("predicted"), placeholder="any")
        row[5].multiselect(
            "Outcome label", LABELS, key=widget_key("actual"), placeholder="any",
            help="The actual label, where the outcome is known.",
        )  # fmt: skip
    shortcuts = st.columns([1, 1, 5])
    shortcuts[0].button(
        "My queue", icon=":material/person:", key="fb_my_queue", help="Open items assigned to me, oldest first.",
        on_click=lambda: _set_filter(my_queue(state_from_widgets(st.session_state))),
    )  # fmt: skip
    shortcuts[1].button(
        "Clear filters", icon=":material/filter_alt_off:", key="fb_clear", on_click=_set_filter, args=(FilterState(),)
    )
    return state_from_widgets(st.session_state)


# --- one item beside its prediction ------------------------------------------------------------


def _item(p: Page, detail: feedback.ItemDetail, similar: bool = True) -> None:
    item = detail.item
    text_config = {"field": st.column_config.TextColumn(), "value": st.column_config.TextColumn()}
    left, right = st.columns(2, gap="large")
    with left:
        st.subheader("Feedback")
        st.text(
            f"{item['feedback_id']}   ·   {item['status']}   ·   rating {item['rating'] or '—'}   ·   "
            f"{item['source'] or '—'}   ·   {fmt.when(item['ts'])}"
        )
        st.text(item["text"] or "(no text)")
        facts = {
            "category": item["category"] or "—", "priority": item["priority"], "assignee": detail.assignee or "—",
            "corrected label": "—" if item["corrected_label"] is None else str(item["corrected_label"]),
            "label set by": item["label_set_by"] or "—", "theme": detail.theme or "—",
            "near-duplicates": str(detail.duplicates), "version": str(item["version"]),
            "last change": f"{fmt.when(item['updated_at'])} by {item['updated_by'] or '—'}",
        }  # fmt: skip
        st.dataframe(
            {"field": list(facts), "value": list(facts.values())}, hide_index=True, width="stretch",
            column_config=text_config,
        )  # fmt: skip
    with right:
        st.subheader("Prediction")
        prediction = detail.prediction
        if prediction is None:
            st.info("This feedback is not linked to a prediction.")
        else:
            cols = st.columns(3)
            cols[0].metric("Score", f"{prediction['score']:.3f}")
            cols[1].metric("Predicted label", prediction["predicted_label"])
            actual = detail.outcome["actual_label"] if detail.outcome else None
            cols[2].metric("Outcome", "not yet" if actual is None else actual)
            st.text(f"{prediction['model']}  ·  request {prediction['request_id']}  ·  {fmt.when(prediction['ts'])}")
            cohorts = "   ·   ".join(f"{k}: {v}" for k, v in sorted(prediction["cohorts"].items()))
            st.text(f"cohorts   {cohorts or '—'}")
            st.dataframe(
                features_table(prediction["features"]), hide_index=True, width="stretch",
                column_config={"feature": st.column_config.TextColumn(), "value": st.column_config.TextColumn()},
            )  # fmt: skip
    if similar:
        _similar(p, item, detail.duplicates)


def _similar(p: Page, item: Mapping[str, Any], n_duplicates: int) -> None:
    dupes = feedback.duplicates(p.engine, item["id"], limit=10)
    same_theme = None
    if item["theme_id"] is not None:
        rows = feedback.list_queue(p.engine, QueueFilter(theme_ids=(item["theme_id"],)), limit=11).rows
        same_theme = rows[rows["id"] != item["id"]].head(10)
    st.subheader("Similar items")
    config = {
        "feedback_id": st.column_config.TextColumn("id"), "text": st.column_config.TextColumn("text", width="large"),
        "status": st.column_config.TextColumn(),
    }  # fmt: skip
    if dupes.empty and (same_theme is None or same_theme.empty):
        st.caption("No near-duplicates, and no theme yet (re-cluster on the Themes view).")
    if not dupes.empty:
        st.caption(
            f"{n_duplicates} near-duplicate(s): the same text up to a typo, a changed word or the word order "
            "(character 3-gram TF-IDF cosine ≥ 0.9)"
        )
        st.dataframe(
            dupes[["feedback_id", "status", "rating", "text"]], hide_index=True, width="stretch", column_config=config
        )
    if same_theme is not None and not same_theme.empty:
        st.caption("The newest items of the same theme")
        st.dataframe(
            same_theme[["feedback_id", "status", "rating", "text"]], hide_index=True, width="stretch",
            column_config=config,
        )  # fmt: skip


# --- Queue --------------------------------------------------------------------------------------


def _editor_state(key: str) -> dict:
    return st.session_state.get(key) or {}


def _snapshot_rows(key: str) -> list[dict[str, Any]]:
    stored = st.session_state.get(SNAPSHOT) or {}
    return snapshot(stored["rows"]) if stored.get("key") == key else []


def _reload_editor() -> None:
    st.session_state[GENERATION] = st.session_state.get(GENERATION, 0) + 1
    st.session_state.pop(SNAPSHOT, None)


def _after(result: Any) -> None:
    """Saved, or someone else was first (Conflict): drop the edits and show the current rows.
    Other refusals (a transition not allowed, ...) keep the edits so they can be corrected."""
    if not isinstance(result, LoopdeckError) or isinstance(result, Conflict):
        _reload_editor()


def _save_edits(engine: Engine, key: str) -> None:
    actor = _fresh_actor(engine)
    edits = edits_from_editor(_editor_state(key).get("edited_rows", {}), _snapshot_rows(key))
    if actor is None or not edits:
        widgets.flash("info", "No changes to save.")
        return
    _after(_act(lambda: feedback_edits.apply_edits(engine, actor, edits), lambda r: f"Saved {r.changed} item(s)."))


def _bulk_apply(engine: Engine, key: str) -> None:
    actor = _fresh_actor(engine)
    edited = _editor_state(key).get("edited_rows", {})
    chosen = selected(edited, _snapshot_rows(key))
    if actor is None or not chosen:
        widgets.flash("warning", "Tick the rows to change in the first column.")
        return
    if pending_cell_edits(edited):
        widgets.flash("warning", "Save or discard your cell edits first.")
        return
    values = {name: st.session_state.get(f"fb_bulk_{name}", NO_CHANGE) for name in EDITABLE}
    patch = bulk_patch(
        values["status"], values["category"], values["assignee"], values["priority"], values["corrected_label"],
        me=actor.label,
    )  # fmt: skip
    if patch.is_empty():
        widgets.flash("info", "Choose what to set first.")
        return

    def message(result: feedback_edits.UpdateResult) -> str:
        same = f" ({result.unchanged} already had these values)" if result.unchanged else ""
        return f"Updated {result.changed} of {len(chosen)} selected item(s){same}."

    _after(_act(lambda: feedback_edits.update_items(engine, actor, chosen, patch), message))


def _backlog_from_selection(engine: Engine, key: str) -> None:
    actor = _fresh_actor(engine)
    chosen = selected(_editor_state(key).get("edited_rows", {}), _snapshot_rows(key))
    if actor is None or not chosen:
        widgets.flash("warning", "Tick the rows the backlog item is about in the first column.")
        return
    title = st.session_state.get("fb_sel_backlog_title", "")
    kind = st.session_state.get("fb_sel_backlog_kind", backlog.KINDS[0])
    _act(
        lambda: themes.create_backlog_item(engine, actor, title=title, feedback_pks=sorted(chosen), kind=kind),
        lambda item: f"Backlog item #{item.id} created from {len(chosen)} feedback item(s): {md_escape(item.title)}",
    )


def _queue(p: Page) -> None:
    counts = feedback.queue_counts(p.engine, p.queue_filter)
    pages = fmt.page_count(counts.total, PAGE_SIZE)
    metrics = st.columns(4, vertical_alignment="center")
    metrics[0].metric("Matching", fmt.count(counts.total))
    metrics[1].metric(f"Overdue (SLA {counts.sla_days} days)", fmt.count(counts.overdue))
    metrics[2].metric("Untriaged", fmt.count(counts.untriaged))
    metrics[3].download_button(
        "Export CSV", data=lambda: feedback.export_csv(p.engine, p.queue_filter, p.filter.sort),
        file_name="loopdeck-feedback.csv", mime="text/csv", icon=":material/download:", on_click="ignore",
        key="fb_export", help="Every matching item (not only this page), with its prediction and outcome.",
    )  # fmt: skip

    page_number = st.pagination(pages, key=f"fb_page_{hash(p.filter)}") if pages > 1 else 1
    key = f"fb_editor_{hash(p.filter)}_{page_number}_{st.session_state.get(GENERATION, 0)}"
    stored = st.session_state.get(SNAPSHOT) or {}
    if _editor_state(key).get("edited_rows") and stored.get("key") == key:
        rows = stored["rows"]  # the rows (and versions) the pending edits were made on
    else:
        offset = (page_number - 1) * PAGE_SIZE
        rows = feedback.queue_rows(p.engine, p.queue_filter, p.filter.sort, limit=PAGE_SIZE, offset=offset)
        st.session_state[SNAPSHOT] = {"key": key, "rows": rows}
    table = queue_table(rows)
    if pages > 1:
        first = (page_number - 1) * PAGE_SIZE
        st.caption(f"Rows {first + 1:,}-{first + len(table):,} of {counts.total:,}.")
    _table(p, table, key, counts.sla_days)
    if table.empty:
        st.info("No feedback matches this filter.")
        return
    by_id = {int(r["id"]): r for r in rows[["id", "feedback_id", "status", "text"]].to_dict("records")}
    opened = st.selectbox(
        "Open an item", list(by_id), index=None, key=f"fb_open_{key}", placeholder="Choose an item of this page",
        format_func=lambda pk: item_title(by_id[pk]),
    )  # fmt: skip
    if opened is not None:
        try:
            detail = feedback.get_item(p.engine, opened)
        except LoopdeckError as exc:
            st.error(str(exc))
        else:
            with st.container(border=True):
                _item(p, detail)


def _table(p: Page, table: pd.DataFrame, key: str, sla_days: int) -> None:
    text = st.column_config.TextColumn
    config: dict[str, Any] = {
        SELECT: st.column_config.CheckboxColumn("✓", help="Select rows for the bulk actions below", width=40),
        "sla": text("SLA", help=f"{SLA_FLAG} new and older than the SLA ({sla_days} days)", width=45),
        "feedback_id": text("id"),
        "age_days": st.column_config.NumberColumn("age (days)", format="%.1f", width="small"),
        "text": text("text", width="large"),
        "source": text("source"), "theme": text("theme"), "model": text("model"),
        "score": st.column_config.NumberColumn("score", format="%.2f", width="small"),
        "rating": st.column_config.NumberColumn("rating", format="%d", width="small"),
        "predicted_label": st.column_config.NumberColumn("predicted", format="%d", width="small"),
        "actual_label": st.column_config.NumberColumn("outcome", format="%d", width="small"),
    }  # fmt: skip
    config |= {c: text(c.removeprefix("cohort_")) for c in table.columns if c.startswith("cohort_")}
    if not p.can_triage:
        config |= {c: text(c) for c in ("status", "category", "assignee", "priority")}
        config["corrected_label"] = st.column_config.NumberColumn("label", format="%d", width="small")
        st.dataframe(
            table.drop(columns=[SELECT]), hide_index=True, width="stretch", height=520, key=key, column_config=config,
            placeholder="—",
        )  # fmt: skip
        return
    assignees = sorted(set(p.facets.assignees) | set(table["assignee"].dropna()))
    categories = list(p.facets.categories) + sorted(set(table["category"].dropna()) - set(p.facets.categories))
    config |= {
        "status": st.column_config.SelectboxColumn("status", options=feedback.STATUSES, required=True),
        "category": st.column_config.SelectboxColumn("category", options=categories),
        "assignee": st.column_config.SelectboxColumn("assignee", options=assignees),
        "priority": st.column_config.SelectboxColumn("priority", options=feedback.PRIORITIES, required=True),
        "corrected_label": st.column_config.SelectboxColumn("label", options=LABELS, width="small"),
    }
    st.data_editor(
        table, hide_index=True, width="stretch", height=520, key=key, column_config=config, num_rows="fixed",
        disabled=[c for c in table.columns if c not in (SELECT, *EDITABLE)], placeholder="—",
    )  # fmt: skip
    edited = _editor_state(key).get("edited_rows", {})
    st.session_state[SELECTED] = sorted(selected(edited, _snapshot_rows(key)))
    n_edits, n_selected = pending_cell_edits(edited), len(st.session_state[SELECTED])
    buttons = st.columns([1, 1, 4], vertical_alignment="center")
    buttons[0].button(
        f"Save edits ({n_edits})" if n_edits else "Save edits", type="primary", key="fb_save_edits",
        icon=":material/save:", disabled=not n_edits, on_click=_save_edits, args=(p.engine, key),
        help="Saves the changed cells in one transaction, checking that nobody changed those rows meanwhile.",
    )  # fmt: skip
    buttons[1].button("Discard edits", key="fb_discard", disabled=not edited, on_click=_reload_editor)
    buttons[2].caption(
        "Edit status, category, assignee, priority or label in the table and save, or tick rows and use the bulk "
        "bar. A row someone else changed meanwhile is refused, never overwritten."
    )
    with st.container(border=True):
        st.markdown(f"**Bulk: {n_selected} selected row(s)**")
        bar = st.columns(6, vertical_alignment="bottom")
        bar[0].selectbox("Set status", [NO_CHANGE, *feedback.STATUSES], key="fb_bulk_status")
        bar[1].selectbox("Set category", [NO_CHANGE, NONE, *p.facets.categories], key="fb_bulk_category")
        bar[2].selectbox(
            "Set assignee", [NO_CHANGE, ME, feedback.UNASSIGNED, *p.facets.assignees], key="fb_bulk_assignee",
            format_func=lambda a: f"me ({p.me.label})" if a == ME else a,
        )  # fmt: skip
        bar[3].selectbox("Set priority", [NO_CHANGE, *feedback.PRIORITIES], key="fb_bulk_priority")
        bar[4].selectbox("Set label", [NO_CHANGE, *LABELS, CLEAR], key="fb_bulk_corrected_label")
        bar[5].button(
            "Apply to selected", key="fb_bulk_apply", disabled=not n_selected, on_click=_bulk_apply,
            args=(p.engine, key), icon=":material/done_all:", help="One transaction, one audit event per item.",
        )  # fmt: skip
        with st.expander("Create a backlog item from the selected rows", icon=":material/playlist_add:"):
            cols = st.columns([4, 2, 1], vertical_alignment="bottom")
            cols[0].text_input("Title", key="fb_sel_backlog_title", placeholder="What should be improved?")
            cols[1].selectbox("Kind", backlog.KINDS, key="fb_sel_backlog_kind")
            cols[2].button(
                "Create", key="fb_sel_backlog_create", disabled=not n_selected, on_click=_backlog_from_selection,
                args=(p.engine, key),
            )  # fmt: skip


# --- Review mode --------------------------------------------------------------------------------


def _go_to(item_id: int | None) -> None:
    st.session_state[REVIEW_ITEM] = item_id


def _save_review(engine: Engine, item_id: int, version: int, next_id: int | None, label: int | None = None) -> None:
    """Save the review form as one apply_edits call with the version the item had when drawn.
    `label` (the "Label 0 / 1 and next" buttons) overrides the form's label choice."""
    actor = _fresh_actor(engine)
    if actor is None:
        return
    prefix = f"fb_rv_{item_id}_{version}"
    if label is None:
        label = st.session_state.get(f"{prefix}_label")
    patch = Patch(
        status=st.session_state.get(f"{prefix}_status"),
        category=st.session_state.get(f"{prefix}_category") or "",
        priority=st.session_state.get(f"{prefix}_priority"),
        corrected_label=None if label is None else int(label),
    )
    result = _act(
        lambda: feedback_edits.apply_edits(engine, actor, [Edit(item_id, version, patch)]),
        lambda r: "Saved." if r.changed else "Nothing to change.",
    )
    if not isinstance(result, LoopdeckError) and next_id is not None:
        _go_to(next_id)


def _review(p: Page) -> None:
    ids = feedback.queue_ids(p.engine, p.queue_filter, p.filter.sort)
    if not ids:
        st.info("No feedback matches this filter: nothing to review.")
        return
    position = review_position(ids, st.session_state.get(REVIEW_ITEM))
    item_id = ids[position]
    st.session_state[REVIEW_ITEM] = item_id
    try:
        detail = feedback.get_item(p.engine, item_id)
    except LoopdeckError as exc:
        st.error(str(exc))
        return
    nav = st.columns([1, 1, 4], vertical_alignment="center")
    nav[0].button(
        "Previous", icon=":material/arrow_back:", key="fb_rv_prev", on_click=_go_to,
        args=(previous_before(ids, item_id),), disabled=len(ids) < 2, shortcut="Left",
    )  # fmt: skip
    nav[1].button(
        "Next", icon=":material/arrow_forward:", key="fb_rv_next", on_click=_go_to,
        args=(next_after(ids, item_id),), disabled=len(ids) < 2, shortcut="Right",
    )  # fmt: skip
    nav[2].markdown(f"**{position + 1:,} of {len(ids):,}{'+' if len(ids) >= 5000 else ''}**")
    if p.can_triage:
        _review_form(p, detail, ids[position + 1] if position + 1 < len(ids) else None)
    else:
        st.caption("Viewers read; analysts and above triage.")
    _item(p, detail, similar=False)


def _review_form(p: Page, detail: feedback.ItemDetail, next_id: int | None) -> None:
    item = detail.item
    prefix = f"fb_rv_{item['id']}_{item['version']}"
    statuses = review_status_options(item["status"])
    categories = ["", *p.facets.categories]
    if item["category"] and item["category"] not in categories:
        categories.append(item["category"])
    predicted = detail.prediction["predicted_label"] if detail.prediction else None
    with st.form(f"{prefix}_form"):
        cols = st.columns(4)
        cols[0].radio(
            "Corrected label", LABELS, horizontal=True, key=f"{prefix}_label",
            index=LABELS.index(item["corrected_label"]) if item["corrected_label"] in LABELS else None,
            help=None if predicted is None else f"The model predicted {predicted}.",
        )  # fmt: skip
        cols[1].selectbox(
            "Status", statuses, index=statuses.index(review_default_status(item["status"])), key=f"{prefix}_status"
        )
        cols[2].selectbox(
            "Category", categories, index=categories.index(item["category"] or ""), key=f"{prefix}_category",
            format_func=lambda c: c or "(none)",
        )  # fmt: skip
        cols[3].selectbox(
            "Priority", feedback.PRIORITIES, index=feedback.PRIORITIES.index(item["priority"]), key=f"{prefix}_priority"
        )
        version = (p.engine, item["id"], item["version"])
        buttons = st.columns([2, 2, 2, 1, 3], vertical_alignment="center")
        buttons[0].form_submit_button(
            "Save and next", type="primary", on_click=_save_review, args=(*version, next_id), shortcut="Ctrl+Enter"
        )
        for column, label in zip(buttons[1:3], LABELS, strict=True):
            column.form_submit_button(
                f"Label {label} and next", on_click=_save_review, args=(*version, next_id, label), shortcut=str(label)
            )
        buttons[3].form_submit_button("Save", on_click=_save_review, args=(*version, None))
        buttons[4].caption(
            "Keyboard: 1 or 0 labels the item (with the status, category and priority above) and opens the next; "
            "Ctrl+Enter saves the form as set and opens the next; ← and → move without saving. The keys work "
            "while the cursor is not in a field (click the page background, or Tab past the fields)."
        )


# --- Themes -------------------------------------------------------------------------------------


def _recluster(p: Page, n_themes: int) -> None:
    with st.status("Clustering feedback texts ...", expanded=True) as status:
        bar = st.progress(0.0)

        def progress(fraction: float, message: str) -> None:
            bar.progress(min(max(float(fraction), 0.0), 1.0), text=message)

        try:
            result = themes.run_clustering(p.engine, p.me, n_themes, progress)
        except LoopdeckError as exc:
            status.update(label="Clustering failed", state="error")
            st.error(str(exc))
            return
        _clear_theme_caches()
        status.update(
            label=f"{len(result.themes)} themes over {result.assigned:,} texts in {result.seconds:.1f} s "
            f"({result.duplicate_items:,} items have near-duplicates)",
            state="complete", expanded=False,
        )  # fmt: skip


def _show_in_queue(theme_id: int) -> None:
    _set_filter(replace(FilterState(), theme_ids=(theme_id,)))
    st.session_state[VIEW] = "Queue"


def _themes(p: Page) -> None:
    if p.can_triage:
        with st.container(border=True):
            cols = st.columns([3, 1], vertical_alignment="bottom")
            n_themes = cols[0].slider("Number of themes", 4, 15, 8, key="fb_n_themes")
            if cols[1].button("Re-cluster themes", icon=":material/hub:", key="fb_recluster"):
                _recluster(p, n_themes)
            st.caption("TF-IDF + NMF over every feedback text; a renamed theme keeps its name when it recurs.")
    listed = themes.list_themes(p.engine)
    if listed.empty:
        st.info("No themes yet." + (" Re-cluster to find them." if p.can_triage else ""))
        return
    table = themes_table(listed)
    st.dataframe(
        table.drop(columns=["id"]), hide_index=True, width="stretch", key="fb_themes_table",
        column_config={
            "label": st.column_config.TextColumn("theme", width="medium"),
            "top_terms": st.column_config.TextColumn("top terms", width="large"),
            "items": st.column_config.NumberColumn("items", format="%d"),
            "negative_share": st.column_config.ProgressColumn(
                "negative", help="Share of ratings 1-2", min_value=0.0, max_value=1.0, format="percent"
            ),
            "last_14d": st.column_config.NumberColumn("last 14 d", format="%d"),
            "prior_14d": st.column_config.NumberColumn("prior 14 d", format="%d"),
            "change": st.column_config.NumberColumn("change", format="percent"),
            "untriaged": st.column_config.NumberColumn("untriaged", format="%d"),
        },
    )  # fmt: skip
    st.plotly_chart(figs.negative_share_figure(table), key="fb_negative_share")
    names = dict(zip(table["id"].tolist(), table["label"].tolist(), strict=True))
    theme_id = st.selectbox("Theme", list(names), format_func=names.get, key="fb_theme_pick")
    if theme_id is None:
        return
    label = names[theme_id]
    left, right = st.columns(2, gap="large")
    with left:
        freq = st.segmented_control(
            "Volume by", ["W", "D"], required=True, default="W", key="fb_theme_freq",
            format_func=lambda f: {"W": "week", "D": "day"}[f],
        ) or "W"  # fmt: skip
        volume = cached_theme_volume(database_url(), freq)
        st.plotly_chart(figs.theme_volume_figure(volume, label, freq), key="fb_volume")
    with right:
        by = st.selectbox(
            "Mix by", ["model", *p.facets.cohort_fields], key="fb_theme_mix_by",
            format_func=lambda b: "model version" if b == "model" else b,
        )  # fmt: skip
        st.plotly_chart(figs.theme_mix_figure(themes.theme_mix(p.engine, theme_id, by), by, label), key="fb_mix")
    st.button(
        "Show this theme in the queue", icon=":material/list:", key="fb_theme_to_queue", on_click=_show_in_queue,
        args=(theme_id,),
    )  # fmt: skip
    if p.can_triage:
        _theme_actions(p, theme_id, label)


def _theme_actions(p: Page, theme_id: int, label: str) -> None:
    cols = st.columns(2, gap="large")
    with cols[0], st.form(f"fb_rename_{theme_id}"):
        new_name = st.text_input("New name", value=label, max_chars=200)
        if st.form_submit_button("Rename theme"):
            renamed = widgets.attempt(lambda: themes.rename_theme(p.engine, p.me, theme_id, new_name), rerun=False)
            if renamed is not None:
                _clear_theme_caches()
                widgets.flash("success", f"Theme renamed to {md_escape(renamed.label)}.")
                st.rerun()
    with cols[1], st.form(f"fb_theme_backlog_{theme_id}"):
        title = st.text_input("Backlog item title", value=f"Theme: {label}"[:300])
        kind = st.selectbox("Kind", backlog.KINDS)
        description = st.text_area("Description", height=80)
        if st.form_submit_button("Create backlog item", icon=":material/playlist_add:"):
            created = widgets.attempt(
                lambda: themes.create_backlog_item(
                    p.engine, p.me, title=title, theme_id=theme_id, kind=kind, description=description
                ),
                rerun=False,
            )
            if created is not None:
                st.success(f"Backlog item #{created.id} created with this theme's evidence.")


# --- Training sets ------------------------------------------------------------------------------


def _datasets(p: Page) -> None:
    eligible = training_sets.eligible_count(p.engine)
    chosen = list(st.session_state.get(SELECTED, []))
    st.metric("Eligible labelled items", fmt.count(eligible), help="Labelled, with a corrected label and a prediction.")
    if p.can_triage:
        _new_dataset(p, eligible, chosen)
    datasets = training_sets.list_datasets(p.engine)
    if not datasets:
        st.info("No training sets yet.")
        return
    for row in datasets_table(datasets).to_dict("records"):
        with st.container(border=True):
            cols = st.columns([3, 1, 2, 3, 3, 1], vertical_alignment="center")
            cols[0].text(f"{row['name']}  v{row['version']}")
            cols[1].text(f"{row['items']:,} items")
            cols[2].text(row["labels"] or "—")
            cols[3].text(f"{row['created_by']}\n{fmt.when(row['created_at'])}")
            cols[4].text(f"sha256 {row['sha256'][:16]}…", help=row["sha256"])
            if cols[5].button("Verify", key=f"fb_verify_{row['id']}"):
                check = training_sets.verify_dataset(p.engine, row["id"])
                if check.intact:
                    st.success(f"Intact: the {row['items']:,} rows hash to {check.actual[:16]}… as when created.")
                else:
                    st.error(f"Changed: expected {check.expected[:16]}…, the rows now hash to {check.actual[:16]}….")


def _new_dataset(p: Page, eligible: int, chosen: list[int]) -> None:
    form = widgets.form_key("fb_dataset")
    with st.form(form):
        cols = st.columns([2, 3])
        name = cols[0].text_input("Name", key=f"{form}_name", placeholder="e.g. churn-corrections")
        description = cols[1].text_input("Description", key=f"{form}_description")
        source = st.radio(
            "Items", ["eligible", "selected"], horizontal=True, key=f"{form}_source",
            format_func=lambda s: f"all eligible ({eligible:,})" if s == "eligible"
            else f"the rows selected in the Queue ({len(chosen):,})",
        )  # fmt: skip
        submitted = st.form_submit_button("Create a new version", type="primary", icon=":material/dataset:")
    st.caption("A version never changes once created; creating again under the same name makes the next version.")
    if not submitted:
        return
    if source == "selected" and not chosen:
        st.warning("No rows are selected in the Queue.")
        return
    pks = None if source == "eligible" else chosen
    created = widgets.attempt(lambda: training_sets.create_dataset(p.engine, p.me, name, description, pks), rerun=False)
    if created is not None:
        widgets.reset_form("fb_dataset")
        widgets.flash(
            "success",
            f"Created {md_escape(created.name)} version {created.version} with {created.item_count:,} items.",
        )
        st.rerun()


# --- Admin: SLA and categories ------------------------------------------------------------------


def _admin(me: Actor, engine: Engine) -> None:
    with st.expander("Admin: SLA and categories", icon=":material/settings:"):
        cols = st.columns(2, gap="large")
        with cols[0], st.form("fb_admin_sla"):
            days = st.number_input(
                "SLA (days a new item may wait for triage)", 1, 90, int(settings.get(engine, "feedback.sla_days"))
            )
            if st.form_submit_button("Save SLA"):
                widgets.attempt(lambda: settings.set_value(engine, me, "feedback.sla_days", int(days)), "SLA saved.")
        with cols[1], st.form("fb_admin_categories"):
            text = st.text_area(
                "Categories (one per line)", "\n".join(settings.get(engine, "feedback.categories")), height=160
            )
            if st.form_submit_button("Save categories"):
                saved = widgets.attempt(
                    lambda: settings.set_value(engine, me, "feedback.categories", categories_from_text(text)),
                    rerun=False,
                )
                if saved is not None:
                    cached_facets.clear()
                    widgets.flash("success", f"{len(saved)} categories saved.")
                    st.rerun()
