"""What every browser test needs: a `streamlit run` of the app on a free port against a given database,
Debian's Chromium driven by Playwright, and the waits that make Streamlit pages testable.

A module imports `skip_without_browser()` first (it skips the whole module, with the reason, where
Chromium or Playwright is missing), then uses `running_app(url, folder)` in a module-scoped fixture
and `chromium()` / `new_page(browser)` for the browser.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from app.session_cookie import SESSION_PATH
from tests import demo_cache
from tests.e2e import jobs as job_waits
from tests.processes import Startup

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
# Software compositing and raster without the GPU process's emulated GL (Debian's wrapper adds
# --enable-gpu-rasterization): the browser's CPU on the every-page walk fell 5-9% (43.6 -> 39.8 and
# 45.2 -> 42.9 CPU-s in two A/B pairs), mostly the GPU process's.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-gpu-compositing", "--disable-gpu-rasterization",
]  # fmt: skip


def skip_without_browser():
    """The Playwright sync API, or skip the calling module with the reason."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed: browser tests are skipped", allow_module_level=True)
    return pytest.importorskip("playwright.sync_api", reason="Playwright is not installed: browser tests are skipped")


@dataclass(frozen=True)
class Server:
    base: str  # http://127.0.0.1:<port>
    db_url: str


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path, cpu_seconds: float) -> None:
    startup = Startup(proc, "streamlit", log, cpu_seconds)
    while True:
        startup.check()
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as response:
                if response.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.2)


@contextmanager
def running_app(
    db_url: str,
    folder: Path,
    env: dict[str, str] | None = None,
    startup_cpu_seconds: float = 60,
    *,
    worker: bool = True,
) -> Iterator[Server]:
    """What `python3 run.py app` starts, against db_url: `streamlit run server.py` (streamlit_app.py plus the
    session-cookie routes) on a free port and the job worker (imports and retraining run there); both
    stopped (process groups) on exit. Their output goes to folder/streamlit.log and folder/worker.log,
    quoted when the UI fails to start (Startup: it exits, hangs or burns startup_cpu_seconds). A test that
    never starts a job (the sign-in gate) passes worker=False: a worker costs a process start and a poll
    twice a second for nothing."""
    port, log = free_port(), folder / "streamlit.log"
    environment = {**os.environ, "LOOPDECK_DATABASE_URL": db_url, **(env or {})}
    command = [
        sys.executable, "-m", "streamlit", "run", "server.py", "--server.headless", "true",
        "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
    ]  # fmt: skip
    jobs = _start(["-m", "services", "worker", "--tick", "0.5"], environment, folder / "worker.log") if worker else None
    proc = _start(command[1:], environment, log)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_healthy(base, proc, log, startup_cpu_seconds)
        if jobs is not None:
            job_waits.register(base, jobs, folder / "worker.log", db_url)
        yield Server(base, db_url)
    finally:
        _stop(proc)
        if jobs is not None:
            _stop(jobs)


@contextmanager
def running_api(db_url: str, folder: Path, startup_cpu_seconds: float = 60) -> Iterator[str]:
    """`python -m services api` (uvicorn) against db_url on a free port, as `python3 run.py app` starts it;
    yields its base URL (http://127.0.0.1:<port>) once /api/v1/health answers, stopped on exit. Its output
    goes to folder/api.log, quoted when it fails to start (Startup: it exits, hangs or burns
    startup_cpu_seconds)."""
    port, log = free_port(), folder / "api.log"
    environment = {**os.environ, "LOOPDECK_DATABASE_URL": db_url, "LOOPDECK_API_PORT": str(port)}
    proc = _start(["-m", "services", "api"], environment, log)
    base = f"http://127.0.0.1:{port}"
    try:
        startup = Startup(proc, "the API", log, startup_cpu_seconds)
        while True:
            startup.check()
            try:
                with urllib.request.urlopen(f"{base}/api/v1/health", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.2)
        yield base
    finally:
        _stop(proc)


