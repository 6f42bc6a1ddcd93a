"""Themes on the feedback table, renames that survive re-clustering, backlog items from a theme,
and immutable, versioned training sets."""

import os

import numpy as np
import pytest
import sqlalchemy as sa

from data import themes as demo_themes
from services.backlog import items as backlog
from services.core import audit, schema_feedback
from services.core.db import make_engine, migrate, write_session
from services.core.errors import InvalidInput, PermissionDenied
from services.core.roles import Actor, Role
from services.core.schema_feedback import Feedback
from services.core.timeutil import utcnow
from services.feedback import edits as feedback_edits
from services.feedback import themes, training_sets
from services.feedback import triage as feedback
from services.feedback.edits import Patch
from services.stats.text_themes import purity
from tests.services import factories

ANA = Actor("ana@example.com", Role.analyst)
VIC = Actor("vic@example.com", Role.viewer)


@pytest.fixture
def planted(engine):
    """300 feedback texts from the demo's themes, truth kept aside; half linked to predictions."""
    rng = np.random.default_rng(3)
    keys = list(demo_themes.THEMES)
    truth = rng.choice(keys, size=300)
    mv = factories.model_version(engine)
    request_ids = factories.predictions(engine, mv, 150)
    with write_session(engine) as session:
        for i, key in enumerate(truth):
            session.add(
                Feedback(
                    feedback_id=f"fb-{i}", ts=utcnow(), text=demo_themes.compose(demo_themes.THEMES[key], rng),
                    rating=1 if key == "mobile_app" else 4, request_id=request_ids[i] if i < 150 else None,
                )
            )  # fmt: skip
    return truth


def test_clustering_assigns_every_item_and_finds_the_planted_themes(engine, planted):
    result = themes.run_clustering(engine, ANA, n_themes=6)
    assert result.assigned == 300 and len(result.themes) == 6
    with engine.connect() as conn:
        assigned = conn.execute(sa.text("SELECT theme_id FROM feedback ORDER BY id")).scalars().all()
    assert None not in assigned
    assert purity(np.array(assigned), planted) >= 0.8
    listing = themes.list_themes(engine)
    assert listing["items"].sum() == 300
    mobile = listing.loc[listing["negative_share"] == 1.0]
    assert len(mobile) >= 1  # the mobile theme is all negative in this fixture
    assert audit.count_events(engine, audit.AuditFilter(action="theme.cluster")) == 1


def test_rename_survives_a_second_run(engine, planted):
    first = themes.run_clustering(engine, ANA, n_themes=6)
    themes.rename_theme(engine, ANA, first.themes[0].id, "Login trouble")
    second = themes.run_clustering(engine, ANA, n_themes=6)
    assert "Login trouble" in [t.label for t in second.themes]
    assert len(themes.list_themes(engine)) == 6  # only the active run is listed


def test_theme_views(engine, planted):
    result = themes.run_clustering(engine, ANA, n_themes=6)
    volume = themes.theme_volume(engine, "D")
    assert volume["items"].sum() == 300
    theme_id = result.themes[0].id
    by_platform = themes.theme_mix(engine, theme_id, "platform")
    assert set(by_platform["value"]) <= {"ios", "web"}
    by_model = themes.theme_mix(engine, theme_id, "model")
    assert set(by_model["value"]) == {"churn v1"} or by_model.empty


def test_backlog_item_from_a_theme_carries_its_evidence(engine, planted):
    result = themes.run_clustering(engine, ANA, n_themes=6)
    theme = result.themes[0]
    item = themes.create_backlog_item(engine, ANA, title="Fix it", theme_id=theme.id)
    assert item.source_type == "theme" and item.source_id == str(theme.id)
    assert item.evidence["feedback_items"] == theme.size and item.reach == theme.size
    assert len(backlog.list_items(engine, "theme")) == 1
    with pytest.raises(PermissionDenied):
        themes.create_backlog_item(engine, VIC, title="Nope", theme_id=theme.id)


