"""The My account screen (view modules; page.py is the entry)."""
