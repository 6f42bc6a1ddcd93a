"""Overview: what is in the loop right now."""

import streamlit as st

from app import auth, state
from app import format as fmt
from services import overview

auth.actor()
st.title("Overview")

counts = overview.loop_counts(state.engine())
tiles = st.columns(5)
tiles[0].metric("Predictions", fmt.count(counts.predictions))
tiles[1].metric("Outcomes", fmt.count(counts.outcomes), help="Delayed ground truth joined to predictions.")
tiles[2].metric("Feedback", fmt.count(counts.feedback))
tiles[3].metric("Model versions", fmt.count(counts.model_versions))
tiles[4].metric("Champion", counts.champion or fmt.DASH, help="The version serving all traffic now.")

if counts.predictions == 0 and counts.model_versions == 0:
    st.info(
        "The loop is empty. Import predictions, outcomes and feedback on the Data page "
        "(analysts and admins), or load the demo with `python -m services init-db --demo`."
    )
