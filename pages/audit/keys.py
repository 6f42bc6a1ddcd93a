"""Every session-state key of the Audit log screen, in one place. A name with a prefix comment is the start
of a dynamic key. The values are what tests use: never change them."""

ACTOR = "audit_actor"  # filter: actor
ACTION = "audit_action"  # filter: action
SUBJECT_TYPE = "audit_subject_type"  # filter: object type
SUBJECT_ID = "audit_subject_id"  # filter: object id
SINCE = "audit_since"  # filter: from (UTC)
UNTIL = "audit_until"  # filter: to (UTC, inclusive)
VERIFY = "audit_verify"  # "Verify chain"
CSV = "audit_csv"  # "Download CSV"
PAGE = "audit_page_"  # + hash of the filter: the pager (a new filter starts again at page 1)
TABLE = "audit_table_"  # + hash of the filter + "_" + page: the events table (its row selection)
