"""The Experiments screen: list and lifecycle, design, register, read (view modules; page.py is the entry)."""
