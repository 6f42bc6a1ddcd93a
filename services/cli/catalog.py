"""Create what imports refer to, from the shell (as Actor.cli()), so a fresh database can take the sample
files (and a pipeline can script its set-up):

    python -m services models register --name NAME --feature-schema JSON [--metrics JSON] [--code REF]
                                       [--artifact FILE.skops]
    python -m services experiments-create --key KEY --name NAME --variants control,treatment
                                          --primary-metric METRIC [--metric-type conversion|continuous]

`models register` registers the next version of a model trained elsewhere (the same service as the
Models page's Register view and POST /api/v1/models/{name}/versions); `experiments-create` registers a
draft experiment with equal allocations (the Experiments page designs richer ones).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def _json_object(text: str, what: str) -> dict[str, Any]:
    from services.core.errors import InvalidInput

    try:
        value = json.loads(text or "{}")
    except ValueError as exc:
        raise InvalidInput(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidInput(f"{what} must be a JSON object.")
    return value


def configure_models(p: argparse.ArgumentParser) -> None:
    p.description = "Models: register a version trained elsewhere."
    sub = p.add_subparsers(dest="models_command", required=True)
    reg = sub.add_parser("register", help="register the next version of a model trained elsewhere")
    reg.add_argument("--name", required=True, help="model name, e.g. demo-churn")
    reg.add_argument(
        "--feature-schema", required=True, help='JSON, e.g. \'{"tenure": "numeric", "plan": "categorical"}\''
    )
    reg.add_argument("--metrics", default="{}", help="overall metrics as JSON, e.g. '{\"roc_auc\": 0.81}'")
    reg.add_argument("--code", default="", help="code reference (commit, URL)")
    reg.add_argument("--artifact", type=Path, default=None, help="a skops file (its SHA-256 is recorded)")


def run_models(args: argparse.Namespace) -> int:
    import hashlib

    from services.core.db import make_engine
    from services.core.roles import Actor
    from services.models import external

    info = external.ExternalVersion(
        feature_schema=_json_object(args.feature_schema, "--feature-schema"),
        metrics=_json_object(args.metrics, "--metrics"), code_reference=args.code,
    )  # fmt: skip
    data = args.artifact.read_bytes() if args.artifact else None
    digest = hashlib.sha256(data).hexdigest() if data is not None else None
    engine = make_engine()
    try:
        row = external.register_external_version(engine, Actor.cli(), args.name, info, data, digest)
    finally:
        engine.dispose()
    print(f"Registered {row.model_name} v{row.version} (candidate).")
    return 0


def configure_experiments_create(p: argparse.ArgumentParser) -> None:
    p.description = "Register a draft experiment with equal allocations."
    p.add_argument("--key", required=True, help="e.g. exp-demo-offer")
    p.add_argument("--name", required=True)
    p.add_argument("--variants", required=True, help="comma separated; the one called control is the control")
    p.add_argument("--primary-metric", required=True)
    p.add_argument("--metric-type", default="conversion", choices=["conversion", "continuous"])
    p.add_argument("--hypothesis", default="")


def run_experiments_create(args: argparse.Namespace) -> int:
    from services.core.db import make_engine
    from services.core.roles import Actor
    from services.experiments import lifecycle

    keys = [v.strip() for v in args.variants.split(",") if v.strip()]
    variants = [{"key": k, "model_version_id": None, "allocation": 1 / len(keys)} for k in keys] if keys else []
    engine = make_engine()
    try:
        exp = lifecycle.register_experiment(engine, Actor.cli(), args.key, args.name, args.hypothesis, variants,
                                            args.primary_metric, metric_type=args.metric_type)  # fmt: skip
    finally:
        engine.dispose()
    print(f"Registered experiment {exp.key} ({len(keys)} variants, draft).")
    return 0


COMMANDS = {
    "models": (configure_models, run_models),
    "experiments-create": (configure_experiments_create, run_experiments_create),
}