def _start(arguments: list[str], environment: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, *arguments], cwd=ROOT, env=environment, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@contextmanager
def chromium(sync_api) -> Iterator[object]:
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def artifacts_folder() -> Path:
    """Where failing browser tests leave their screenshots: $LOOPDECK_E2E_ARTIFACTS, else test-artifacts/e2e
    under the repository (git-ignored). CI keeps this folder as the run's artifacts (.ci/run)."""
    return Path(os.environ.get("LOOPDECK_E2E_ARTIFACTS") or ROOT / "test-artifacts" / "e2e")


def save_screenshots(context, test: str | None = None) -> list[Path]:
    """A full-page screenshot of every open page of a browser context, named after the running test
    (PYTEST_CURRENT_TEST); never raises (it runs while a failure is being reported)."""
    name = test or os.environ.get("PYTEST_CURRENT_TEST", "browser-test").split(" ")[0]
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")[:150]
    folder, saved = artifacts_folder(), []
    for index, page in enumerate(context.pages):
        target = folder / f"{stem}-page{index}.png"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(target), full_page=True, timeout=10_000)
            saved.append(target)
        except Exception as exc:  # noqa: BLE001 - a screenshot must not hide the test's own failure
            print(f"could not save a screenshot of {page.url}: {exc}", file=sys.stderr)
    if saved:
        print("screenshots of the failing browser test: " + ", ".join(map(str, saved)), file=sys.stderr)
    return saved


@contextmanager
def new_page(sync_api, browser, timeout_ms: int = 20_000, width: int = 1400, height: int = 900) -> Iterator[object]:
    """A page in a fresh context, with `timeout_ms` for every action and expectation, whose script runs
    `settled()` follows (see ScriptRuns). When the test fails inside the `with` block, every page of the
    context is saved as a screenshot (save_screenshots) before the context closes."""
    context = browser.new_context(viewport={"width": width, "height": height})
    page = another_tab(sync_api, context, timeout_ms)
    try:
        yield page
    except (Exception, pytest.fail.Exception):
        save_screenshots(context)
        raise
    finally:
        for opened in context.pages:
            _RUNS.pop(opened, None)
        context.close()


def another_tab(sync_api, context, timeout_ms: int = 20_000):
    """A new page (tab) of a browser context whose script runs `settled()` follows from its first request."""
    page = context.new_page()
    page.set_default_timeout(timeout_ms)
    sync_api.expect.set_options(timeout=timeout_ms)
    _RUNS[page] = ScriptRuns(timeout_ms)
    page.on("websocket", _RUNS[page].follow)
    return page


SESSION_COOKIE = "loopdeck_session"


