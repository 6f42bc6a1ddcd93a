"""Every session-state key of the Monitoring screen, in one place (values unchanged: tests, the browser
tests and the bench use them). A *_PREFIX is the start of a key made per model version, column, alert,
rule or choice; its comment says what follows it.
"""

# --- the selection on top and the tabs ----------------------------------------------------------
TAB = "mon_tab"  # the open tab (Drift, Drift over time, Performance, ...)
VERSION = "mon_version"  # the model version's id
REF = "mon_ref"  # the reference window's preset (or "custom")
CUR = "mon_cur"  # the current window's preset (or "custom")
REF_RANGE_PREFIX = "mon_ref_range_"  # + version id: the reference window's custom days
CUR_RANGE_PREFIX = "mon_cur_range_"  # + version id: the current window's custom days
FILTER_FIELD_PREFIX = "mon_filter_field_"  # + version id: the cohort field every tab is restricted to
FILTER_VALUES_PREFIX = "mon_filter_values_"  # + "<version id>_<field>": that field's chosen values
REFRESH_JOB = "mon_refresh_job"  # the id of the worker's refresh job this session shows (until it is over)
REFRESH_RETRY = "mon_refresh_retry"  # "Try the refresh again" after a failed refresh
URL_WRITTEN = "mon_url_written"  # the query parameters this session last wrote (a different URL is a link to apply)

# --- Drift --------------------------------------------------------------------------------------
DRIFT_TABLE = "mon_drift_table"  # the per-column drift table
DRIFT_DOWNLOAD = "mon_drift_download"  # "Download report (HTML)": the drift view as one offline file
DIST_PREFIX = "mon_dist_"  # + column: its reference-vs-current chart
OVR_COLUMN = "mon_ovr_column"  # the column whose test or threshold is changed
OVR_METHOD_PREFIX = "mon_ovr_method_"  # + column: the test chosen for it
OVR_THRESHOLD_PREFIX = "mon_ovr_threshold_"  # + "<column>_<test>": the threshold chosen for it
OVR_SAVE = "mon_ovr_save"  # the "Save" button of a column's test
OVR_RESET = "mon_ovr_reset"  # the "Reset to default" button
OVR_SAVED = "mon_ovr_saved"  # the table of tests set by users

# --- Drift over time ----------------------------------------------------------------------------
DOT_GRANULARITY = "mon_dot_granularity"  # daily or weekly windows
DOT_SHARE = "mon_dot_share"  # the share-of-drifted-features chart
DOT_COLUMNS_PREFIX = "mon_dot_columns_"  # + version id: the columns charted
DOT_CHART_PREFIX = "mon_dot_"  # + column: its drift-score-over-time chart

# --- Performance --------------------------------------------------------------------------------
PERF_FIELDS_PREFIX = "mon_perf_fields_"  # + version id: the one or two cohort fields sliced by
RANK_BY = "mon_rank_by"  # the metric cohorts are ranked by
MIN_SIZE = "mon_min_size"  # the minimum cohort size
PERF_COHORTS = "mon_perf_cohorts"  # the cohort metric chart
PERF_TABLE = "mon_perf_table"  # the ranked cohort table
PERF_METRICS = "mon_perf_metrics"  # every metric per cohort
POT_GRANULARITY = "mon_pot_granularity"  # performance over time: daily or weekly windows
POT_METRIC = "mon_pot_metric"  # performance over time: the metric
POT_FIELD_PREFIX = "mon_pot_field_"  # + version id: performance over time, one line per value of this field
POT_CHART = "mon_pot_chart"  # the performance-over-time chart
RAW_FILTER_PREFIX = "mon_raw_filter_"  # + version id and field: raw-row section, the values of that field
RAW_RUN = "mon_raw_run"  # raw-row section: compute
RAW_RESULT = "mon_raw_result"  # raw-row section: (what was asked, its metrics or message)
RAW_TABLE = "mon_raw_table"  # raw-row section: every metric
RAW_FORMAT = "mon_raw_format"  # raw-row section: download format
RAW_DOWNLOAD = "mon_raw_download"  # raw-row section: download button

