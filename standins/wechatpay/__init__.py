"""A stand-in for the WeChat Pay API v3 gateway (微信支付 APIv3), its own process:
`python -m standins.wechatpay --port 0 --merchant-public-key merchant_pub.pem`.

See server.py for what it speaks, checks and records, control.py for the test client of its `/_standin/` controls.
"""
