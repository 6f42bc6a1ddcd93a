"""Every session-state key of the Models screen, in one place. A name ending in a prefix comment is the
start of a dynamic key (prefix + an id). The values are what tests and saved sessions use: never change
them."""

from app.retrain_jobs import DISMISS as JOB_DISMISS  # "mdl_job_dismiss_" + job id (declared with the job)
from app.retrain_jobs import JOB  # "mdl_job": this session's retraining job (shared with Approvals)

__all__ = ["JOB", "JOB_DISMISS"]

# The screen
MODEL = "mdl_model"  # the model picked at the top
VIEW = "mdl_view"  # the view switcher: Registry, Deployments, Compare, Retrain, Judge

# Registry view
VERSIONS_TABLE = "mdl_versions_table"  # the table of versions
VERSION = "mdl_version"  # the version shown in detail
LINEAGE = "mdl_lineage"  # its lineage table
PARAMS = "mdl_params"  # its parameters table
METRICS = "mdl_metrics"  # its evaluation metrics table
COHORT_METRICS = "mdl_cohort_metrics"  # its per-cohort metrics table
VERIFY = "mdl_verify_"  # prefix + version id: the "Verify artifact" button
CARD_FIELD = "mdl_card_"  # prefix + version id + "_" + card field: a model card text area
CARD_SAVE = "mdl_card_save_"  # prefix + version id: "Save the model card"

# Deployments view
TIMELINE = "mdl_timeline"  # the deployment timeline chart
HISTORY = "mdl_history"  # the deployment history table
ROLLBACK_TO = "mdl_rollback_to"  # the version to roll back to
ROLLBACK_REASON = "mdl_rollback_reason"  # why
ROLLBACK_REQUEST = "mdl_rollback_request"  # "Request rollback"
END_CANARY = "mdl_end_canary"  # the challenger deployment to end
END_REASON = "mdl_end_reason"  # why
END_REQUEST = "mdl_end_request"  # "Request to end it"
SHADOW_SCORES = "mdl_shadow_scores"  # "Record shadow scores"
GUARDRAILS = "mdl_guardrails"  # "Check guard rails"

# Deployments view: a shadow or canary live, next to the champion (pages/models/live.py)
LIVE_DEPLOYMENT = "mdl_live_deployment"  # the canary or shadow deployment shown
LIVE_TABLE = "mdl_live_table"  # its metrics next to the champion's
LIVE_FIG = "mdl_live_fig"  # the same as a chart

# Compare view (pages/models/compare.py)
CMP_A = "mdl_cmp_a"  # version A
CMP_B = "mdl_cmp_b"  # version B
CMP_RUN = "mdl_cmp_run"  # "Measure both on the holdout"
CMP_RESULT = "mdl_cmp_result"  # the last measured comparison (a compare.VersionComparison), while A and B stay
CMP_RECORDED = "mdl_cmp_recorded"  # the recorded metrics per cohort
CMP_MEASURED = "mdl_cmp_measured"  # the holdout metrics per cohort, paired
CMP_GATES = "mdl_cmp_gates"  # the gates, each version's result
CMP_CALIBRATION = "mdl_cmp_calibration"  # the calibration chart of both
CMP_METRIC = "mdl_cmp_metric"  # the metric compared per cohort
CMP_COHORT_FIG = "mdl_cmp_cohort_fig"  # that metric per cohort for both, with the paired difference

# Retrain view
RETRAIN_FORM = "mdl_retrain_form"  # the retraining form
RT_BASE = "mdl_rt_base"  # base version
RT_FROM = "mdl_rt_from"  # training window start
RT_TO = "mdl_rt_to"  # training window end (excluded)
RT_DATASET = "mdl_rt_dataset"  # feedback training set
RT_SEED = "mdl_rt_seed"  # seed
RT_TRIGGER = "mdl_rt_trigger"  # trigger recorded with the version
RT_COMMENT = "mdl_rt_comment"  # why
RT_SUBMIT = "mdl_rt_submit"  # "Start retraining"
RT_REQUEST = "mdl_rt_request"  # "Request approval to retrain"

# Judge view
PANEL = "mdl_panel"  # the last judge panel (a judge.JudgePanel), shown while its versions stay chosen
JD_CANDIDATE = "mdl_jd_candidate"  # candidate version
JD_CHAMPION = "mdl_jd_champion"  # version it is judged against
JD_RESAMPLES = "mdl_jd_resamples"  # bootstrap resamples
JD_THRESHOLDS = "mdl_jd_thresholds"  # the gates editor
JD_RUN = "mdl_jd_run"  # "Run the judge"
JD_GATES = "mdl_jd_gates"  # the panel's gates table
JD_OVERALL = "mdl_jd_overall"  # its overall metrics table
JD_METRIC = "mdl_jd_metric"  # the metric compared per cohort
JD_COMPARE = "mdl_jd_compare"  # the metric comparison chart
JD_COHORTS = "mdl_jd_cohorts"  # the per-cohort comparison table
JD_CALIBRATION = "mdl_jd_calibration"  # the calibration chart
JD_BACKLOG_GATE = "mdl_jd_backlog_gate"  # the failed gate to file in the backlog
GATE_BACKLOG = "jd_"  # prefix + candidate id, champion id, gate: app/backlog_form's key for a failed gate
REQ_COMMENT = "mdl_req_comment"  # the comment of a change request
REQ_PROMOTE = "mdl_req_promote"  # "Request promotion"
REQ_SHARE = "mdl_req_share"  # canary share
REQ_GUARDRAIL_METRIC = "mdl_req_guardrail_metric"  # guard-rail metric (canary or shadow)
REQ_GUARDRAIL = "mdl_req_guardrail"  # guard-rail maximum drop
REQ_CANARY = "mdl_req_canary"  # "Request canary"
REQ_SHADOW = "mdl_req_shadow"  # "Request shadow"

# Register a version trained elsewhere (pages/models/register.py)
REGISTER_FORM = "models_register"  # the form (widgets.form_key adds a generation; fields add a suffix)
REGISTER_MODEL = "_model"  # field suffix: model
REGISTER_SCHEMA = "_schema"  # field suffix: schema
REGISTER_PARAMS = "_params"  # field suffix: params
REGISTER_METRICS = "_metrics"  # field suffix: metrics
REGISTER_COHORTS = "_cohorts"  # field suffix: cohorts
REGISTER_START = "_start"  # field suffix: start
REGISTER_END = "_end"  # field suffix: end
REGISTER_ROWS = "_rows"  # field suffix: rows
REGISTER_CODE = "_code"  # field suffix: code
REGISTER_ARTIFACT = "_artifact"  # field suffix: artifact
REGISTER_SHA = "_sha"  # field suffix: sha

# External retraining pipeline (pages/models/pipeline.py)
PIPELINE_FORM = "mdl_pipeline"  # the form (widgets.form_key adds a generation; fields add a suffix)
PIPELINE_URL = "_url"  # field suffix: the webhook URL
PIPELINE_KEY = "_secret"  # field suffix: the secret
PIPELINE_PRIVATE = "_private"  # field suffix: allow a private address
PIPELINE_SECRET = "mdl_pipeline_secret"  # a generated secret, shown once after the form
PIPELINE_REMOVE = "mdl_pipeline_remove"  # the "Train it here again" button
