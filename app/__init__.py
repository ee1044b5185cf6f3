"""粤省事-style government super-app backend: platform core and citizen-service domains."""