def sign_in(sync_api, page, base: str, email: str, password: str, *, refused: bool = False) -> None:
    """Sign in at base and wait for the session cookie: the page trades its one-time code for the cookie
    with a POST right after the sign-in run, so a test that opens another address (page.goto, a new tab)
    before that lands signed out. refused=True: a sign-in the test expects to fail (no cookie to wait for)."""
    expect = sync_api.expect
    page.goto(base)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_role("textbox", name="E-mail").fill(email)
    page.get_by_role("textbox", name="Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    if not refused:
        wait_for_session_cookie(page)


def session_cookie(context) -> dict | None:
    return next((c for c in context.cookies() if c["name"] == SESSION_COOKIE), None)


def wait_for_session_cookie(page, timeout_ms: float | None = None) -> dict:
    """The session cookie, once the browser has it (up to the page's default timeout). Looked for again when a
    request to the cookie route (app/session_cookie.py) has finished, or every 500 ms: not a 50 ms poll, whose
    two round trips to Playwright's driver each (cookies, timer) cost CPU for as long as the sign-in lasts."""
    from playwright.sync_api import Error as PlaywrightError

    deadline = time.monotonic() + (timeout_ms or 30_000) / 1000
    while time.monotonic() < deadline:
        cookie = session_cookie(page.context)
        if cookie is not None:
            return cookie
        # Not within the bound (the POST may have finished before this waited): look at the cookies again.
        with contextlib.suppress(PlaywrightError):
            page.wait_for_event("requestfinished", lambda request: request.url.endswith(SESSION_PATH), timeout=500)
    raise AssertionError("no session cookie was set after signing in")


class ScriptRuns:
    """The script runs of a page's Streamlit session, read from its websocket: the rerun requests the page
    sends (BackMsg rerun_script) and the runs the server starts (ForwardMsg new_session) and ends
    (script_finished, with the run's id).

    The page's own signs are not enough to know that a run is over. Its status widget appears only after a
    run has lasted 500 ms, and `data-test-script-state` on stApp says "notRunning" from the click until the
    server starts the run the click asked for; on a loaded machine that gap alone can last seconds, so a
    test that waited for either read the previous run's elements (still drawn, marked stale).
    Here a run is over when the server has started a run after the page's last request and ended it.
    Fragment timers (st.fragment(run_every=...)) ask for reruns on their own; the server drops those of a
    fragment that is gone, so they are not waited for, but a fragment run that has started is."""

    def __init__(self, timeout_ms: int) -> None:
        self.timeout_ms = timeout_ms
        self.socket: object | None = None
        self.events = 0  # every frame followed, numbered in order
        self.requested = 0  # the number of the page's last rerun request (0: none)
        self.started = 0  # the number of the last run's start
        self.run_id = ""  # the id of the last run started
        self.running = False
        self.log: list[str] = []  # the last frames followed, for a failure's message

    def follow(self, socket) -> None:
        """Follow the page's newest websocket (a reload opens a new one and abandons the old one's run)."""
        self.socket, self.running = socket, False
        socket.on("framesent", lambda payload: self._sent(socket, payload))
        socket.on("framereceived", lambda payload: self._received(socket, payload))

    def _sent(self, socket, payload) -> None:
        if socket is not self.socket or isinstance(payload, str):
            return
        message = BackMsg.FromString(payload)
        if message.WhichOneof("type") != "rerun_script" or message.rerun_script.is_auto_rerun:
            return
        self.events += 1
        self.requested = self.events
        self._note(f"request {message.rerun_script.fragment_id or 'app'}")

    def _received(self, socket, payload) -> None:
        if socket is not self.socket or isinstance(payload, str):
            return
        message = ForwardMsg.FromString(payload)
        kind = message.WhichOneof("type")
        run = message.metadata.run.script_run_id
        if kind == "new_session":
            self.events += 1
            self.started, self.run_id, self.running = self.events, run, True
            self._note(f"start {run}")
        elif kind == "script_finished":
            status = ForwardMsg.ScriptFinishedStatus.Name(message.script_finished)
            if status != "FINISHED_EARLY_FOR_RERUN" and run in ("", self.run_id):
                self.running = False
            self._note(f"end {run} {status}")

    def _note(self, text: str) -> None:
        self.log = [*self.log[-9:], f"{time.monotonic():.2f} {text}"]

    def over(self) -> bool:
        """The server has started a run after the page's last request, and that run has ended."""
        return self.started > self.requested and not self.running


_RUNS: dict[object, ScriptRuns] = {}


def settled(sync_api, page, where: str = "") -> None:
    """Wait until the script run that the last action asked for is over and drawn (ScriptRuns), then check
    that the page shows no exception."""
    expect = sync_api.expect
    runs = _RUNS.get(page)
    assert runs is not None, "settled() follows the script runs of pages opened with harness.new_page() only"
    page.wait_for_timeout(200)  # the browser reports the frames an action sent shortly after the action
    deadline = time.monotonic() + runs.timeout_ms / 1000
    while not runs.over():
        if time.monotonic() > deadline:
            raise AssertionError(f"{where or page.url}: the script run did not end within "
                                 f"{runs.timeout_ms / 1000:.0f} s; last frames: {runs.log}")  # fmt: skip
        _next_frame(sync_api, page, runs)
    # The page has drawn the run's end: no element of an earlier run is left (Streamlit marks them stale
    # while a run goes on and removes them when it ends).
    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning")
    expect(page.locator('[data-stale="true"]')).to_have_count(0)
    expect(page.get_by_test_id("stException"), f"{where or page.url} shows an exception").to_have_count(0)


def _next_frame(sync_api, page, runs: ScriptRuns, longest_ms: float = 500) -> None:
    """Wait until a frame the page's websocket receives ends the run (`runs.over()`, checked by ScriptRuns'
    listener first), at most `longest_ms`; 50 ms while the page has no websocket yet. Not a 50 ms poll: each
    poll is a round trip to Playwright's driver (~1.5 ms of CPU in the test process and the driver), twenty
    a second for as long as a run lasts. The bound covers a socket that a reload replaced or closed while
    this waited on it (the new socket's frames go to ScriptRuns, and the caller looks again)."""
    if runs.socket is None:
        page.wait_for_timeout(50)
        return
    # Not over within the bound, or the socket closed: the caller looks again.
    with contextlib.suppress(sync_api.Error):
        runs.socket.wait_for_event("framereceived", lambda _: runs.over(), timeout=longest_ms)


# The old screen file names (Streamlit's pages/ convention served pages/<name>.py at /<name>) and the entry's.
OLD_SCREEN_NAMES = ["admin", "account", "approvals", "audit", "backlog", "data", "experiments", "feedback", "models",
                    "monitoring", "overview", "page"]  # fmt: skip


def assert_only_the_gate(sync_api, page, url: str, *, first_admin: bool = True) -> None:
    """The sign-in screen and nothing of any screen (tests/e2e/test_gate_browser.py): no screen's title (nor
    an old screen file name as a title, which Streamlit's old pages/ convention would show), no navigation.
    first_admin: the database has no account yet, so the gate is the first-admin set-up; else the sign-in form."""
    from app import nav

    expect = sync_api.expect
    expect(page.get_by_role("heading", name="Loopdeck", exact=True), f"{url}: no sign-in screen").to_be_visible()
    form, button = ("Create the first admin account", "Create admin account") if first_admin else ("Sign in",) * 2
    expect(page.get_by_role("heading", name=form, exact=True)).to_be_visible()
    expect(page.get_by_role("button", name=button, exact=True)).to_be_visible()
    settled(sync_api, page, url)
    assert page.get_by_role("heading", level=1).all_inner_texts() == ["Loopdeck"], url
    titles = {spec.title for spec in nav.PAGES} | {name.title() for name in OLD_SCREEN_NAMES} | {"Audit log"}
    for title in sorted(titles):
        expect(page.get_by_role("heading", name=title, exact=True), f"{url} shows {title}").to_have_count(0)
    expect(page.get_by_test_id("stSidebarNav"), f"{url} shows the navigation").to_have_count(0)


def open_page(sync_api, page, link: str, heading: str) -> None:
    """Follow a sidebar link and wait for the page's heading and the end of its run."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=link).click()
    sync_api.expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    settled(sync_api, page, heading)


def grid_cell(page, text: str):
    """A cell of a st.dataframe (a canvas grid; its cells are in the accessibility tree, hidden)."""
    return page.get_by_test_id("stDataFrame").get_by_role("gridcell", name=text, exact=True, include_hidden=True)


def demo_database(folder: Path, scale: float) -> str:
    """A migrated SQLite file in `folder` holding the demo at `scale` (its accounts hashed cheaply: a test
    signs in many times); returns its URL. A copy of the run's (tests/demo_cache.py)."""
    return f"sqlite:///{demo_cache.copy_demo(folder / 'loopdeck.db', scale, blocks=False)}"
