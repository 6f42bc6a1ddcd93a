"""`python -m services api [--host H] [--port P]`: serve the HTTP API with uvicorn.

services never imports fastapi: uvicorn loads the app by its import string, "api.main:app".
Port: --port, else LOOPDECK_API_PORT, else 8502.
"""

from __future__ import annotations

import argparse
import os

DEFAULT_PORT = 8502
APP = "api.main:app"


def default_port() -> int:
    try:
        return int(os.environ.get("LOOPDECK_API_PORT") or DEFAULT_PORT)
    except ValueError:
        return DEFAULT_PORT


def configure(p: argparse.ArgumentParser) -> None:
    p.description = "Serve the HTTP API (OpenAPI at /api/openapi.json, docs at /api/docs)."
    p.add_argument("--host", default=os.environ.get("LOOPDECK_API_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=None, help=f"default: LOOPDECK_API_PORT or {DEFAULT_PORT}")
    p.add_argument("--log-level", default="warning")


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from services.core.db import ROOT

    port = args.port or default_port()
    print(f"Loopdeck API: http://{args.host}:{port}/api/docs", flush=True)
    uvicorn.run(APP, host=args.host, port=port, log_level=args.log_level, access_log=False, app_dir=str(ROOT))
    return 0


COMMANDS = {"api": (configure, run)}