def test_viewers_cannot_cluster_or_rename(engine, planted):
    with pytest.raises(PermissionDenied):
        themes.run_clustering(engine, VIC)
    with pytest.raises(InvalidInput):
        themes.run_clustering(engine, ANA, n_themes=1)
    theme = themes.run_clustering(engine, ANA, n_themes=6).themes[0]
    with pytest.raises(PermissionDenied):
        themes.rename_theme(engine, VIC, theme.id, "Viewer's name")
    with pytest.raises(InvalidInput, match="1 to 200 characters"):
        themes.rename_theme(engine, ANA, theme.id, "   ")
    assert theme.label in set(themes.list_themes(engine)["label"])
    assert "Viewer's name" not in set(themes.list_themes(engine)["label"])
    assert audit.count_events(engine, audit.AuditFilter(action="theme.rename")) == 0
    renamed = themes.rename_theme(engine, ANA, theme.id, "Analyst's name")
    assert renamed.label == "Analyst's name" and renamed.renamed
    assert audit.count_events(engine, audit.AuditFilter(action="theme.rename")) == 1


def _label(engine, pks, label):
    page = feedback.list_queue(engine, limit=1000).rows.set_index("id")
    feedback_edits.update_items(
        engine, ANA, {pk: int(page.loc[pk, "version"]) for pk in pks}, Patch(status="labelled", corrected_label=label)
    )


def test_training_set_versions_are_immutable_snapshots(engine, planted):
    with engine.connect() as conn:
        pks = conn.execute(sa.text("SELECT id FROM feedback WHERE request_id IS NOT NULL ORDER BY id")).scalars().all()
    _label(engine, pks[:10], 0)
    assert training_sets.eligible_count(engine) == 10
    v1 = training_sets.create_dataset(engine, ANA, "mobile-fix")
    assert v1.version == 1 and v1.item_count == 10 and v1.label_counts == {"0": 10}
    # Later labels make a new version; v1 keeps its rows.
    _label(engine, pks[10:15], 1)
    v2 = training_sets.create_dataset(engine, ANA, "mobile-fix")
    assert v2.version == 2 and v2.item_count == 15
    assert len(training_sets.dataset_items(engine, v1.id)) == 10
    assert training_sets.verify_dataset(engine, v1.id).intact
    items = training_sets.dataset_items(engine, v2.id)
    assert set(items["label"]) == {0, 1} and items["features"].notna().all()
    assert set(items["labelled_by"]) == {"ana@example.com"}
    # The database refuses to change a version (see test_the_database_refuses_to_change_a_version).
    with pytest.raises(sa.exc.DBAPIError, match="immutable"), engine.begin() as conn:
        conn.execute(sa.text("UPDATE training_dataset_item SET label = 1 WHERE dataset_id = :d"), {"d": v1.id})
    assert training_sets.verify_dataset(engine, v1.id).intact


def _without_the_triggers(engine, statement: str, params: dict) -> None:
    """Run `statement` with the immutability triggers dropped, and put them back in the same
    transaction (DDL is transactional on SQLite and Postgres): what someone with DDL rights could do."""
    dialect = engine.dialect.name
    tables = ("training_dataset", "training_dataset_item")
    with engine.begin() as conn:
        for table in tables:
            for ddl in schema_feedback.drop_immutable_table_ddl(table, dialect):
                conn.exec_driver_sql(ddl)
        conn.execute(sa.text(statement), params)
        for table in tables:
            for ddl in schema_feedback.immutable_table_ddl(table, dialect):
                conn.exec_driver_sql(ddl)


