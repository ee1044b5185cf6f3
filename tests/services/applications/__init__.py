"""Tests of online applications (办件) and their 秒批 rules."""
