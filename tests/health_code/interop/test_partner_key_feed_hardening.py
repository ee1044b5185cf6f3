"""Partner key feeds against a partner's key in the wrong hands, a name that changes what it points to, workers
racing each other and documents that say more than they may. The stand-in Macau region (its own process)
publishes; the job fetches, verifies and applies; our verification is what a border officer's scan meets."""

from __future__ import annotations

from tests.health_code.interop import test_partner_key_feed as stories
from tests.health_code.interop.test_partner_key_feed import code_by, listed_keys, run_job, verdict

macau, feed = stories.macau, stories.feed  # the fixtures: MO registered by hand, then its feed by the admin

YEAR = 365 * 24 * 3600


# --- a retired key in the wrong hands ------------------------------------------------------------------

async def test_a_retired_key_verifies_nothing_once_its_grace_has_passed_whatever_the_code_says(
        app, client, admin, macau, feed, clock):
    """Whoever kept the retired private key signs codes dated before the retirement, valid for a year."""
    first = (await macau.client.get("/keys")).json()["signing_keys"][0]["kid"]
    assert await run_job(app) == {"MO": "applied"}
    await macau.client.post("/rotate", json={"retire_previous": True})
    assert await run_job(app) == {"MO": "applied"}
    assert (await listed_keys(client, admin))[first]["retired_at"] is not None
    backdated = await code_by(macau, kid=first, iat_offset=-3600, ttl=YEAR)

    assert await verdict(app, backdated) == "ok"  # within the grace: codes signed before the retirement still pass
    clock.advance(days=6)
    assert await verdict(app, backdated) == "ok"
    clock.advance(days=1, minutes=1)
    assert await verdict(app, backdated) == "KEY_NOT_VALID"
    assert await verdict(app, await code_by(macau, ttl=YEAR)) == "ok"  # the partner's current key is not affected
