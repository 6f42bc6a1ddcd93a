"""Every session-state key of the Schedules screen, in one place."""

TABLE = "sch_table"  # the table of every schedule
KIND = "sch_kind"  # the form: what to schedule
MODEL = "sch_model"  # the form: which model ("" = not model-specific)
CRON = "sch_cron"  # the form: when (cron, UTC)
ENABLED = "sch_enabled"  # the form: on or off
SAVE = "sch_save"  # the form's save button
DELETE_PREFIX = "sch_delete_"  # + schedule id: its delete button
JOBS = "sch_jobs"  # the table of recent jobs
