"""The Overview screen: tiles, the headline trend, decisions and the weekly report (view modules)."""
