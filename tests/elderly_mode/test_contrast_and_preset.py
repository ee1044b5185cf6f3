"""The presentation preset: sizes per 移动互联网应用适老化通用设计规范, contrast per WCAG 2.x, computed."""

from __future__ import annotations

import pytest

from elderly_mode import presets, rules
from tests.factories import sign_in

PRESET = "/api/v1/elderly/preset"


@pytest.mark.parametrize(("foreground", "background", "expected"), [
    ("#000000", "#FFFFFF", 21.0),  # the largest contrast there is
    ("#FFFFFF", "#FFFFFF", 1.0),
    ("#767676", "#FFFFFF", 4.54),  # the lightest grey that passes AA on white (WebAIM)
    ("#777777", "#FFFFFF", 4.48),  # one step lighter fails
    ("#0000FF", "#FFFFFF", 8.59),
    ("#FF0000", "#FFFFFF", 4.00),
    ("#595959", "#FFFFFF", 7.00),  # AAA on white
    ("#FFFFFF", "#0000FF", 8.59),  # order does not matter
])
def test_contrast_matches_known_wcag_pairs(foreground, background, expected):
    assert rules.contrast_ratio(foreground, background) == pytest.approx(expected, abs=0.01)


def test_relative_luminance_uses_the_wcag_formula():
    assert rules.relative_luminance("#FFFFFF") == pytest.approx(1.0)
    assert rules.relative_luminance("#000000") == 0.0
    assert rules.relative_luminance("#808080") == pytest.approx(0.2159, abs=1e-4)
    with pytest.raises(ValueError):
        rules.parse_hex("#FFF")


@pytest.mark.parametrize("pair", presets.PAIRS, ids=lambda p: f"{p.foreground}-on-{p.background}")
def test_every_pair_of_the_palette_passes(pair):
    ratio = rules.contrast_ratio(presets.PALETTE[pair.foreground], presets.PALETTE[pair.background])
    assert ratio >= (3.0 if pair.large else 4.5), f"{pair.use}: {ratio:.2f}"


def test_every_status_colour_has_words_and_an_icon_and_is_in_the_palette():
    for name, status in presets.STATUSES.items():
        assert status["colour"] in presets.PALETTE, name
        assert status["icon"], name
        assert all(presets.status_label(name, lang)["label"] for lang in ("zh-Hans", "zh-Hant", "en")), name
    # Every status colour is also checked as text on the background and under white text.
    checked = {(p.foreground, p.background) for p in presets.PAIRS}
    for colour in {s["colour"] for s in presets.STATUSES.values()} - {"primary"}:
        assert ("on_status", colour) in checked and (colour, "background") in checked


def test_a_palette_that_fails_is_reported_as_failing():
    report = presets.pair_report(presets.Pair("text", "background", "test"))
    assert report["passes"] is True
    original = presets.PALETTE["text"]
    presets.PALETTE["text"] = "#999999"  # 2.85:1 on white
    try:
        report = presets.pair_report(presets.Pair("text", "background", "test"))
        assert report["passes"] is False and report["ratio"] == pytest.approx(2.85, abs=0.01)
    finally:
        presets.PALETTE["text"] = original


async def test_the_preset_meets_the_size_floors_and_reports_every_ratio(client, sms):
    citizen = await sign_in(client, sms)
    reply = await client.get(PRESET, headers=citizen.headers)
    assert reply.status_code == 200
    body = reply.json()
    sizes = body["sizes"]
    assert sizes["body_dp"] >= 18 and sizes["secondary_dp"] >= 18
    assert sizes["heading_dp"] >= 30 and sizes["key_function_dp"] >= 30
    assert sizes["line_height"] >= 1.3 and sizes["touch_target_dp"] >= 60 and sizes["qr_module_px"] >= 8
    assert len(body["pairs"]) == len(presets.PAIRS)
    for pair in body["pairs"]:
        computed = rules.contrast_ratio(body["palette"][pair["foreground"]], body["palette"][pair["background"]])
        assert pair["ratio"] == pytest.approx(computed, abs=0.01) and pair["passes"] is True
        assert pair["ratio"] >= pair["required"]
    assert body["statuses"]["green"] == {"colour": "success", "hex": "#00662E", "icon": "check-circle",
                                         "label": "绿码"}
    assert body["behaviour"]["marketing"] is False and body["behaviour"]["auto_dismiss"] is False


async def test_a_client_scale_factor_is_honoured_up_to_the_cap(client, sms):
    citizen = await sign_in(client, sms)
    scaled = (await client.get(PRESET, params={"font_scale": "1.3"}, headers=citizen.headers)).json()
    assert scaled["font_scale"] == 1.3 and scaled["sizes"]["body_dp"] == pytest.approx(23.4)
    assert scaled["sizes"]["heading_dp"] == pytest.approx(39.0)
    capped = (await client.get(PRESET, params={"font_scale": "3"}, headers=citizen.headers)).json()
    assert capped["font_scale"] == rules.MAX_FONT_SCALE == capped["font_scale_cap"]
    assert capped["sizes"]["body_dp"] == 36.0
    smaller = (await client.get(PRESET, params={"font_scale": "0.8"}, headers=citizen.headers)).json()
    assert smaller["sizes"]["body_dp"] == 18  # a scale below 1 never shrinks text under the floor


@pytest.mark.parametrize("value", ["abc", "0.1", "9"])
async def test_a_nonsense_scale_is_refused(client, sms, value):
    citizen = await sign_in(client, sms)
    reply = await client.get(PRESET, params={"font_scale": value}, headers=citizen.headers)
    assert reply.status_code == 422
    assert reply.json()["error"]["code"] == "VALIDATION_FAILED"


async def test_labels_follow_the_language(client, sms):
    citizen = await sign_in(client, sms)
    english = await client.get(PRESET, headers={**citizen.headers, "Accept-Language": "en"})
    assert english.json()["statuses"]["red"]["label"] == "Red code"
    hant = await client.get(PRESET, headers={**citizen.headers, "Accept-Language": "zh-TW"})
    assert hant.json()["statuses"]["yellow"]["label"] == "黃碼"


async def test_the_preset_needs_a_sign_in(client):
    reply = await client.get(PRESET)
    assert reply.status_code == 401
