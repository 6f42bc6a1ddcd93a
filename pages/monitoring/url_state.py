"""The Monitoring view as a URL, pure (tested without a browser): which parameters a link carries, how
they are read (leniently: a hand-edited link still opens) and written, and the session-state values
they stand for. pages/monitoring/links.py applies them on the page.

    /monitor?model=churn&version=2&tab=drift&cohort=platform&value=ios&value=android
            &reference=first14&window=2026-10-02..2026-10-29

`tab` is one of TAB_SLUGS' values; `reference` and `window` are a preset (first14, last28, ...) or days
(`YYYY-MM-DD..YYYY-MM-DD`, or one day); `cohort` and `value` are the cohort filter, named as on the
Feedback page (a list takes `value` more than once, or comma-joined: `value=ios,android`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from app.query_values import known_values
from pages.monitoring import keys
from pages.monitoring.common import ALL_ROWS, CUSTOM

TAB_SLUGS = {
    "Drift": "drift",
    "Drift over time": "drift-over-time",
    "Performance": "performance",
    "Calibration": "calibration",
    "Estimated performance": "estimated",
    "Alerts": "alerts",
}
TAB_FROM_SLUG = {v: k for k, v in TAB_SLUGS.items()}
PARAMS = ("model", "version", "tab", "cohort", "value", "reference", "window")
MAX_VALUES = 50  # a cohort filter from a URL takes at most this many values


@dataclass(frozen=True)
class View:
    """What a Monitoring URL says; an empty field means "the default"."""

    model: str = ""
    version: int | None = None
    tab: str = ""  # a tab label (TAB_SLUGS' keys)
    cohort: str = ""
    values: tuple[str, ...] = ()
    reference: str = ""  # a preset, or "YYYY-MM-DD..YYYY-MM-DD"
    window: str = ""


def _all(params: Mapping[str, Any], name: str) -> list[str]:
    raw = params.get(name, [])
    return [raw] if isinstance(raw, str) else [str(v) for v in raw]


def _last(params: Mapping[str, Any], name: str) -> str:
    found = _all(params, name)
    return found[-1].strip() if found else ""


def has_view(params: Mapping[str, Any]) -> bool:
    """The URL names at least one part of a Monitoring view (a plain /monitor from the sidebar does not)."""
    return any(_all(params, name) for name in PARAMS)


def view_from_params(params: Mapping[str, Any]) -> View:
    """Query parameters (a value or a list each) -> View; what cannot be read is left at its default."""
    try:
        version = int(_last(params, "version")) if _last(params, "version") else None
    except ValueError:
        version = None
    cohort = _last(params, "cohort")
    values: list[str] = []
    for v in _all(params, "value"):
        if v and v not in values and len(values) < MAX_VALUES:
            values.append(v)
    return View(
        model=_last(params, "model"),
        version=version,
        tab=TAB_FROM_SLUG.get(_last(params, "tab").lower(), ""),
        cohort=cohort,
        values=tuple(values) if cohort else (),
        reference=_last(params, "reference"),
        window=_last(params, "window"),
    )


def params_from_view(view: View) -> dict[str, str | list[str]]:
    """View -> query parameters, leaving out what is empty."""
    params: dict[str, str | list[str]] = {}
    if view.model:
        params["model"] = view.model
    if view.version is not None:
        params["version"] = str(view.version)
    if view.tab in TAB_SLUGS:
        params["tab"] = TAB_SLUGS[view.tab]
    if view.cohort:
        params["cohort"] = view.cohort
        if view.values:
            params["value"] = list(view.values)
    if view.reference:
        params["reference"] = view.reference
    if view.window:
        params["window"] = view.window
    return params


def same_params(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Two query-parameter dicts name the same view (a single value equals a one-element list)."""

    def norm(params: Mapping[str, Any]) -> dict[str, list[str]]:
        out = {k: [v] if isinstance(v, str) else [str(x) for x in v] for k, v in params.items() if k in PARAMS}
        return {k: v for k, v in out.items() if v}

    return norm(a) == norm(b)


