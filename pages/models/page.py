"""Models: the registry (lineage, metrics, model card, artifact check), the deployment history, retraining
in the background, and the judge (candidate vs champion) with requests for promotion, canary, shadow
and rollback. Drawn by the view modules of pages/models/; every action is one service call."""

from app import auth, state
from pages.models import screen

screen.render(auth.actor(), state.engine())
