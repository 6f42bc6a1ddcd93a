"""Every session-state key of the Overview screen, in one place. The values are what tests use: never
change them."""

TREND = "ov_trend"  # the headline metric by week chart
REPORT_WEEK = "ov_report_week"  # the week of the loop report
REPORT_PREPARE = "ov_report_prepare"  # "Prepare the report"
REPORT = "ov_report"  # (week, HTML, PDF) of the report prepared in this session
REPORT_HTML = "ov_report_html"  # "Download HTML"
REPORT_PDF = "ov_report_pdf"  # "Download PDF"
