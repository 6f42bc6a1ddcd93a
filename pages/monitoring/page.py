"""Monitoring: drift, drift over time, performance per cohort and over time, calibration, estimated
performance (CBPE) and alerts for one model version (drawn by app/monitoring_ui).

Data comes from the columnar day blocks of services/monitoring_data (built once, then only the days an
import touched); only the open tab computes, and computed windows are cached per data version.
"""

from app import auth, monitoring_ui, state

monitoring_ui.render(auth.actor(), state.engine())
