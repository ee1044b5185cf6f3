"""Elderly mode (适老化 / 长辈版): presets, simplified home, voice text, family proxy. Issue 8."""
