"""Tests of the home screen's service cards and the department backends behind them."""
