"""The experiment readout to share (SQLite and Postgres): one self-contained HTML file whose results are
the Read view's numbers, with user text (names, hypothesis, variants) escaped."""

from __future__ import annotations

import re

from services.core.roles import Actor, Role
from services.experiments import readout_report, readout_service
from tests.services.experiments.test_experiment_readout import insert, make_experiment, simulate
from tests.services.reports.test_drift_report import HOSTILE, assert_self_contained

VIEWER = Actor("vic@example.com", Role.viewer)


def test_readout_report_is_one_offline_file_with_the_read_views_numbers(engine):
    exp = make_experiment(engine, key="offer-test", name=HOSTILE, hypothesis=f"cheaper {HOSTILE} converts")
    exposures, metrics = simulate()
    insert(engine, exp.id, exposures, metrics)
    readout = readout_service.read_experiment(engine, exp.key)
    page = readout_report.build(readout, VIEWER)
    assert_self_contained(page)
    assert HOSTILE not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "Experiment offer-test (running)" in page and f"{readout.units_total:,} units exposed" in page
    overall = readout.overall
    assert len(overall) == 6  # conv, rev, contacts x arms a and b
    for r in overall.itertuples(index=False):
        row = re.search(rf"<tr><td>{r.metric}</td><td>{r.role}</td><td>{r.variant}</td>(.*?)</tr>", page)
        assert row, (r.metric, r.variant)
        cells = re.findall(r"<td>(.*?)</td>", row.group(1))
        assert cells[0] == f"{int(r.n_control):,} / {int(r.n_treatment):,}"
        assert cells[3] == f"{r.rel_lift:+.2%}"  # relative by default
        assert cells[4] == f"[{r.ci_low:+.2%}, {r.ci_high:+.2%}]"
        assert cells[5] == readout_report.num(r.p_value, 3) and cells[6] == r.verdict
        assert cells[7] == f"[{r.seq_ci_low:+.2%}, {r.seq_ci_high:+.2%}]" and cells[8] == r.seq_verdict
        assert cells[9] == readout_report.num(r.chance_to_win, 3) and cells[10] == r.bayes_verdict
    for h in readout.health:
        assert h.title in page
    assert readout_report.file_name(readout) == "offer-test-readout.html"
