"""Security core: signing keys and JWKS, tokens, PII encryption, rate limits."""
