"""Every session-state key of the Data screen, in one place. A name with a prefix comment is the start of a
dynamic key. The values are what tests use: never change them."""

KIND = "data_kind"  # what is being imported (one of services.ingest.KINDS)
TEMPLATE = "data_template"  # "Download a template"
UPLOAD = "data_upload_"  # + kind: the file uploader (one per kind, so switching kind drops the file)
IMPORT = "data_import"  # "Import"
JOB = "data_job"  # the id of this session's latest import job on app/jobs.py's board
JOB_KIND = "data_job_kind"  # the kind that job imports
PROBLEMS = "data_problems"  # the rejected file's problems table
HISTORY = "data_history"  # the past imports table
