"""Adapters to outside parties, each speaking that party's published protocol (see ../shared/DESIGN.md)."""
