"""Every session-state key of the Approvals screen, in one place. A name with a prefix comment is the
start of a dynamic key (prefix + a request id). The values are what tests use: never change them."""

from app.retrain_jobs import DISMISS as JOB_DISMISS  # "mdl_job_dismiss_" + job id (declared with the job)
from app.retrain_jobs import JOB  # "mdl_job": this session's retraining job (shared with Models)

__all__ = ["JOB", "JOB_DISMISS"]

VIEW = "apr_view"  # the view switcher: Awaiting me, All requests, Rules
CONFIRM = "apr_confirm"  # (request id, plan digest) while the execute confirmation is open
CONFIRM_YES = "apr_confirm_yes"  # "Execute now" in the confirmation
CONFIRM_NO = "apr_confirm_no"  # "Cancel" in the confirmation

# All requests view
STATUS = "apr_status"  # the status filter
TABLE = "apr_table"  # the requests table
SELECTED = "apr_selected"  # the request shown in detail

# One request (each a prefix + request id)
GATES = "apr_gates_"  # its judge gates evidence table
METRICS = "apr_metrics_"  # its judge metrics evidence table
DECISIONS = "apr_decisions_"  # its decisions table
COMMENT = "apr_comment_"  # the approver's comment
APPROVE = "apr_approve_"  # "Approve"
REJECT = "apr_reject_"  # "Reject"
RETRAIN = "apr_retrain_"  # "Start the retraining …" (an approved retrain request)
EXECUTE = "apr_execute_"  # "Execute …"
CANCEL = "apr_cancel_"  # "Cancel the request"

# Rules view
RULES_TABLE = "apr_rules_table"  # the approvals each kind needs (read-only)
