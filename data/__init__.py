"""The demo scenario (scenario.py, themes.py) and its loader (demo.py); the SQLite file lives here too."""
