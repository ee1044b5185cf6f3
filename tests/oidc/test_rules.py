"""What each scope releases and the pairwise subject, without a server."""

from __future__ import annotations

from app.oidc.rules import CitizenFacts, acr_of, claims_for, pairwise_subject, released_claims, scope_list

FACTS = CitizenFacts(level=3, name_masked="**欣", phone_masked="138****8000", ages={"age_over_18": True})


def test_scopes_are_read_once_each_in_a_fixed_order_and_unknown_ones_dropped():
    assert scope_list("phone openid phone email") == ["openid", "phone"]
    assert scope_list(None) == [] and scope_list("") == []


def test_each_scope_releases_only_its_masked_claims():
    assert claims_for(["openid"], "s", FACTS) == {"sub": "s"}
    assert claims_for(["openid", "profile", "phone", "identity", "age_over_18", "age_over_60"], "s", FACTS) == {
        "sub": "s", "name": "**欣", "phone_number_masked": "138****8000",
        "identity_level": 3, "age_over_18": True}  # age_over_60 unknown: not said at all
    assert released_claims(["openid", "phone"]) == ["sub", "acr", "phone_number_masked"]
    assert acr_of(2) == "urn:cn:gd:gov:loa:2"


def test_the_pairwise_subject_is_stable_per_site_and_differs_across_sites_and_secrets():
    secret = b"k" * 32
    one = pairwise_subject(secret, "oc_gjj", "c_1")
    assert one == pairwise_subject(secret, "oc_gjj", "c_1")
    assert one != pairwise_subject(secret, "oc_tax", "c_1")
    assert one != pairwise_subject(secret, "oc_gjj", "c_2")
    assert one != pairwise_subject(b"j" * 32, "oc_gjj", "c_1")
    assert "c_1" not in one and len(one) == 43
