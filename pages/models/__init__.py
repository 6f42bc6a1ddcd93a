"""The Models screen: registry, deployments, retraining and the judge (view modules; page.py is the entry)."""
