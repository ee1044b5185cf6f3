"""Adapters to payment providers."""
