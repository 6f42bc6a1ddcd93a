"""What every browser test needs: a `streamlit run` of the app on a free port against a given database,
Debian's Chromium driven by Playwright, and the waits that make Streamlit pages testable.

A module imports `skip_without_browser()` first (it skips the whole module, with the reason, where
Chromium or Playwright is missing), then uses `running_app(url, folder)` in a module-scoped fixture
and `chromium()` / `new_page(browser)` for the browser.
"""

from __future__ import annotations

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

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run",
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


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as response:
                if response.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"streamlit did not answer /_stcore/health within {seconds}s:\n{log.read_text()}")


@contextmanager
def running_app(
    db_url: str, folder: Path, env: dict[str, str] | None = None, startup_seconds: float = 60
) -> Iterator[Server]:
    """What `python3 run.py app` starts, against db_url: `streamlit run server.py` (streamlit_app.py plus the
    session-cookie routes) on a free port and the job worker (imports and retraining run there); both
    stopped (process groups) on exit. Their output goes to folder/streamlit.log and folder/worker.log,
    quoted when the UI fails to start."""
    port, log = free_port(), folder / "streamlit.log"
    environment = {**os.environ, "LOOPDECK_DATABASE_URL": db_url, **(env or {})}
    command = [
        sys.executable, "-m", "streamlit", "run", "server.py", "--server.headless", "true",
        "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
    ]  # fmt: skip
    worker = _start(["-m", "services", "worker", "--tick", "0.5"], environment, folder / "worker.log")
    proc = _start(command[1:], environment, log)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_healthy(base, proc, log, startup_seconds)
        yield Server(base, db_url)
    finally:
        _stop(proc)
        _stop(worker)


@contextmanager
def running_api(db_url: str, folder: Path, startup_seconds: float = 60) -> Iterator[str]:
    """`python -m services api` (uvicorn) against db_url on a free port, as `python3 run.py app` starts it;
    yields its base URL (http://127.0.0.1:<port>) once /api/v1/health answers, stopped on exit. Its output
    goes to folder/api.log, quoted when it fails to start."""
    port, log = free_port(), folder / "api.log"
    environment = {**os.environ, "LOOPDECK_DATABASE_URL": db_url, "LOOPDECK_API_PORT": str(port)}
    proc = _start(["-m", "services", "api"], environment, log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_seconds
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the API exited with {proc.returncode}:\n{log.read_text()}")
            try:
                with urllib.request.urlopen(f"{base}/api/v1/health", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    message = f"the API did not answer within {startup_seconds}s:\n{log.read_text()}"
                    raise RuntimeError(message) from None
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
    """A page in a fresh browser context. When the test fails inside the `with` block, every page of the
    context is saved as a screenshot (save_screenshots) before the context closes."""
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(timeout_ms)
    sync_api.expect.set_options(timeout=timeout_ms)
    try:
        yield page
    except (Exception, pytest.fail.Exception):
        save_screenshots(context)
        raise
    finally:
        context.close()


def sign_in(sync_api, page, base: str, email: str, password: str) -> None:
    expect = sync_api.expect
    page.goto(base)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_role("textbox", name="E-mail").fill(email)
    page.get_by_role("textbox", name="Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


def settled(sync_api, page, where: str = "") -> None:
    """Wait until the script run is over (Streamlit shows a status widget while it runs) and check
    that the page shows no exception."""
    expect = sync_api.expect
    page.wait_for_timeout(300)
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0)
    expect(page.get_by_test_id("stException"), f"{where or page.url} shows an exception").to_have_count(0)


def open_page(sync_api, page, link: str, heading: str) -> None:
    """Follow a sidebar link and wait for the page's heading and the end of its run."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=link).click()
    sync_api.expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    settled(sync_api, page, heading)


def grid_cell(page, text: str):
    """A cell of a st.dataframe (a canvas grid; its cells are in the accessibility tree, hidden)."""
    return page.get_by_test_id("stDataFrame").get_by_role("gridcell", name=text, exact=True, include_hidden=True)
