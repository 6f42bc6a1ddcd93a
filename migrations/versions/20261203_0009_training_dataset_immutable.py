"""training datasets: versions are immutable in the database, not only by convention

BEFORE UPDATE and BEFORE DELETE triggers on training_dataset and training_dataset_item refuse every
change to a created version (SQLite: RAISE(ABORT); Postgres: a plpgsql function that raises).
services.core.schema attaches the same triggers to tables made by metadata.create_all. A later SQLite
batch migration of these tables recreates them, so it must create the triggers again.

Revision ID: 0009_dataset_immutable
Revises: 0008_experiment_cohorts
Create Date: 2026-12-03 13:00:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0009_dataset_immutable'
down_revision: str | None = '0008_experiment_cohorts'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ('training_dataset', 'training_dataset_item')


def _message(table: str) -> str:
    return f'{table} rows are immutable: a training dataset version never changes once created'


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == 'sqlite':
        for table in TABLES:
            for action in ('UPDATE', 'DELETE'):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{action} refused: {_message(table)}'); END"
                )
    elif dialect == 'postgresql':
        op.execute(
            "CREATE OR REPLACE FUNCTION loopdeck_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION USING MESSAGE = TG_OP || ' refused: ' || TG_ARGV[0]; END $$"
        )
        for table in TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION loopdeck_refuse_change('{_message(table)}')"
            )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == 'sqlite':
        for table in TABLES:
            for action in ('update', 'delete'):
                op.execute(f'DROP TRIGGER IF EXISTS {table}_no_{action}')
    elif dialect == 'postgresql':
        for table in TABLES:
            op.execute(f'DROP TRIGGER IF EXISTS {table}_immutable ON {table}')
        op.execute('DROP FUNCTION IF EXISTS loopdeck_refuse_change()')
