"""Every Monitoring view is a URL (the codec is pages/monitoring/url_state.py): a link opened in a new tab,
shared, or followed inside the app (an Overview tile, an alert's "Open drift for this cohort") shows the
view it names, and every change on the page rewrites the address bar.

Which wins, the URL or the widgets? The session remembers the parameters it last wrote. A URL that
names a view and differs from them is a link to follow: it sets the widgets (what it leaves out takes its
default). Otherwise (the page's own rewrite, or a plain /monitor from the sidebar) the widgets stand.
"""

from __future__ import annotations

import streamlit as st
from sqlalchemy.engine import Engine

from pages.monitoring import keys, url_state
from pages.monitoring.header import Selection
from services.monitoring import frames
from services.monitoring import views as mon


def _url() -> dict[str, list[str]]:
    return {key: st.query_params.get_all(key) for key in st.query_params.keys()}  # noqa: SIM118


def _target(info: mon.VersionInfo, field_values=None) -> url_state.Target:
    assert info.first_day is not None and info.last_day is not None
    return url_state.Target(info.id, info.model_name, info.version, info.first_day, info.last_day, field_values or {})


def follow(engine: Engine, versions: list[mon.VersionInfo]) -> None:
    """Before the widgets are drawn: when the URL is a link to follow, set the widgets to the view it names."""
    url = _url()
    written = st.session_state.get(keys.URL_WRITTEN)
    if not url_state.has_view(url) or (written is not None and url_state.same_params(url, written)):
        return
    view = url_state.view_from_params(url)
    by_id = {v.id: v for v in versions}
    default = mon.default_version(versions) or versions[0]
    picked = url_state.pick_version(view, [_target(v) for v in versions], _target(default))
    _, _, values = frames.version_columns(engine, by_id[picked.id])
    target = _target(by_id[picked.id], values)
    state = url_state.session_values(view, target, list(mon.REFERENCE_PRESETS), list(mon.CURRENT_PRESETS))
    for key, value in state.items():
        st.session_state[key] = value


def write(sel: Selection) -> None:
    """After the widgets are drawn: put the view they show in the address bar (when it changed)."""
    params = url_state.params_from_view(url_state.view_from_session(st.session_state, _target(sel.info)))
    if not url_state.same_params(params, _url()):
        st.query_params.from_dict(params)
    st.session_state[keys.URL_WRITTEN] = params


def monitoring_params(model: str, version: int | None, tab: str, cohort: dict | None = None,
                      window: mon.Window | None = None) -> dict[str, str | list[str]]:  # fmt: skip
    """The query parameters of a link to a Monitoring view (e.g. an alert's drift for its cohort)."""
    field, values = "", ()
    if cohort:
        field, raw = next(iter(cohort.items()))
        values = (raw,) if isinstance(raw, str) else tuple(str(v) for v in raw)
    days = url_state.window_text("custom", (window.start, window.end)) if window is not None else ""
    view = url_state.View(model=model, version=version, tab=tab, cohort=str(field), values=values, window=days)
    return url_state.params_from_view(view)


def feedback_params(cohort: dict | None) -> dict[str, str | list[str]]:
    """The Feedback queue's URL filter for a cohort: its field and every value (the queue shows items of any
    of them, as the rule or the Monitoring filter means: platform ios or android). Like the Monitoring URL, it
    names one field: the first (rules and the Monitoring filter made in the app have one)."""
    if not cohort:
        return {}
    field, raw = next(iter(cohort.items()))
    values = [raw] if isinstance(raw, str) else [str(v) for v in raw]
    return {"cohort": str(field), "value": values} if values else {}


def cohort_label(params: dict[str, str | list[str]]) -> str:
    """The cohort a feedback_params link names, for its label: "platform = ios or android"."""
    values = params.get("value", [])
    return f"{params.get('cohort', '')} = {' or '.join([values] if isinstance(values, str) else values)}"
