"""Models: the registry (lineage, metrics, model card, artifact check), the deployment history, retraining
in the background, and the judge (candidate vs champion) with requests for promotion, canary, shadow
and rollback. Drawn by app/models_ui; every action is one service call."""

from app import auth, models_ui, state

models_ui.render_models(auth.actor(), state.engine())
