"""`python -m standins.jpush`: the stand-in JPush push API on its own port (see server.py)."""

from standins.jpush.server import main

if __name__ == "__main__":
    main()
