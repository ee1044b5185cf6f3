"""Tests of ratings (好差评) and their follow-up."""
