"""Loopdeck's HTTP API (FastAPI): thin routes over services, token auth, OpenAPI at /api/openapi.json.

Serve it with `python -m services api` (uvicorn, "api.main:app") or beside the UI with `python3 run.py app`.
"""
