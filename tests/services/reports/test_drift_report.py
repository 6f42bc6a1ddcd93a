"""The shareable drift report (SQLite and Postgres): one self-contained HTML file (plotly inline, no
external script or stylesheet), hostile text escaped, and the numbers of the Drift tab's report."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

from services.core import report_html
from services.core.roles import Actor, Role
from services.monitoring import drift_report, drift_window
from services.monitoring import views as mon
from tests.services.monitoring.test_monitoring import synthetic

VIEWER = Actor("<b>vi</b>@example.com", Role.viewer)
HOSTILE = "<img src=x onerror=alert(1)></script><script>alert(2)</script>"


def assert_self_contained(page: str) -> None:
    """One file: no <script src>, no stylesheet or script fetched over http(s), plotly.js inline."""
    assert not re.search(r"<script[^>]*\bsrc\s*=", page, re.I)
    assert not re.search(r"<link[^>]*href\s*=\s*[\"']?(https?:)?//", page, re.I)
    assert not re.search(r"@import\s+url\(\s*[\"']?https?:", page, re.I)
    assert page.count("Plotly.newPlot") >= 1
    # plotly.js itself comes before the first figure's script (else no figure is drawn)
    assert page.index("plotly.js v") < page.index("Plotly.newPlot(")
    assert len(page) > 3_000_000  # plotly.js itself is in the file


def test_drift_report_is_one_offline_file_with_the_tabs_numbers(engine):
    mv = synthetic(engine, days=12, shift_day=6)
    info = mon.get_version(engine, mv)
    reference = mon.Window(info.first_day, info.first_day + timedelta(days=4))
    current = mon.Window(info.first_day + timedelta(days=7), info.last_day)
    cohorts = {"platform": ["ios", HOSTILE]}
    built = drift_report.build(engine, VIEWER, mv, reference, current, cohorts)
    page = built.html
    assert_self_contained(page)
    # the same report the Drift tab reads, for the same view
    tab = drift_window.drift_report(engine, mv, reference, current, cohorts)
    assert built.report == tab
    assert tab.column("x").drifted  # the story: x shifts for ios
    assert f"{tab.n_drifted} of {tab.n_features} features drifted ({tab.share_drifted:.0%})" in page
    for row in tab.rows:
        cells = re.search(rf"<tr><td>{re.escape(row.column)}</td>(.*?)</tr>", page)
        assert cells, row.column
        assert f"<td>{drift_report._num(row.score)}</td>" in cells.group(1)
        assert ("<td>drifted</td>" in cells.group(1)) == (row.tested and row.drifted)
    # header: model, version, windows, cohort filter, who and when
    assert f"Reference window {reference.label}" in page and f"current window {current.label}" in page
    assert "Model churn, version 1" in page and "Generated " in page
    # hostile text (a cohort value, an account label) is shown, escaped, never as markup
    assert HOSTILE not in page and "<b>vi</b>" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;&lt;/script&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in page
    assert "&lt;b&gt;vi&lt;/b&gt;@example.com" in page
    assert built.file_name.endswith(".html") and "/" not in built.file_name


def test_hostile_column_names_stay_inside_the_figures_json(engine):
    """A column name reaches the figures too: plotly writes "</" as "<\\/" in its JSON."""
    mv = synthetic(engine, days=8, shift_day=4)
    info = mon.get_version(engine, mv)
    report = drift_window.drift_report(engine, mv, *mon.default_windows(info))
    row = report.rows[0]
    fig = drift_report.distribution_figure(replace(row, column=HOSTILE))
    fragment = report_html.Figures().html(fig, "d")
    assert "</script><script>alert(2)" not in fragment
