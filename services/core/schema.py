"""The data model: imports every table module so SQLModel.metadata holds every table.

The SQLModel tables live in one module per loop stage (import a table from its module):
- schema_accounts: User, Setting, AuditEvent, AuditHead
- schema_models: ModelVersion, Deployment, ShadowScore
- schema_ingest: Prediction, Outcome
- schema_feedback: Feedback, Theme, TrainingDataset, TrainingDatasetItem (immutable, with their triggers)
- schema_experiments: Experiment, Exposure, MetricObservation and the readout rollups
- schema_monitoring: AlertRule, Alert, DriftOverride, DerivedSummary, MonitoringBlock, MonitoringSync
- schema_governance: ApprovalRequest, ApprovalDecision
- schema_backlog: BacklogItem, BacklogEvidence, BacklogProposal
- tokens_schema: ApiToken and the API's idempotency records
- schema_sessions: AuthSession (browser sign-in sessions), SignInThrottle (failed sign-in delays)
(schema_columns holds the JSON column helper they share.)

Why this module exists: a table is on SQLModel.metadata only once its module has been imported, and
foreign keys name tables of other modules (an alert points at a rule, an experiment, a model version
and a backlog item). Everything that needs the whole model imports this one module: Alembic's
migrations/env.py (autogenerate), metadata.create_all (tests, the demo), the migration check of
tests/services/core/test_migrations.py, and services/core/db.py, so any process that opens a session has
every table registered, whichever feature it loaded first. It holds no table and no name of its own.

Conventions: timestamps are aware UTC; JSON columns hold plain dicts/lists (JSONB on Postgres);
natural ids (request_id, feedback_id, ...) are unique so imports are idempotent. The schema is only
ever changed through Alembic migrations.
"""

from services.core import (  # noqa: F401  (imported to register their tables on SQLModel.metadata)
    schema_accounts,
    schema_backlog,
    schema_experiments,
    schema_feedback,
    schema_governance,
    schema_ingest,
    schema_models,
    schema_monitoring,
    schema_retention,
    schema_sessions,
    tokens_schema,
)
