"""`python -m services ingest KIND FILE`: import a CSV or Parquet file from the shell (as Actor.cli()).

Prints the result line ("1,000 rows: 990 new, 10 already known, 3 redactions, 0.4 s") or the
problems, one per line as file:row:column: message, and exits with 2.
"""

from __future__ import annotations

import argparse
import sys


def configure(p: argparse.ArgumentParser) -> None:
    from services.ingest.kinds import KINDS

    p.description = "Import predictions, outcomes, feedback, exposures or metrics from CSV or Parquet."
    p.add_argument("kind", choices=list(KINDS), help="what the file holds")
    p.add_argument("file", help="path of the CSV or Parquet file")
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (there is none either when stderr is not a terminal)",
    )


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from services.core.db import make_engine
    from services.core.roles import Actor
    from services.ingest import ImportRejected, import_file

    engine = make_engine()
    show = not args.no_progress and sys.stderr.isatty()
    bar = None
    if show:
        # At most 100 steps: redraw on each (no time throttle) so short imports show their stages too.
        bar = tqdm(
            total=100, unit="%", file=sys.stderr, leave=False, mininterval=0, bar_format="{l_bar}{bar}| {elapsed}"
        )
    last = [0]

    def progress(fraction: float, message: str) -> None:
        if bar is None:
            return
        step = int(fraction * 100)
        if step > last[0]:
            bar.update(step - last[0])
            last[0] = step
        bar.set_description_str(message[:40], refresh=False)

    try:
        result = import_file(engine, Actor.cli(), args.kind, args.file, progress=progress)
    except ImportRejected as exc:
        if bar is not None:
            bar.close()
            bar = None
        print(f"{exc.total:,} problem{'' if exc.total == 1 else 's'}; nothing was imported.", file=sys.stderr)
        for problem in exc.problems:
            print(str(problem), file=sys.stderr)
        if exc.total > len(exc.problems):
            print(f"... and {exc.total - len(exc.problems):,} more", file=sys.stderr)
        return 2
    finally:
        if bar is not None:
            bar.close()
        engine.dispose()
    print(result.summary())
    return 0


COMMANDS = {"ingest": (configure, run)}
