"""The summaries' prefetch on a rerun of the Monitoring page (services/monitoring/summary_prefetch.py): a pass
over days the cache holds decoded reads and decodes nothing again, and a day that new data changed (its
summary's generation moved) is decoded again, so the window the page reads shows the new rows. SQLite and
Postgres."""

from __future__ import annotations

from datetime import date

import pytest

from services.ingest.service import import_frame
from services.monitoring import block_build, day_summary_codec, frames, summary_cache, summary_fold, summary_prefetch
from services.monitoring.views import Window
from tests.services import factories
from tests.services.monitoring.test_summary_fold import _predictions

EVERY_DAY = Window(date.min, date.max)


@pytest.fixture(autouse=True)
def _fresh_caches():
    frames.clear_caches()
    yield
    frames.clear_caches()


def _fold(engine) -> None:
    """What the worker's refresh does to the data (refresh.refresh_monitoring without the Overview's status,
    which reads the summaries in the worker's process: here, the page's)."""
    block_build.refresh(engine)
    summary_fold.refresh(engine)


def _prefetch(engine, mv: int) -> None:
    thread = summary_prefetch.prefetch(engine, mv)
    assert thread is not None
    thread.join(timeout=60)


def test_a_rerun_decodes_nothing_again_and_a_day_with_new_data_is_decoded_again(engine, admin, monkeypatch):
    mv = factories.model_version(engine, "churn")
    for day in range(3):
        import_frame(engine, admin, "predictions", _predictions(40 * day, 40, day), f"day-{day}")
    _fold(engine)
    decoded: list[date] = []
    decode = day_summary_codec.from_bytes

    def counting(data: bytes, *args, **kwargs):
        summary = decode(data, *args, **kwargs)
        decoded.append(summary.day)
        return summary

    monkeypatch.setattr(summary_cache, "from_bytes", counting)
    _prefetch(engine, mv)
    assert len(decoded) == 3
    refs = summary_cache.day_refs(engine, mv, EVERY_DAY)
    assert all(d is not None for d in summary_cache.decoded(engine, mv, refs))

    decoded.clear()
    loads: list[int] = []
    load_days = summary_cache.load_days
    monkeypatch.setattr(
        summary_cache, "load_days", lambda e, v, r, *a, **k: loads.append(len(r)) or load_days(e, v, r, *a, **k)
    )
    _prefetch(engine, mv)  # the page's next rerun: every day is held decoded, none is even looked up again
    assert decoded == [] and loads == []

    # New predictions for the second day, folded by the refresh: that day alone is decoded again, and the
    # window the page reads holds them.
    import_frame(engine, admin, "predictions", _predictions(120, 25, 1), "day-1-late")
    _fold(engine)
    refs = summary_cache.day_refs(engine, mv, EVERY_DAY)
    held = summary_cache.decoded(engine, mv, refs)
    assert [r.day for r, d in zip(refs, held, strict=True) if d is None] == [refs[1].day]
    _prefetch(engine, mv)
    assert decoded == [refs[1].day] and loads == [1]
    window = summary_cache.window_summary(engine, mv, EVERY_DAY)
    assert window.n_rows == 145 and window.n_days == 3