def parse_window(text: str, presets: Sequence[str]) -> str | tuple[date, date] | None:
    """A window parameter -> a preset name, (start, end) days, or None when it cannot be read."""
    text = text.strip()
    if not text:
        return None
    if text in presets:
        return text
    start, sep, end = text.partition("..")
    try:
        first = date.fromisoformat(start.strip())
        last = date.fromisoformat(end.strip()) if sep else first
    except ValueError:
        return None
    return (first, last) if first <= last else None


def window_text(preset: str, days: tuple[date, date] | None) -> str:
    """A window picker's state -> its parameter: the preset, or the days of a custom range."""
    if preset != CUSTOM:
        return preset
    if not days:
        return ""
    start, end = days[0], days[-1]
    return f"{start:%Y-%m-%d}" if start == end else f"{start:%Y-%m-%d}..{end:%Y-%m-%d}"


@dataclass(frozen=True)
class Target:
    """The version a URL can open: its id, model name, number, days with data, and cohort fields' values."""

    id: int
    model: str
    version: int
    first_day: date
    last_day: date
    field_values: Mapping[str, Sequence[str]]


def pick_version(view: View, targets: Sequence[Target], default: Target) -> Target:
    """The version the URL names (model and number; the model's newest; the number within the default's
    model), else the default."""
    models = [t for t in targets if t.model == view.model] if view.model else [t for t in targets if
                                                                                 t.model == default.model]  # fmt: skip
    if view.version is not None:
        exact = [t for t in models if t.version == view.version]
        if exact:
            return exact[0]
    if view.model and models:
        return default if default in models else max(models, key=lambda t: t.version)
    return default


def _window_state(text: str, presets: Sequence[str], default: str, target: Target, range_prefix: str):
    parsed = parse_window(text, presets)
    if isinstance(parsed, tuple) and target.first_day <= parsed[0] and parsed[1] <= target.last_day:
        return CUSTOM, {f"{range_prefix}{target.id}": parsed}
    return (parsed if isinstance(parsed, str) else default), {}


def session_values(view: View, target: Target, reference_presets: Sequence[str], current_presets: Sequence[str],
                   defaults: tuple[str, str] = ("first14", "last28")) -> dict[str, Any]:  # fmt: skip
    """The session-state values of the Monitoring widgets that show `view` on `target` (values the widgets
    could not show are replaced by their defaults: a day outside the version's data, an unknown field)."""
    out: dict[str, Any] = {keys.VERSION: target.id, keys.TAB: view.tab or next(iter(TAB_SLUGS))}
    ref, ref_range = _window_state(view.reference, reference_presets, defaults[0], target, keys.REF_RANGE_PREFIX)
    cur, cur_range = _window_state(view.window, current_presets, defaults[1], target, keys.CUR_RANGE_PREFIX)
    out.update({keys.REF: ref, keys.CUR: cur, **ref_range, **cur_range})
    field = view.cohort if view.cohort in target.field_values else ALL_ROWS
    out[f"{keys.FILTER_FIELD_PREFIX}{target.id}"] = field
    if field:
        chosen = known_values(view.values, target.field_values[field], MAX_VALUES)
        out[f"{keys.FILTER_VALUES_PREFIX}{target.id}_{field}"] = chosen
    return out


def view_from_session(state: Mapping[str, Any], target: Target) -> View:
    """The view the widgets show now (what the URL is set to)."""
    field = state.get(f"{keys.FILTER_FIELD_PREFIX}{target.id}", ALL_ROWS) or ""
    values = tuple(state.get(f"{keys.FILTER_VALUES_PREFIX}{target.id}_{field}", ()) or ()) if field else ()
    return View(
        model=target.model,
        version=target.version,
        tab=state.get(keys.TAB, ""),
        cohort=field,
        values=values,
        reference=window_text(state.get(keys.REF, ""), state.get(f"{keys.REF_RANGE_PREFIX}{target.id}")),
        window=window_text(state.get(keys.CUR, ""), state.get(f"{keys.CUR_RANGE_PREFIX}{target.id}")),
    )
