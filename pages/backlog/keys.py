"""Every session-state key of the Backlog screen, in one place. A name with a prefix comment is the start
of a dynamic key (prefix + an item id or a proposal key). The values are what tests use: never change
them. (The small form other screens place next to their evidence has its keys in app/backlog_form.py.)"""

SELECTED = "bl_selected"  # the item shown in detail (kept when the filter hides it for a moment)
ON_PROPOSALS = "bl_on_proposals"  # set by an action on a proposal: the next run opens the Proposals tab

# New item form (widgets.form_key names the form NEW_FORM_<n>, so it starts empty after a success)
NEW_FORM = "bl_new"  # the form's name
NEW_TITLE = "bl_new_title"  # title
NEW_KIND = "bl_new_kind"  # kind
NEW_OWNER = "bl_new_owner"  # owner
NEW_STATUS = "bl_new_status"  # proposed or planned
NEW_DESCRIPTION = "bl_new_description"  # description
NEW_REF_TYPE = "bl_new_ref_type"  # evidence type
NEW_REF_ID = "bl_new_ref_id"  # evidence id
NEW_REACH = "bl_new_reach"  # reach per week
NEW_IMPACT = "bl_new_impact"  # impact
NEW_CONFIDENCE = "bl_new_confidence"  # confidence
NEW_EFFORT = "bl_new_effort"  # effort

# Ranked items
FILTER_KIND = "bl_filter_kind"  # kinds shown
FILTER_STATUS = "bl_filter_status"  # statuses shown
FILTER_OWNER = "bl_filter_owner"  # owner shown
OPEN = "bl_open"  # the item picker

# One item (each a prefix + item id)
EDIT = "bl_edit_"  # + item id + "_" + version: the edit form
EDIT_TITLE = "bl_edit_title_"  # title
EDIT_KIND = "bl_edit_kind_"  # kind
EDIT_OWNER = "bl_edit_owner_"  # owner
EDIT_SCORING = "bl_edit_scoring_"  # RICE or WSJF
EDIT_DESCRIPTION = "bl_edit_description_"  # description
EDIT_REACH = "bl_edit_reach_"  # reach per week
EDIT_IMPACT = "bl_edit_impact_"  # impact
EDIT_CONFIDENCE = "bl_edit_confidence_"  # confidence
EDIT_EFFORT = "bl_edit_effort_"  # effort
EDIT_BV = "bl_edit_bv_"  # business value
EDIT_TC = "bl_edit_tc_"  # time criticality
EDIT_RR = "bl_edit_rr_"  # risk reduction
EDIT_SIZE = "bl_edit_size_"  # job size
MOVE = "bl_move_"  # + item id + "_" + target status: "Move to ..."
CLOSE = "bl_close_"  # the close-as-done form
CLOSE_METRIC = "bl_close_metric_"  # outcome metric
CLOSE_BEFORE = "bl_close_before_"  # value before
CLOSE_AFTER = "bl_close_after_"  # value after
CLOSE_NOTE = "bl_close_note_"  # note
DROP = "bl_drop_"  # the drop form
DROP_REASON = "bl_drop_reason_"  # why drop it

# Proposals (each a prefix + the proposal key made safe for a widget key)
PROP_PLAN = "bl_prop_plan_"  # "Accept as planned"
PROP_PROPOSE = "bl_prop_propose_"  # "Accept as proposed"
PROP_REASON = "bl_prop_reason_"  # reason to dismiss
PROP_DISMISS = "bl_prop_dismiss_"  # "Dismiss"
PROP_RESTORE = "bl_prop_restore_"  # "Restore" a dismissed proposal

# By kind over time
OVER_TIME = "bl_over_time"  # the chart
