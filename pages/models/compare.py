"""The Compare view of the Models screen: two versions side by side. The metrics recorded with each
(per cohort) at once; on request, both measured on one holdout neither has seen (per cohort, paired),
their calibration, and the judge's gates for each. Links to Monitoring for both."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from app import figures_models as figs
from pages.models import keys
from pages.models.common import ModelsPage, version_option
from pages.models.compare_tables import gates_side_by_side, measured_table, recorded_table
from pages.models.live import MONITORING_PAGE
from pages.models.tables import monitoring_params
from services.core.errors import LoopdeckError
from services.models import compare, judge

RESAMPLES = 400
HOLDOUT = "Both score every labelled prediction after both training windows (the judge's holdout)."


def _pick(p: ModelsPage) -> tuple[int, int]:
    ids = [v.id for v in sorted(p.versions, key=lambda v: -v.version)]
    champion = p.aliases.champion
    first = next((i for i in ids if not champion or i != champion.id), ids[0])
    c = st.columns(2)
    a = c[0].selectbox("Version A", ids, index=ids.index(first), key=keys.CMP_A,
                       format_func=lambda i: version_option(p, i))  # fmt: skip
    others = [i for i in ids if i != a]
    default = others.index(champion.id) if champion and champion.id in others else 0
    b = c[1].selectbox("Version B", others, index=default, key=keys.CMP_B,
                       format_func=lambda i: version_option(p, i))  # fmt: skip
    return a, b


def render(p: ModelsPage) -> None:
    if len(p.versions) < 2:
        st.info("Compare needs two versions of the model.")
        return
    a, b = _pick(p)
    try:
        base = compare.compare_versions(p.engine, a, b, measure=False)
    except LoopdeckError as exc:
        st.error(str(exc))
        return
    la, lb = f"v{base.a.version}", f"v{base.b.version}"
    links = st.columns(2)
    for col, side in zip(links, (base.a, base.b), strict=True):
        col.page_link(MONITORING_PAGE, label=f"Monitoring for v{side.version}", icon=":material/monitor_heart:",
                      query_params=monitoring_params(p.model_name, side.version))  # fmt: skip
    st.markdown("**Recorded with each version** (metrics json: each on its own validation rows at training)")
    if base.recorded.empty:
        st.caption("Neither version recorded metrics.")
    else:
        st.dataframe(recorded_table(base.recorded, la, lb), hide_index=True, width="stretch", key=keys.CMP_RECORDED)
    if st.button("Measure both on the holdout", key=keys.CMP_RUN, icon=":material/compare_arrows:", help=HOLDOUT):
        config = replace(judge.config_from_settings(p.engine), n_resamples=RESAMPLES)
        try:
            with st.spinner("Scoring the holdout with both versions ..."):
                st.session_state[keys.CMP_RESULT] = compare.compare_versions(p.engine, a, b, config=config)
        except LoopdeckError as exc:
            st.error(str(exc))
            return
    result: compare.VersionComparison | None = st.session_state.get(keys.CMP_RESULT)
    if result is None or (result.a.id, result.b.id) != (a, b):
        st.caption("Measure both to see them on the same rows: per cohort, calibration and the judge's gates.")
        return
    if result.panel is None:
        st.warning(result.problem or "No holdout.")
        return
    _measured(result, la, lb)


def _measured(result: compare.VersionComparison, la: str, lb: str) -> None:
    h = result.panel.holdout
    st.caption(f"Holdout: {h.rows:,} labelled predictions after both training windows ({h.positives:,} positive); "
               f"{result.panel.comparison.n_resamples} paired bootstrap resamples.")  # fmt: skip
    m = st.columns(2)
    for col, side, label in ((m[0], "A", la), (m[1], "B", lb)):
        passed, checked = result.passed(side)
        col.metric(f"{label}: gates passed", f"{passed} of {checked}",
                   help="Each gate of the judge's no-regression rule, this version against the other.")  # fmt: skip
    st.markdown("**Gates** (the judge's rule, each version against the other on the same rows)")
    st.dataframe(gates_side_by_side(result, la, lb), hide_index=True, width="stretch", key=keys.CMP_GATES)
    st.markdown("**On the holdout, per cohort** (95% CI; difference paired)")
    st.dataframe(measured_table(result, la, lb), hide_index=True, width="stretch", key=keys.CMP_MEASURED)
    metric = st.segmented_control("Metric", list(judge.METRICS), default="accuracy", key=keys.CMP_METRIC) or "accuracy"
    chart = figs.metric_comparison(result.panel.metrics_frame(), metric, names={"candidate": la, "champion": lb})
    st.plotly_chart(chart, key=keys.CMP_COHORT_FIG, width="stretch")
    diagrams = {la: result.panel.calibration["candidate"], lb: result.panel.calibration["champion"]}
    colors = {la: figs.CANDIDATE, lb: figs.CHAMPION}
    st.plotly_chart(figs.calibration_figure(diagrams, colors), key=keys.CMP_CALIBRATION, width="stretch")
