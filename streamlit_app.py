"""Loopdeck entrypoint: page config, the login gate, and navigation filtered by role.

streamlit run streamlit_app.py      (or: python3 run.py app)
"""

import streamlit as st

from app import auth, nav, state, widgets
from services import kinds

kinds.load()  # every feature's request kinds (services/kinds.py): the Approvals page lists and executes them

st.set_page_config(page_title="Loopdeck", page_icon=":material/all_inclusive:", layout="wide")

problem = state.schema_problem_message()
if problem:
    st.error(problem)
    st.stop()

actor = auth.signed_in_actor()
if actor is None:
    # Always call st.navigation, so the pages/ folder is never served without the gate. Every page's URL
    # shows the sign-in form, so a deep link opens its view (with its query parameters) after signing in.
    page = st.navigation(nav.signed_out_pages(auth.sign_in_page), position="hidden")
else:
    # expanded: every screen stays listed (by default Streamlit folds a long sidebar behind "View more").
    # A page this role may not open (a deep link to an admin page, signed in as a viewer) says so on the Overview.
    pages = nav.navigation_pages(actor.role, nav.badges(actor, state.engine()), lambda s: auth.refuse_page(s, actor))
    page = st.navigation(pages, expanded=True)
    auth.sidebar(actor)
    widgets.show_flash()
page.run()
