"""The Feedback page's fast queue reads (services.feedback.triage: queue_rows, queue_counts) agree with
one plain joined query and with list_queue, on SQLite and (with LOOPDECK_TEST_POSTGRES_URL) on Postgres;
and the near-duplicates of an item."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from services.core.db import make_engine, write_session
from services.core.schema_feedback import Feedback
from services.core.timeutil import utcnow
from services.feedback import triage as feedback
from services.feedback.triage import QueueFilter
from tests.conftest import POSTGRES_URL, drop_database, fresh_postgres_url
from tests.services import factories

# --- the queue's two-step reads agree with one plain joined query ---------------------------------


def _reference_queue(engine, flt, sort, limit, offset, now):
    """The straightforward way: every join, one query for the page, one for each count."""
    from sqlmodel import func, select

    from services.core.db import read_session

    _, cutoff = feedback._sla_cutoff(engine, now)
    with read_session(engine) as session:
        query = feedback._apply_filter(
            feedback._joined(select(*feedback.QUEUE_COLUMNS).select_from(Feedback)), flt, cutoff
        )
        rows = session.exec(query.order_by(feedback.SORTS[sort], Feedback.id.desc()).limit(limit).offset(offset)).all()
        count = feedback._apply_filter(feedback._joined(select(func.count()).select_from(Feedback)), flt, cutoff)
        total = session.exec(count).one()
        overdue = session.exec(
            feedback._apply_filter(
                feedback._joined(select(func.count()).select_from(Feedback)), replace(flt, overdue_only=True), cutoff
            )
        ).one()
    return [r.id for r in rows], total, overdue


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def reads_queue(request, tmp_path_factory) -> Iterator[Engine]:
    """One seeded queue per database kind for the module: the 120 read comparisons below only read it,
    so it is built once instead of once per case (each build ~0.08 CPU-s). Postgres gets a database of
    its own, as the shared per-test one is wiped by the `engine` fixture of other tests."""
    if request.param == "postgres":
        if not POSTGRES_URL:
            pytest.skip("LOOPDECK_TEST_POSTGRES_URL is not set: Postgres runs are skipped")
        url = fresh_postgres_url("fb_queue_reads")
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('queue-reads') / 'test.db'}"
    engine = make_engine(url)
    SQLModel.metadata.create_all(engine)
    mv = factories.model_version(engine)
    request_ids = factories.predictions(engine, mv, 6)
    factories.outcome(engine, request_ids[0], 1)
    factories.feedback(engine, 8, request_ids)
    factories.feedback(engine, 3, request_ids, age_days=5, source="email")
    factories.feedback(engine, 2, None, source="web", status="labelled", corrected_label=0)
    yield engine
    engine.dispose()
    if request.param == "postgres":
        drop_database(url)


@pytest.mark.parametrize(
    "flt",
    [
        QueueFilter(),
        QueueFilter(statuses=("new",)),
        QueueFilter(sources=("email",), overdue_only=True),
        QueueFilter(cohort=(("platform", "ios"),), has_outcome=False),
        QueueFilter(cohort=(("platform", "ios"), ("platform", "web")), ratings=(1, 2)),
        QueueFilter(text="NUMBER 1", ratings=(1, 2, 3)),
        QueueFilter(assignee=feedback.UNASSIGNED, model_version_ids=(1,)),
        QueueFilter(has_outcome=True),
        QueueFilter(statuses=("labelled",)),
        QueueFilter(score_min=0.2, score_max=0.4, predicted_labels=(0,)),
        QueueFilter(actual_labels=(1,), text="50%"),
        QueueFilter(predicted_labels=(1,), sources=("app",), until=utcnow() - timedelta(days=1)),
    ],
)
@pytest.mark.parametrize("sort", list(feedback.SORTS))
def test_fast_queue_reads_match_list_queue(reads_queue, flt, sort):
    """On SQLite and (with LOOPDECK_TEST_POSTGRES_URL) on Postgres."""
    engine = reads_queue
    now = utcnow()
    ids, total, overdue = _reference_queue(engine, flt, sort, limit=5, offset=2, now=now)
    rows = feedback.queue_rows(engine, flt, sort, limit=5, offset=2, now=now)
    assert list(rows["id"]) == ids
    counts = feedback.queue_counts(engine, flt, now=now)
    assert (counts.total, counts.overdue) == (total, overdue)
    new = feedback.list_queue(engine, replace(flt, statuses=("new",)), now=now).total
    assert counts.untriaged == (0 if flt.statuses and "new" not in flt.statuses else new)


def test_duplicates_of_an_item(engine):
    pks = factories.feedback(engine, 4)
    assert feedback.duplicates(engine, pks[0]).empty
    with write_session(engine) as session:
        for pk in pks[:3]:
            row = session.get(Feedback, pk)
            row.duplicate_group = pks[0]
            session.add(row)
    assert sorted(feedback.duplicates(engine, pks[1])["id"]) == [pks[0], pks[2]]
