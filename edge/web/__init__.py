"""The monitoring room's web UI: a Flask app (app.py) in its own process (server.py)."""
