"""Tests of appointments (网上预约)."""
