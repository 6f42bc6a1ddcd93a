#!/usr/bin/env python3
"""Loopdeck's two set-up commands; needs only Python 3.11+.

python3 run.py app    create .venv, install pinned deps, migrate the database, load the demo on first
                      start (default SQLite file only, or with --demo), serve the UI on
                      http://localhost:8501 and the HTTP API on http://localhost:8502/api/docs (both
                      bound to 127.0.0.1 unless LOOPDECK_HOST says otherwise; stopped together)
python3 run.py test   create .venv, install pinned deps (+ dev), run the whole test suite
                      (extra arguments go to pytest)
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")


def ensure_environment(requirements: str) -> None:
    """Create the virtual environment and install pinned dependencies, once per requirements change."""
    if sys.version_info < (3, 11):  # noqa: UP036  (run.py may be started by an older python3)
        sys.exit(f"Loopdeck needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    if not PYTHON.exists():
        print("Creating the virtual environment in .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    files = [ROOT / "requirements.txt", ROOT / "requirements-dev.txt", ROOT / "constraints.txt"]
    digest = hashlib.sha256(requirements.encode() + b"".join(f.read_bytes() for f in files)).hexdigest()
    stamp = VENV / f".installed-{requirements}"
    if stamp.exists() and stamp.read_text() == digest:
        return
    print(f"Installing pinned dependencies from {requirements} ...", flush=True)
    install_pinned(requirements)
    stamp.write_text(digest)


def install_pinned(requirements: str) -> None:
    """pip install `requirements` at the versions constraints.txt pins.

    --no-compile: pip would byte-compile every installed module (32 CPU-s measured); Python compiles the
    ones a process imports on first use and caches them, which is a fraction of that.
    The dev set (`run.py test`, CI) is constraints.txt's whole list (tests/test_run.py checks that it pins
    every dependency of every package in it), so it is installed as listed, --no-deps, without pip's
    resolver: 32 CPU-s with `pip check` after it against 39 resolving (a fresh venv, measured). Should
    `pip check` find a dependency missing, the resolving install below adds it."""
    pip = [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-q", "--no-compile"]
    constraints = str(ROOT / "constraints.txt")
    if requirements == "requirements-dev.txt":
        listed = subprocess.run([*pip, "--no-deps", "-r", str(ROOT / requirements), "-r", constraints])
        if listed.returncode == 0:
            check = subprocess.run([str(PYTHON), "-m", "pip", "check"], capture_output=True, text=True)
            if check.returncode == 0:
                return
            print(f"{check.stdout}{check.stderr}constraints.txt misses a dependency: resolving ...", flush=True)
    subprocess.run([*pip, "-r", str(ROOT / requirements), "-c", constraints], check=True)


def child_environment() -> dict[str, str]:
    """The environment of the processes run.py starts (services/core/config.py: bytecode cached in .venv)."""
    from services.core import config  # standard library only, so it runs before the venv's packages

    return config.child_environment(VENV / "pycache")


def run_app(extra: list[str]) -> int:
    ensure_environment("requirements.txt")
    from services.core import config  # standard library only, so it runs before the venv's packages

    # The demo's accounts have published passwords: load it only into the default SQLite file, or
    # into another database when asked with --demo. A team database starts with the first-admin form.
    wants_demo = "--demo" in extra or config.uses_default_database()
    extra = [arg for arg in extra if arg != "--demo"]
    init_db = [str(PYTHON), "-m", "services", "init-db", *(["--demo"] if wants_demo else [])]
    environment = child_environment()
    subprocess.run(init_db, cwd=ROOT, check=True, env=environment)
    host, port, api_port = config.ui_host(), str(config.ui_port()), str(config.api_port())
    command = [str(PYTHON), "-m", "streamlit", "run", "server.py", "--server.port", port,
               "--server.address", host, *extra]  # fmt: skip
    api = subprocess.Popen([str(PYTHON), "-m", "services", "api", "--host", host, "--port", api_port], cwd=ROOT,
                           env=environment)  # fmt: skip
    # the worker: jobs, schedules, notifications
    worker = subprocess.Popen([str(PYTHON), "-m", "services", "worker"], cwd=ROOT, env=environment)
    shown = "localhost" if host == "127.0.0.1" else host
    print(f"Loopdeck: http://{shown}:{port}  (API: http://{shown}:{api_port}/api/docs)", flush=True)
    try:
        return subprocess.call(command, cwd=ROOT, env=environment)
    finally:
        stop_child(api)
        stop_child(worker)


def stop_child(process: subprocess.Popen) -> None:
    """Stop a child process started beside the UI (terminate, then kill after 10 s)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_tests(extra: list[str]) -> int:
    ensure_environment("requirements-dev.txt")
    # --dist loadfile: a module's tests stay in one test process, so a module-scoped server (the browser tests)
    # or database starts once, not once per process that happens to get some of its tests.
    command = [str(PYTHON), "-m", "pytest", "-n", "2", "--dist", "loadfile", *extra]
    return subprocess.call(command, cwd=ROOT, env=child_environment())


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in {"app", "test"}:
        print(__doc__)
        return 2
    command, extra = sys.argv[1], sys.argv[2:]
    return run_app(extra) if command == "app" else run_tests(extra)


if __name__ == "__main__":
    sys.exit(main())
