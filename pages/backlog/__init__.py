"""The Backlog screen: ranked items, one item, proposals, items over time (view modules; page.py is the entry)."""
