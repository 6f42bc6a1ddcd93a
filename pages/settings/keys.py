"""Every session-state key of the Settings screen, in one place (tests use the values)."""

SECTION = "set_section"  # the section shown (Feedback, Approvals, Judge gates, Alerts, Server)

# Feedback
SLA_FORM = "set_sla_form"  # the SLA form
SLA = "set_sla"  # days a new item may wait for triage
CATEGORIES_FORM = "set_categories_form"  # the categories form
CATEGORIES = "set_categories"  # one category per line

# Approvals
APPROVALS_EDITOR = "set_approvals_editor"  # approvals needed per kind (editable table)
APPROVALS_SAVE = "set_approvals_save"  # "Save approvals"
EXPIRY_FORM = "set_expiry_form"  # the request-expiry form
EXPIRY = "set_expiry"  # days a request stays open

# Judge gates
GATES_EDITOR = "set_gates_editor"  # the judge's default gates (editable table)
GATES_SAVE = "set_gates_save"  # "Save gates"

# Alerts
ALERTS_FORM = "set_alerts_form"  # the alert-defaults form
ALERT_SEVERITY = "set_alert_severity"  # a new rule's default severity
ALERT_WINDOW = "set_alert_window"  # a new rule's default window

# Server
PATHS = "set_paths"  # the server's folders and files (admins only)
