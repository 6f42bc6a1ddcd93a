"""The HTTP side of signing in: two routes of the app's own web server that set and clear the session
cookie, mounted next to Streamlit's routes by server.py (`app = st.App("streamlit_app.py", routes=...)`).

Why a route: a Streamlit script cannot set a cookie at all, and JavaScript (st.html) can only set cookies
that JavaScript can read back. A response of the server itself can set an HttpOnly cookie, and Streamlit
1.67's ASGI App accepts extra Starlette routes. So after the password check the page hands the browser a
one-time code (60 s, single use, only its hash stored) and a few lines of JavaScript POST it to
SESSION_PATH; the answer sets `loopdeck_session` = a fresh random token, HttpOnly, SameSite=Strict,
Path=/, Secure when the request came over https (directly or through a proxy's X-Forwarded-Proto).
Page scripts never see that token; they only ever see the short-lived code.

Trade-offs, honestly: the one-time code travels over Streamlit's websocket into the page, so a script
injected into the page within those 60 s could trade it first (it could not read the cookie later).
When the app is started as plain `streamlit run streamlit_app.py` these routes do not exist: signing in
still works in the tab, but does not survive a reload.
"""

from __future__ import annotations

import logging
from functools import cache

from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.core import sessions, settings
from services.core.db import database_url, make_engine
from services.core.errors import AuthenticationFailed

SESSION_PATH = "/_loopdeck/session"
CLEAR_PATH = "/_loopdeck/session/clear"
LOG = logging.getLogger("loopdeck")


@cache
def _engine(url: str) -> Engine:
    return make_engine(url)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "").lower() == "https"


def _redeem(code: str) -> tuple[str, int]:
    engine = _engine(database_url())
    token = sessions.redeem(engine, code)
    return token, int(settings.get(engine, "auth.session_max_hours")) * 3600


async def issue(request: Request) -> Response:
    code = (await request.body())[:200].decode("utf-8", "replace")
    try:
        token, max_age = await run_in_threadpool(_redeem, code)
    except AuthenticationFailed:
        return Response(status_code=403)
    response = Response(status_code=204, headers={"Cache-Control": "no-store"})
    response.set_cookie(
        sessions.COOKIE_NAME,
        token,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    return response


async def clear(request: Request) -> Response:
    """Forget the cookie (the session itself was already revoked on the server when signing out)."""
    response = Response(status_code=204, headers={"Cache-Control": "no-store"})
    response.delete_cookie(sessions.COOKIE_NAME, path="/", httponly=True, samesite="strict", secure=_secure(request))
    return response


def routes() -> list[Route]:
    return [Route(SESSION_PATH, issue, methods=["POST"]), Route(CLEAR_PATH, clear, methods=["POST"])]