def test_tampering_behind_the_triggers_is_detected_by_the_hash(engine, planted):
    with engine.connect() as conn:
        pks = conn.execute(sa.text("SELECT id FROM feedback WHERE request_id IS NOT NULL ORDER BY id")).scalars().all()
    _label(engine, pks[:6], 0)
    v1 = training_sets.create_dataset(engine, ANA, "tamper")
    assert training_sets.verify_dataset(engine, v1.id).intact
    _without_the_triggers(engine, "UPDATE training_dataset_item SET label = 1 WHERE dataset_id = :d", {"d": v1.id})
    check = training_sets.verify_dataset(engine, v1.id)
    assert not check.intact and check.expected == v1.content_sha256 and check.actual != check.expected
    # The triggers are back.
    with pytest.raises(sa.exc.DBAPIError, match="immutable"), engine.begin() as conn:
        conn.execute(sa.text("UPDATE training_dataset_item SET label = 0 WHERE dataset_id = :d"), {"d": v1.id})


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE training_dataset SET item_count = 99 WHERE id = :d",
        "UPDATE training_dataset SET content_sha256 = 'x' WHERE id = :d",
        "DELETE FROM training_dataset WHERE id = :d",
        "UPDATE training_dataset_item SET label = 1 - label WHERE dataset_id = :d",
        "UPDATE training_dataset_item SET request_id = NULL WHERE dataset_id = :d",
        "DELETE FROM training_dataset_item WHERE dataset_id = :d",
    ],
)
def test_the_database_refuses_to_change_a_version(engine, planted, statement):
    """Not only by convention: any UPDATE or DELETE of a dataset or its rows fails in the database."""
    with engine.connect() as conn:
        pks = conn.execute(sa.text("SELECT id FROM feedback WHERE request_id IS NOT NULL ORDER BY id")).scalars().all()
    _label(engine, pks[:4], 1)
    dataset = training_sets.create_dataset(engine, ANA, "locked")
    with pytest.raises(sa.exc.DBAPIError, match="refused: training_dataset"), engine.begin() as conn:
        conn.execute(sa.text(statement), {"d": dataset.id})
    (kept,) = training_sets.list_datasets(engine)
    assert (kept.item_count, kept.content_sha256) == (4, dataset.content_sha256)
    assert len(training_sets.dataset_items(engine, dataset.id)) == 4
    assert training_sets.verify_dataset(engine, dataset.id).intact
    # New versions can still be made (INSERT is not refused).
    assert training_sets.create_dataset(engine, ANA, "locked").version == 2


@pytest.fixture(params=["sqlite", "postgres"])
def migrated_engine(request, tmp_path):
    """An empty database brought to head by the migrations (the triggers come from migration 0009)."""
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'migrated.db'}")
        migrate(eng)
        yield eng
        eng.dispose()
        return
    postgres_url = os.environ.get("LOOPDECK_TEST_POSTGRES_URL")
    if not postgres_url:
        pytest.skip("LOOPDECK_TEST_POSTGRES_URL is not set: Postgres runs are skipped")
    base = sa.engine.make_url(postgres_url)
    name = f"{base.database}_immutable_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    eng = make_engine(base.set(database=name).render_as_string(hide_password=False))
    try:
        migrate(eng)
        yield eng
    finally:
        eng.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def test_the_migrated_schema_refuses_to_change_a_version(migrated_engine):
    engine = migrated_engine
    pks = factories.feedback(engine, 3, factories.predictions(engine, factories.model_version(engine), 3))
    _label(engine, pks, 1)
    dataset = training_sets.create_dataset(engine, ANA, "migrated")
    for statement in (
        "UPDATE training_dataset SET name = 'other' WHERE id = :d",
        "DELETE FROM training_dataset_item WHERE dataset_id = :d",
        "UPDATE training_dataset_item SET label = 0 WHERE dataset_id = :d",
    ):
        with pytest.raises(sa.exc.DBAPIError, match="refused: training_dataset"), engine.begin() as conn:
            conn.execute(sa.text(statement), {"d": dataset.id})
    assert training_sets.verify_dataset(engine, dataset.id).intact


def test_training_set_refuses_unlabelled_items_and_viewers(engine, planted):
    with engine.connect() as conn:
        pks = conn.execute(sa.text("SELECT id FROM feedback WHERE request_id IS NOT NULL ORDER BY id")).scalars().all()
    _label(engine, pks[:2], 1)
    with pytest.raises(InvalidInput, match="not labelled"):
        training_sets.create_dataset(engine, ANA, "x", feedback_pks=pks[:3])
    with pytest.raises(PermissionDenied):
        training_sets.create_dataset(engine, VIC, "x")
    assert training_sets.list_datasets(engine) == []
    ds = training_sets.create_dataset(engine, ANA, "x", feedback_pks=pks[:2])
    assert ds.item_count == 2
    assert audit.list_events(engine, audit.AuditFilter(action="dataset.create"))["subject_id"].tolist() == [str(ds.id)]
