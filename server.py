"""The web server of the UI: Streamlit's ASGI App running streamlit_app.py, plus the two routes that set
and clear the HttpOnly session cookie (app/session_cookie.py).

Every module a script run uses is imported here, once, before the server answers /_stcore/health:
otherwise the first page view after a (re)start pays those imports (about 4 s of CPU: pandas, plotly,
SQLAlchemy, scikit-learn, every feature's request kinds), many times that on a busy machine.

streamlit run server.py      (or: python3 run.py app)
"""

import gc
import importlib
import pkgutil

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

import pages
from app import auth, nav, state, widgets  # noqa: F401 (what streamlit_app.py runs on every view)
from app.session_cookie import routes
from services import kinds


def preload() -> list[str]:
    """Import every view module under pages/ (not the page.py scripts, which draw when run) and load the
    request kinds; returns the modules imported."""
    kinds.load()
    names = [m.name for m in pkgutil.walk_packages(pages.__path__, "pages.") if not m.name.endswith(".page")]
    for name in names:
        importlib.import_module(name)
    return names


def no_pages_folder_convention() -> None:
    """Turn off Streamlit's old pages/ folder convention before the first session starts.

    The first PagesManager of a server process sets the class flag `uses_pages_directory` to whether a
    pages/ folder sits next to the entrypoint (ours does: the screens' packages). While it is True a
    script run is wrapped in a navigation of the entrypoint alone, so the first link of a fresh server
    that is not "/" (e.g. /feedback-queue?status=new, opened signed out) is "Page not found", although
    st.navigation in streamlit_app.py then serves its page; st.navigation clears the flag, so every
    later session was fine. Clearing it here, before any session, makes the first session like the
    others (tests/e2e/test_session_browser.py opens a deep link as a fresh server's first session)."""
    PagesManager.uses_pages_directory = False


def freeze_startup_objects() -> None:
    """Move every object made so far (the modules preload() imported: about 257,000 objects) out of the
    cyclic garbage collector's reach. Streamlit runs a full collection after every script run
    (runner.postScriptGC) and Python runs others as objects are allocated; each walked all of them: 160-190
    ms of CPU per collection, measured at 1M predictions, up to a third of a Monitoring rerun's CPU. After
    the freeze a full collection walks only what sessions made since (about 7 ms). Frozen objects are the
    modules' own, alive as long as the process; reference counting still frees anything they drop. The
    garbage of the imports is collected once first, so none of it is frozen."""
    gc.collect()
    gc.freeze()


no_pages_folder_convention()
preload()
freeze_startup_objects()
app = st.App("streamlit_app.py", routes=routes())
