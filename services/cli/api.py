"""`python -m services api [--host H] [--port P]`: serve the HTTP API with uvicorn.

services never imports fastapi: uvicorn loads the app by its import string, "api.main:app".
Host: --host, else LOOPDECK_HOST, else 127.0.0.1. Port: --port, else LOOPDECK_API_PORT, else 8502.
"""

from __future__ import annotations

import argparse

from services.core import config

APP = "api.main:app"


def configure(p: argparse.ArgumentParser) -> None:
    p.description = "Serve the HTTP API (OpenAPI at /api/openapi.json, docs at /api/docs)."
    p.add_argument("--host", default=None, help="default: LOOPDECK_HOST or 127.0.0.1")
    p.add_argument("--port", type=int, default=None, help="default: LOOPDECK_API_PORT or 8502")
    p.add_argument("--log-level", default="warning")


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from services.core.db import ROOT

    host, port = args.host or config.ui_host(), args.port or config.api_port()
    print(f"Loopdeck API: http://{host}:{port}/api/docs", flush=True)
    uvicorn.run(APP, host=host, port=port, log_level=args.log_level, access_log=False, app_dir=str(ROOT))
    return 0


COMMANDS = {"api": (configure, run)}
