"""Mini-programs (小程序): login with a platform code, openid bindings, subscription messages."""
