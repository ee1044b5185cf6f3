"""Elderly mode (适老化 / 长辈版): the presentation preset and WCAG contrast (presets, rules), the simpler
home (home), words to hear (tts, replies, guidance), family proxies (service, models), large print
(print) and undo (undo)."""
