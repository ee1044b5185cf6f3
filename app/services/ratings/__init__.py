"""Ratings (好差评) of completed applications and the follow-up a bad one opens."""
