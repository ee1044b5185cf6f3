"""Sign in with this account elsewhere (用粤省事账号登录): an OpenID Connect provider for other government sites."""
