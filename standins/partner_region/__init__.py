"""A stand-in partner region (互认伙伴, e.g. Macao "MO"): issues and checks `GDHC1` codes from the published
format alone, calls our partner API, publishes its keys. See server.py."""
