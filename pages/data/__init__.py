"""The Data screen: imports of predictions, outcomes, feedback, exposures and metrics (view modules)."""
