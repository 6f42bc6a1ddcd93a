"""Decode a version's day summaries into summary_cache's LRU in a background thread, newest day first, so
that the next window change on the Monitoring page merges days already in memory.

Measured on 1,000,000 predictions (90 days, bench/bench_monitoring.py's database): a day decodes in about
7.5 ms of CPU and merging decoded days is cheap, so the Drift tab's change to "everything after the
reference" (76 days, 48 never decoded) costs about 0.6-0.9 s of CPU cold and 0.2-0.25 s with its days
decoded. The page calls `prefetch` after drawing, as it does for the day blocks (blocks.prefetch). One
thread per database and version at a time; it stops once it has decoded PREFETCH_SHARE of the day cache's
bytes, so it does not push out what pages have read. Errors are logged, never raised: the views read the
days themselves when they need them.
"""

from __future__ import annotations

import logging
import threading
from datetime import date

from sqlalchemy.engine import Engine

from services.monitoring import blocks as md
from services.monitoring import summary_cache
from services.monitoring.views import Window

PREFETCH_SHARE = 0.5
CHUNK = 8  # days per read
logger = logging.getLogger(__name__)
_running: set[tuple[str, int]] = set()
_lock = threading.Lock()


def _budget() -> int:
    return int(PREFETCH_SHARE * summary_cache.CACHE_BYTES * (1 - summary_cache.WINDOW_SHARE))


def prefetch(engine: Engine, model_version_id: int) -> threading.Thread | None:
    """Start decoding the version's days in the background; None when a prefetch of it is running."""
    key = (md.engine_key(engine), model_version_id)
    with _lock:
        if key in _running:
            return None
        _running.add(key)

    def run() -> None:
        try:
            refs = summary_cache.day_refs(engine, model_version_id, Window(date.min, date.max))
            refs.reverse()  # the newest days first: the current windows
            spent = 0
            for start in range(0, len(refs), CHUNK):
                if spent >= _budget():
                    break
                chunk = refs[start : start + CHUNK]
                # Days decoded already (the page reruns after every click) count without being read again.
                held = summary_cache.decoded(engine, model_version_id, chunk)
                todo = [ref for ref, day in zip(chunk, held, strict=True) if day is None]
                loaded = summary_cache.load_days(engine, model_version_id, todo) if todo else []
                spent += sum(day.nbytes for day in [*loaded, *(d for d in held if d is not None)])
        except Exception:  # a cache warm-up: never an error for the page
            logger.warning("summary prefetch of model version %s failed", model_version_id, exc_info=True)
        finally:
            with _lock:
                _running.discard(key)

    thread = threading.Thread(target=run, name=f"summary-prefetch-{model_version_id}", daemon=True)
    thread.start()
    return thread
