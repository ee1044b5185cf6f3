"""`python -m standins.departments`: the stand-in departments of the data exchange on their own port (see server.py)."""

from standins.departments.server import main

if __name__ == "__main__":
    main()
