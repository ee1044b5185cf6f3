"""Accounts: citizens, SMS one-time-code login, sessions, identity levels (实名, face check)."""
