"""`python -m standins.wechatpay`: the stand-in WeChat Pay API v3 gateway on its own port (see server.py)."""

from standins.wechatpay.server import main

if __name__ == "__main__":
    main()
