"""The web server of the UI: Streamlit's ASGI App running streamlit_app.py, plus the two routes that set
and clear the HttpOnly session cookie (app/session_cookie.py).

streamlit run server.py      (or: python3 run.py app)
"""

import streamlit as st

from app.session_cookie import routes

app = st.App("streamlit_app.py", routes=routes())
