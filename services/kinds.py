"""The request kinds of every feature, registered in one place (the bootstrap of governance's registry).

Governance (services/governance) knows no feature: each feature registers its kinds from its own
package when that module is imported (services/models/requests.py: promote, canary, rollback,
retrain; services/experiments/requests.py: stop-experiment). This module sits above all of them and
imports them; every entry point calls `load()` once at start (the shell, services/cli/main.py; the
app, streamlit_app.py; the tests, tests/conftest.py; the API, api/main.py; the worker when a job first
needs them, worker/loop_tasks.py), so which kinds exist never depends on which module someone happened
to import first. Without it, governance refuses any request with a message that names this function.
"""

from __future__ import annotations

from services.core import settings
from services.experiments import requests as experiment_requests
from services.governance import kinds
from services.models import requests as model_requests

FEATURE_MODULES = (model_requests, experiment_requests)  # imported above: importing registers their kinds


def load() -> tuple[str, ...]:
    """Make sure every feature's kinds are registered; their names. The admin's approval settings name
    the same kinds (services.core.settings.APPROVAL_KINDS): a kind added to one and not the other fails here."""
    kinds.order(settings.APPROVAL_KINDS)  # the settings' order, whatever the import order was
    names = kinds.names()
    if set(names) != set(settings.APPROVAL_KINDS):
        raise RuntimeError(f"Registered request kinds {names} differ from the settings' {settings.APPROVAL_KINDS}.")
    return names
