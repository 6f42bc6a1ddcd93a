"""Monitoring: drift, drift over time, performance per cohort and over time, calibration, estimated
performance (CBPE) and alerts for one model version (drawn by the view modules of pages/monitoring/,
starting at screen.py).

Data comes from the columnar day blocks of services/monitoring/blocks (built once, then only the days an
import touched); only the open tab computes, and computed windows are cached per data version.
"""

from app import auth, state
from pages.monitoring import screen

screen.render(auth.actor(), state.engine())
