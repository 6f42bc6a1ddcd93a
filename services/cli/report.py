"""The weekly loop report from the shell (as Actor.cli(), an admin; reading only):

    python -m services report --week 2026-W43 --out report.pdf      # PDF (by the file's extension)
    python -m services report --week 2026-W43 --out report.html     # one-page HTML
    python -m services report --out -                               # HTML of the latest week on stdout

--week defaults to the week of the latest prediction; --format overrides the extension.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def configure_report(p: argparse.ArgumentParser) -> None:
    p.description = "Write the weekly loop report (HTML or PDF): the Overview plus what changed since last week."
    p.add_argument("--week", default=None, help="ISO week, e.g. 2026-W43 (default: the latest week with data)")
    p.add_argument("--out", required=True, help="output file (.pdf or .html), or - for HTML on stdout")
    p.add_argument("--format", choices=["html", "pdf"], default=None, help="default: from the file extension")


def run_report(args: argparse.Namespace) -> int:
    from services.core.db import make_engine
    from services.core.roles import Actor
    from services.overview import report, report_render

    engine = make_engine()
    week = args.week or report.recent_weeks(engine, 1)[0]
    built = report.weekly_report(engine, Actor.cli(), week)
    kind = args.format or ("pdf" if str(args.out).lower().endswith(".pdf") else "html")
    if args.out == "-":
        if kind == "pdf":
            print("error: write a PDF to a file (--out report.pdf)", file=sys.stderr)
            return 2
        sys.stdout.write(report_render.to_html(built))
        return 0
    out = Path(args.out)
    if kind == "pdf":
        out.write_bytes(report_render.to_pdf(built))
    else:
        out.write_text(report_render.to_html(built), encoding="utf-8")
    print(f"Weekly loop report {week} written to {out} ({kind.upper()}, {out.stat().st_size:,} bytes).")
    return 0


COMMANDS = {"report": (configure_report, run_report)}
