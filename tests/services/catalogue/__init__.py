"""Tests of the service catalogue and its search."""
