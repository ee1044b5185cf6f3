"""A stand-in for the mini-program platform (code → session), its scripted client and the H5 page. Issue 9."""
