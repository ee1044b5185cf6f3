"""`python -m standins.tencent_cloud`: the stand-in Tencent Cloud API 3.0 on its own port (see server.py)."""

from standins.tencent_cloud.server import main

if __name__ == "__main__":
    main()
