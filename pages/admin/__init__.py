"""The Admin screen: accounts (view modules; page.py is the entry)."""
