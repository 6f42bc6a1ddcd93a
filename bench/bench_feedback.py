"""The Feedback page at scale: 100,000 feedback items linked to predictions in a temporary SQLite file.

Targets (issue 4): first render of the Queue < 1.5 s and a filter change < 0.5 s (server-side,
AppTest run timings), bulk update of 1,000 items < 1 s (feedback_edits.update_items), theme clustering
of 100,000 texts < 30 s (themes.run_clustering).

.venv/bin/python bench/bench_feedback.py [--items 100000] [--keep]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from data import themes as demo_themes  # noqa: E402
from services.core import users
from services.core.db import make_engine, migrate  # noqa: E402
from services.core.roles import Actor, Role  # noqa: E402
from services.core.schema_feedback import Feedback
from services.core.schema_ingest import Outcome, Prediction
from services.core.schema_models import ModelVersion
from services.core.timeutil import utcnow  # noqa: E402
from services.feedback import edits as feedback_edits
from services.feedback import themes
from services.feedback import triage as feedback  # noqa: E402
from services.feedback.edits import Patch
from services.feedback.triage import QueueFilter

PASSWORD = "bench password 123"
ANALYST = "analyst@bench.test"
BATCH = 20_000


def build(url: str, n_items: int, seed: int = 7) -> dict[str, float]:
    """Migrate an empty database and fill it with n predictions, 60% outcomes and n feedback items
    (one per prediction), texts composed from the demo themes. Core bulk inserts, no ORM objects."""
    rng = np.random.default_rng(seed)
    engine = make_engine(url)
    migrate(engine)
    admin = users.create_first_admin(engine, "admin@bench.test", "Bench Admin", PASSWORD)
    boss = users.current_actor(engine, admin.id)
    for name in ("analyst", "ann", "bob", "cy"):
        users.add_user(engine, boss, f"{name}@bench.test", "analyst", PASSWORD)
    users.add_user(engine, boss, "viewer@bench.test", "viewer", PASSWORD)
    theme_list = list(demo_themes.THEMES.values())
    started = time.perf_counter()
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(
            sa.insert(ModelVersion.__table__),
            [{"model_name": "churn", "version": v, "created_by": "bench", "created_at": now, "status": s}
             for v, s in ((1, "archived"), (2, "champion"))],
        )  # fmt: skip
        mv_ids = [r[0] for r in conn.execute(sa.select(ModelVersion.id).order_by(ModelVersion.version))]
    platforms, regions, tiers = ("ios", "android", "web"), ("eu", "us", "apac"), ("free", "pro", "enterprise")
    statuses = ("new", "new", "new", "in_review", "labelled", "dismissed", "escalated")
    sources = ("in-app", "email", "support")
    assignee_ids = [None, None, None, None, 2, 3, 4]
    for first in range(0, n_items, BATCH):
        count = min(BATCH, n_items - first)
        idx = np.arange(first, first + count)
        age = rng.uniform(0, 90, count)
        ts = [now - timedelta(days=float(a)) for a in age]
        score = rng.random(count)
        preds, outs, items = [], [], []
        for j, i in enumerate(idx.tolist()):
            request_id = f"req-{i:07d}"
            platform = platforms[i % 3]
            preds.append({
                "request_id": request_id, "model_version_id": mv_ids[int(age[j] < 45)], "ts": ts[j],
                "score": float(score[j]), "predicted_label": int(score[j] >= 0.5),
                "features": {"tenure_months": int(i % 60), "sessions_7d": int(i % 23), "plan": tiers[i % 3]},
                "cohorts": {"platform": platform, "region": regions[(i // 3) % 3], "tier": tiers[(i // 9) % 3]},
            })  # fmt: skip
            if i % 5 < 3:
                outs.append({"request_id": request_id, "ts": ts[j], "actual_label": int(score[j] >= 0.4)})
            theme = theme_list[int(rng.integers(len(theme_list)))]
            status = statuses[i % len(statuses)]
            items.append({
                "feedback_id": f"fb-{i:07d}", "request_id": request_id, "ts": ts[j] + timedelta(minutes=5),
                "source": sources[i % 3], "rating": int(1 + i % 5), "text": demo_themes.compose(theme, rng),
                "redactions": 0, "status": status, "priority": ("low", "normal", "normal", "high")[i % 4],
                "corrected_label": int(score[j] >= 0.5) if status == "labelled" else None,
                "category": ("bug", "wrong prediction", None, None)[i % 4], "assignee_id": assignee_ids[i % 7],
                "version": 1, "updated_at": now, "updated_by": "bench",
            })  # fmt: skip
        with engine.begin() as conn:
            conn.execute(sa.insert(Prediction.__table__), preds)
            conn.execute(sa.insert(Outcome.__table__), outs)
            conn.execute(sa.insert(Feedback.__table__), items)
    engine.dispose()
    return {"seconds": time.perf_counter() - started}


def _timed(fn, repeat: int = 1) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def bench_page(url: str) -> dict[str, float]:
    """AppTest timings of the Feedback page, signed in as an analyst."""
    from streamlit.testing.v1 import AppTest

    from app import state
    from pages.feedback import context, keys

    os.environ["LOOPDECK_DATABASE_URL"] = url
    engine = make_engine(url)
    analyst = users.authenticate(engine, ANALYST, PASSWORD)
    engine.dispose()
    figures: dict[str, float] = {}
    firsts, changes, searches, reviews, theme_views, theme_views_again = [], [], [], [], [], []
    for _ in range(3):
        at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60)
        at.session_state[state.USER_ID] = analyst.user_id
        at.run()
        context.cached_facets.clear()  # a first render computes the filter choices too
        start = time.perf_counter()
        at.switch_page("pages/feedback/page.py").run()
        firsts.append(time.perf_counter() - start)
        assert not at.exception, at.exception
        assert at.data_editor, "no queue editor on the page"
        start = time.perf_counter()
        at.multiselect(key="fb_status").set_value(["new"]).run()
        changes.append(time.perf_counter() - start)
        assert not at.exception, at.exception
        start = time.perf_counter()
        at.text_input(key="fb_q").input("logs me out").run()
        searches.append(time.perf_counter() - start)
        assert not at.exception, at.exception
        start = time.perf_counter()
        at.segmented_control(key=keys.VIEW).set_value("Review").run()
        reviews.append(time.perf_counter() - start)
        context.cached_theme_volume.clear()  # the first visit reads the volumes
        start = time.perf_counter()
        at.segmented_control(key=keys.VIEW).set_value("Themes").run()
        theme_views.append(time.perf_counter() - start)
        assert not at.exception, at.exception
        at.segmented_control(key=keys.VIEW).set_value("Queue").run()
        start = time.perf_counter()
        at.segmented_control(key=keys.VIEW).set_value("Themes").run()
        theme_views_again.append(time.perf_counter() - start)
    figures["first render"] = statistics.median(firsts)
    figures["filter change"] = statistics.median(changes)
    figures["text search"] = statistics.median(searches)
    figures["review view"] = statistics.median(reviews)
    figures["themes view"] = statistics.median(theme_views)
    figures["themes view again"] = statistics.median(theme_views_again)
    return figures


def bench_services(url: str) -> dict[str, float]:
    engine = make_engine(url)
    actor = Actor(ANALYST, Role.analyst)
    figures: dict[str, float] = {}
    figures["list_queue (no filter)"], _ = _timed(lambda: feedback.list_queue(engine, limit=100), 3)
    figures["list_queue (status=new)"], _ = _timed(
        lambda: feedback.list_queue(engine, QueueFilter(statuses=("new",)), limit=100), 3
    )
    figures["page reads (no filter)"], _ = _timed(
        lambda: (feedback.queue_counts(engine), feedback.queue_rows(engine, limit=100)), 3
    )
    new = QueueFilter(statuses=("new",))
    figures["page reads (status=new)"], _ = _timed(
        lambda: (feedback.queue_counts(engine, new), feedback.queue_rows(engine, new, limit=100)), 3
    )
    figures["facets"], _ = _timed(lambda: feedback.facets(engine), 3)
    figures["queue_ids (review)"], _ = _timed(lambda: feedback.queue_ids(engine, new), 3)
    page = feedback.list_queue(engine, QueueFilter(statuses=("new",)), sort="oldest", limit=1000)
    versions = dict(zip(page.rows["id"].tolist(), page.rows["version"].tolist(), strict=True))
    figures["bulk update 1,000"], result = _timed(
        lambda: feedback_edits.update_items(engine, actor, versions, Patch(status="in_review", priority="high"))
    )
    assert result.changed == 1000, result
    figures["clustering"], clustering = _timed(lambda: themes.run_clustering(engine, actor, n_themes=8))
    figures["clustering (service's own)"] = clustering.seconds
    figures["list_themes"], _ = _timed(lambda: themes.list_themes(engine), 3)
    figures["theme_volume (W)"], _ = _timed(lambda: themes.theme_volume(engine, "W"), 3)
    engine.dispose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true", help="keep the database file and print its URL")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="bench_feedback_")
    url = f"sqlite:///{folder}/bench.db"
    try:
        built = build(url, args.items)
        print(f"built {args.items:,} predictions + feedback items in {built['seconds']:.1f} s")
        service = bench_services(url)
        page = bench_page(url)  # after clustering, so the theme filter has values
        print(f"{'measure':<36}{'seconds':>9}  target")
        rows = [
            ("Queue first render (AppTest)", page["first render"], "< 1.5"),
            ("Queue filter change (AppTest)", page["filter change"], "< 0.5"),
            ("Queue text search (AppTest)", page["text search"], ""),
            ("Review view (AppTest)", page["review view"], ""),
            ("Themes view, first visit (AppTest)", page["themes view"], ""),
            ("Themes view, again (AppTest)", page["themes view again"], "(volumes cached 2 min)"),
            ("bulk update 1,000 items", service["bulk update 1,000"], "< 1"),
            (f"theme clustering {args.items:,} texts", service["clustering"], "< 30"),
            ("  feedback.list_queue, no filter", service["list_queue (no filter)"], ""),
            ("  feedback.list_queue, status=new", service["list_queue (status=new)"], ""),
            ("  page reads, no filter", service["page reads (no filter)"], "(feedback.queue_counts + queue_rows)"),
            ("  page reads, status=new", service["page reads (status=new)"], ""),
            ("  feedback.queue_ids, status=new", service["queue_ids (review)"], ""),
            ("  facets", service["facets"], ""),
            ("  list_themes", service["list_themes"], ""),
            ("  theme_volume (weekly)", service["theme_volume (W)"], ""),
        ]
        for name, seconds, target in rows:
            print(f"{name:<36}{seconds:>9.3f}  {target}")
        if args.keep:
            print(f"database kept: {url}")
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