# --- Calibration --------------------------------------------------------------------------------
CAL_FIELD_PREFIX = "mon_cal_field_"  # + version id: the cohort field of the per-cohort diagrams
CAL_BINS = "mon_cal_bins"  # the number of bins
CAL_CHART = "mon_cal_chart"  # the reliability diagram
CAL_TABLE = "mon_cal_table"  # ECE and MCE per cohort

# --- Estimated performance ----------------------------------------------------------------------
CBPE_GRANULARITY = "mon_cbpe_granularity"  # daily or weekly windows
CBPE_METRIC = "mon_cbpe_metric"  # the estimated metric
CBPE_CHART = "mon_cbpe_chart"  # estimated vs realized chart
CBPE_TABLE = "mon_cbpe_table"  # the table under it

# --- Alerts -------------------------------------------------------------------------------------
ALERT_STATE = "mon_alert_state"  # which alerts are listed: open, acknowledged, resolved, all
EVALUATE = "mon_evaluate"  # the "Evaluate rules now" button
EVALUATE_JOB = "mon_evaluate_job"  # the id of the worker job evaluating the rules that this session started
ALERTS_TABLE_PREFIX = "mon_alerts_"  # + the listed state: the alerts table (its selection opens one)
ALERT_SHOW_PREFIX = "mon_alert_show_"  # + alert id: "Show the evidence in Monitoring"
ALERT_FEEDBACK_PREFIX = "mon_alert_feedback_"  # + alert id: "Open feedback for this cohort" (a page link)
ALERT_RETRAIN_PREFIX = "mon_alert_retrain_"  # + alert id: "Request retraining"
ACK_FORM_PREFIX = "mon_ack_"  # + alert id: the acknowledge form
ACK_COMMENT_PREFIX = "mon_ack_comment_"  # + alert id: its comment
RESOLVE_FORM_PREFIX = "mon_resolve_"  # + alert id: the resolve form
RESOLVE_COMMENT_PREFIX = "mon_resolve_comment_"  # + alert id: its note
BACKLOG_FORM_PREFIX = "mon_backlog_"  # + alert id: the add-to-backlog form
BACKLOG_TITLE_PREFIX = "mon_backlog_title_"  # + alert id: the backlog item's title
RULES_TABLE = "mon_rules"  # the alert rules table

# --- Alert rules --------------------------------------------------------------------------------
RULE_METRIC = "mon_rule_metric"  # new rule: what it watches
RULE_FIELD = "mon_rule_field"  # new rule: the cohort field it is restricted to
RULE_FORM = "mon_rule_form"  # the new-rule form
RULE_NAME = "mon_rule_name"  # new rule: its name
RULE_CMP_PREFIX = "mon_rule_cmp_"  # + metric: new rule: the comparison
RULE_THRESHOLD_PREFIX = "mon_rule_threshold_"  # + metric: new rule: the threshold
RULE_WINDOW = "mon_rule_window"  # new rule: the window it reads
RULE_VALUES_PREFIX = "mon_rule_values_"  # + field: new rule: the cohort values
RULE_SEVERITY = "mon_rule_severity"  # new rule: its severity
RULE_AUTO_RETRAIN = "mon_rule_auto_retrain"  # new rule: file a retrain request by itself on each alert
RULE_TOGGLE_ID = "mon_rule_toggle_id"  # the rule being changed, paused or resumed
RULE_EDIT_THRESHOLD_PREFIX = "mon_rule_edit_threshold_"  # + rule id: its new threshold
RULE_SAVE_THRESHOLD = "mon_rule_save_threshold"  # the "Save threshold" button
RULE_TOGGLE = "mon_rule_toggle"  # the "Pause" / "Resume" button
