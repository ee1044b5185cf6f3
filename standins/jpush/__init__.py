"""A stand-in for JPush (极光推送) REST API v3, its own process: `python -m standins.jpush --port 0`.

See server.py for what it checks and records, control.py for the test client of its `/_standin/` controls.
"""
