"""The rules engine that turns a citizen's evidence into a colour: a positive test turns the
code red for 14 days, a visit to an exposure venue yellow for 7, and nothing milder that comes
later can wash a colour away before its time is up."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from health_code.rules import COLOUR_RANK, FUTURE_TOLERANCE, RULESET_DIR, Evidence, RuleSetError, load_ruleset, parse_ruleset

NOW = datetime(2026, 3, 1, 8, 0, tzinfo=timezone.utc)
RULES = load_ruleset()
RAW = json.loads((RULESET_DIR / "2026.1.json").read_text("utf-8"))


def ev(kind: str, hours_ago: float = 1, **data) -> Evidence:
    return Evidence(kind, NOW - timedelta(hours=hours_ago), data)


def positive(hours_ago: float = 1) -> Evidence:
    return ev("test_result", hours_ago, result="positive", lab="lab_1")


def negative(hours_ago: float = 1) -> Evidence:
    return ev("test_result", hours_ago, result="negative", lab="lab_1")


# -- examples ----------------------------------------------------------------------------------

def test_the_published_rule_set_is_2026_1():
    assert RULES.version == "2026.1"
    assert load_ruleset("2026.1") == RULES
    with pytest.raises(RuleSetError):
        load_ruleset("1999.9")


def test_a_citizen_with_no_evidence_is_green_for_no_risk():
    verdict = RULES.evaluate([], NOW)
    assert verdict.colour == "green"
    assert verdict.reason_codes == (1,)
    assert verdict.next_change_at is None
    assert verdict.rule_version == "2026.1"


def test_a_positive_test_is_red_for_fourteen_days_from_the_sample():
    observed = NOW - timedelta(hours=3)
    verdict = RULES.evaluate([Evidence("test_result", observed, {"result": "positive"})], NOW)
    assert verdict.colour == "red"
    assert verdict.reason_codes == (21,)
    assert verdict.next_change_at == observed + timedelta(days=14)


def test_a_negative_test_is_green_with_its_own_reason_for_48_hours():
    observed = NOW - timedelta(hours=5)
    verdict = RULES.evaluate([Evidence("test_result", observed, {"result": "negative"})], NOW)
    assert verdict.colour == "green"
    assert verdict.reason_codes == (2,)
    assert verdict.next_change_at == observed + timedelta(hours=48)


def test_a_venue_exposure_is_yellow():
    verdict = RULES.evaluate([ev("exposure", 10, venue="v_1")], NOW)
    assert (verdict.colour, verdict.reason_codes) == ("yellow", (11,))
    assert verdict.next_change_at == NOW - timedelta(hours=10) + timedelta(days=7)


def test_a_later_negative_test_does_not_clear_a_positive_one():
    verdict = RULES.evaluate([positive(48), negative(2)], NOW)
    assert verdict.colour == "red"
    assert verdict.reason_codes == (21, 2)  # red first; both explain the status
    assert verdict.next_change_at == NOW - timedelta(hours=2) + timedelta(hours=48)


def test_evidence_older_than_its_window_is_ignored():
    assert RULES.evaluate([positive(14 * 24)], NOW).colour == "green"  # exactly 14 days: over
    assert RULES.evaluate([positive(14 * 24 - 0.01)], NOW).colour == "red"  # a moment less: still red
    assert RULES.evaluate([ev("exposure", 7 * 24 + 1)], NOW).reason_codes == (1,)
    assert RULES.evaluate([negative(49)], NOW).reason_codes == (1,)
    # A declaration of symptoms lasts 3 days, a positive test 14: the old symptoms no longer count.
    verdict = RULES.evaluate([ev("declaration", 80, symptoms=True), positive(80)], NOW)
    assert verdict.reason_codes == (21,)


def test_evidence_from_the_future_is_ignored_beyond_five_minutes():
    later = Evidence("test_result", NOW + timedelta(minutes=6), {"result": "positive"})
    assert RULES.evaluate([later], NOW).colour == "green"
    skewed = Evidence("test_result", NOW + timedelta(minutes=4), {"result": "positive"})
    assert RULES.evaluate([skewed], NOW).colour == "red"


def test_evidence_that_matches_no_rule_leaves_the_citizen_green():
    verdict = RULES.evaluate([ev("travel", 1, risk_level="low"), ev("declaration", 1, symptoms=False),
                              ev("vaccination", 1, complete=False)], NOW)
    assert verdict.reason_codes == (1,)


def test_two_pieces_of_evidence_for_one_rule_give_one_reason_lasting_to_the_later():
    verdict = RULES.evaluate([positive(100), positive(10)], NOW)
    assert verdict.reason_codes == (21,)
    assert verdict.next_change_at == NOW - timedelta(hours=10) + timedelta(days=14)


# -- rule files that are refused ----------------------------------------------------------------

def broken(change) -> dict:
    data = copy.deepcopy(RAW)
    change(data)
    return data


def test_the_unchanged_rule_file_parses():
    assert parse_ruleset(copy.deepcopy(RAW)) == RULES


def test_duplicate_reason_codes_are_refused():
    def dup(d):
        d["rules"][1]["code"] = d["rules"][0]["code"]
    with pytest.raises(RuleSetError, match="unique"):
        parse_ruleset(broken(dup))

    def dup_default(d):
        d["rules"][0]["code"] = d["default"]["code"]
    with pytest.raises(RuleSetError):
        parse_ruleset(broken(dup_default))


def test_an_unknown_colour_is_refused():
    with pytest.raises(RuleSetError, match="colour"):
        parse_ruleset(broken(lambda d: d["rules"][0].update(colour="purple")))


@pytest.mark.parametrize("language", ["zh-Hans", "zh-Hant", "en"])
def test_a_rule_missing_text_in_a_language_is_refused(language):
    with pytest.raises(RuleSetError):
        parse_ruleset(broken(lambda d: d["rules"][2]["text"].pop(language)))
    with pytest.raises(RuleSetError):
        parse_ruleset(broken(lambda d: d["default"]["text"].update({language: ""})))


def test_a_default_that_is_not_green_is_refused():
    with pytest.raises(RuleSetError, match="green"):
        parse_ruleset(broken(lambda d: d["default"].update(colour="yellow")))


@pytest.mark.parametrize("code", [24, 25, 255, 0, -1])
def test_reason_codes_outside_1_to_23_are_refused(code):
    with pytest.raises(RuleSetError):
        parse_ruleset(broken(lambda d: d["rules"][0].update(code=code)))


def test_reason_code_23_is_the_largest_accepted():
    assert parse_ruleset(broken(lambda d: d["rules"][0].update(code=23))).rules[0].code == 23


# -- properties --------------------------------------------------------------------------------

SAMPLES = {
    "test_result": [{"result": "positive"}, {"result": "negative"}, {"result": "invalid"}],
    "declaration": [{"symptoms": True}, {"symptoms": False}, {"confirmed_case": True},
                    {"symptoms": True, "confirmed_case": True}, {"symptoms": False, "confirmed_case": False}],
    "exposure": [{}, {"venue": "v_1"}],
    "travel": [{"risk_level": "high"}, {"risk_level": "low"}],
    "vaccination": [{"complete": True}, {"complete": False}],
}
GREEN_ONLY = [("test_result", {"result": "negative"}), ("test_result", {"result": "invalid"}),
              ("vaccination", {"complete": True}), ("declaration", {"symptoms": False}),
              ("travel", {"risk_level": "low"})]

# Hours before NOW: from well past the longest window (one year) to one hour ahead (ignored as future).
hours_ago = st.integers(min_value=-1, max_value=9000)
evidence = st.sampled_from(sorted(SAMPLES)).flatmap(
    lambda kind: st.builds(lambda data, h: Evidence(kind, NOW - timedelta(hours=h), data),
                           st.sampled_from(SAMPLES[kind]), hours_ago))
evidence_lists = st.lists(evidence, max_size=12)


def rank(colour: str) -> int:
    return COLOUR_RANK[colour]


@settings(max_examples=200, deadline=None)
@given(red_hours_ago=st.integers(min_value=0, max_value=14 * 24 - 1),
       later=st.lists(st.tuples(st.sampled_from(GREEN_ONLY), st.integers(min_value=0, max_value=14 * 24)), max_size=10))
def test_red_evidence_is_never_outranked_by_later_green_evidence_inside_its_window(red_hours_ago, later):
    items = [positive(red_hours_ago)]
    for (kind, data), after in later:
        items.append(ev(kind, max(red_hours_ago - after, 0), **data))  # at or after the positive test
    verdict = RULES.evaluate(items, NOW)
    assert verdict.colour == "red"
    assert 21 in verdict.reason_codes
    assert verdict.reasons[0].colour == "red"


@settings(max_examples=200, deadline=None)
@given(evidence_lists)
def test_the_colour_is_always_the_highest_colour_among_the_reasons(items):
    verdict = RULES.evaluate(items, NOW)
    assert verdict.reasons, "there is always at least one reason"
    assert verdict.colour == max((r.colour for r in verdict.reasons), key=rank)
    for reason in verdict.reasons:
        rule = RULES.rule_for_code(reason.code)
        assert rule is not None and rule.colour == reason.colour and rule.id == reason.rule_id
    assert len(set(verdict.reason_codes)) == len(verdict.reason_codes)
    assert [rank(r.colour) for r in verdict.reasons] == sorted((rank(r.colour) for r in verdict.reasons), reverse=True)


@settings(max_examples=200, deadline=None)
@given(evidence_lists, evidence_lists)
def test_adding_evidence_never_lowers_the_colour(before, added):
    colour = RULES.evaluate(before, NOW).colour
    assert rank(RULES.evaluate(before + added, NOW).colour) >= rank(colour)
    assert rank(RULES.evaluate(added + before, NOW).colour) >= rank(colour)  # order does not matter either


@settings(max_examples=200, deadline=None)
@given(evidence_lists)
def test_the_next_change_is_after_now_and_is_the_earliest_reason_to_run_out(items):
    verdict = RULES.evaluate(items, NOW)
    untils = [r.until for r in verdict.reasons if r.until is not None]
    # Evidence stamped ahead of time counts once it is no longer in the future: that is a change too.
    pending = [e.observed_at - FUTURE_TOLERANCE for e in items if e.observed_at > NOW + FUTURE_TOLERANCE]
    if verdict.next_change_at is None:
        assert verdict.reason_codes == (1,) and not untils and not pending
    else:
        assert verdict.next_change_at > NOW
        assert verdict.next_change_at == min(untils + pending)
        # At that moment the reason running out is gone (or, if evidence that was still in the future
        # now counts, it is back with a later end): never still showing the old end.
        after = RULES.evaluate(items, verdict.next_change_at)
        for reason in after.reasons:
            assert reason.until is None or reason.until > verdict.next_change_at
