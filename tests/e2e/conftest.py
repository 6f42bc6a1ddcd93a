"""What every browser test module shares, once per test process (xdist worker), built on first use:

- `browser`: one headless Chromium (tests/e2e/harness.py) while the package's modules run. Tests stay
  isolated by their browser *contexts* (harness.new_page makes a fresh one: cookies, storage), not by
  browser processes; a Chromium start per module cost ~4 CPU seconds for nothing.
- `demo_server`: one `streamlit run` on a private copy of the run's demo (scale 0.1, monitoring blocks
  built; tests/demo_cache.py), for every module that only reads the demo or whose writes no other module
  asserts on. A server start (UI + worker) costs ~14 CPU seconds; eight modules used to start their own
  on the same demo. It has no job worker: none of its modules starts a job (their runs left the job
  table empty; the blocks are built, so Monitoring asks for no refresh), and an idle worker polls twice
  a second for the whole run (~50 CPU seconds in a 25-minute run on the loaded box). A module that
  starts a job (import, retraining, rule evaluation) keeps a server of its own, with a worker.

The shared demo's ground rules, so that modules pass in any order and on any worker: a module on
`demo_server` never changes what another module on it reads (champion, settings, users, roles,
passwords, the open alerts and their order, the demo's feedback), and writes only objects of its own:
  - test_analyst_flow_browser: the churn model's one open retrain request (from the champion's alert);
  - test_backlog_browser: backlog item #4 (the app_latency_ms drift proposal, accepted);
  - test_experiments_browser: experiment churn-model-v3-ab (registered, stopped, concluded) and its stop
    request;
  - test_session_browser: its own sessions (signing out revokes the cookie of that sign-in only).
A module that changes shared state (test_governance_browser promotes and rolls back the champion and
changes the approvals setting; test_monitoring_browser forgets the blocks and evaluates a rule of its own)
keeps a server of its own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import demo_cache
from tests.e2e import harness

DEMO_SCALE = 0.1


# Package, not session: while Playwright's sync API lives it keeps an asyncio loop running in this thread, so a
# later non-browser test in the same process that calls asyncio.run (the job worker's run_once) failed with
# "asyncio.run() cannot be called from a running event loop". The browser ends with the e2e package.
@pytest.fixture(scope="package")
def browser() -> Iterator[object]:
    sync_api = harness.skip_without_browser()
    with harness.chromium(sync_api) as chromium:
        yield chromium


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory) -> Iterator[harness.Server]:
    """The shared demo server of this test process (see the module doc for what its users may write)."""
    from services.models import registry

    folder = tmp_path_factory.mktemp("e2e-shared-demo")
    path = demo_cache.copy_demo(folder / "loopdeck.db", DEMO_SCALE, blocks=True)
    # What the server writes (new model artifacts, routing files) stays in its own folder.
    env = {registry.ARTIFACT_DIR_ENV: str(folder / "artifacts"), "LOOPDECK_ROUTING_DIR": str(folder / "routing")}
    with harness.running_app(f"sqlite:///{path}", folder, env, worker=False) as running:
        yield running
