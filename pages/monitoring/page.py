"""Monitoring: drift, drift over time, performance per cohort and over time, calibration, estimated
performance (CBPE) and alerts for one model version (drawn by the view modules of pages/monitoring/,
starting at screen.py).

Every view reads per-day summaries (services/monitoring/summary_cache: a view costs per-day work, whatever
the row count); only the open tab computes, and computed windows are cached per data version. Rows are read
only for what the summaries do not hold (two cohort fields at once), and the page says so.
"""

from app import auth, state
from pages.monitoring import screen

screen.render(auth.actor(), state.engine())
