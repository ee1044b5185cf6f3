"""12345 tickets (工单): a citizen files a complaint with a location and a photo, it goes to the department the
routing table names, which accepts and answers it within its working-day limits; the citizen confirms or
reopens the answer and rates it (好差评), a bad rating sending it back. Only the citizen sees their ticket, and
only the department it was routed to works it."""

from __future__ import annotations

from app.audit import AuditEntry
from app.hotline.models import Ticket, TicketEvent
from app.services.ratings.models import TicketRating
from app.uploads.models import Upload
from tests.factories import refresh_tokens, sign_in
from tests.hotline.hotline_factory import (
    ACCESS_LOG, ADMIN_TICKETS, FRIDAY_MORNING, TICKETS, accept, act, answer, answered, civil_affairs_clerk,
    error_code, file_ticket, filed, inbox_kinds, market_clerk,
)
from tests.uploads.upload_factory import gps_of, uploaded


async def test_a_complaint_goes_to_market_regulation_is_answered_confirmed_and_rated(client, sms, clock):
    clock.set(FRIDAY_MORNING)
    citizen = await sign_in(client, sms)
    market, other = await market_clerk(clock), await civil_affairs_clerk(clock)
    shelf = await uploaded(client, citizen)  # a photo of the shelf, taken with the phone's location in it

    ticket = await filed_and_routed(client, citizen, shelf)
    await only_market_regulation_reads_it(client, citizen, ticket, shelf, market, other)
    await accepted_and_answered_in_the_access_log(client, citizen, ticket, market)
    rated = await confirmed_and_rated(client, citizen, ticket)

    mine = (await client.get(f"{TICKETS}/{ticket['id']}", headers=citizen.headers)).json()
    assert [e["action"] for e in mine["events"]] == ["submitted", "accepted", "answered", "confirmed", "rated"]
    assert mine["ratings"] == [{"answer_round": 1, "score": 5, "created_at": rated["created_at"]}]
    assert await inbox_kinds(client, citizen) == ["hotline_ticket_accepted", "hotline_ticket_answered"]
    actions = set(await AuditEntry.filter(subject_id=citizen.id).values_list("action", flat=True))
    assert {"hotline_ticket_submitted", "hotline_ticket_accepted", "hotline_ticket_answered",
            "hotline_ticket_confirmed", "hotline_ticket_rated"} <= actions
    listed = (await client.get(TICKETS, headers=citizen.headers)).json()["items"]
    assert [t["id"] for t in listed] == [ticket["id"]]


async def filed_and_routed(client, citizen, shelf: str) -> dict:
    """Filed with the photo: routed by its category, due in working days, kept encrypted."""
    ticket = await filed(client, citizen, uploads=[shelf])
    assert (ticket["category_text"], ticket["status"], ticket["status_text"]) == ("投诉", "submitted", "待受理")
    assert (ticket["department_id"], ticket["department_name"], ticket["routed_by"]) == (
        "gz-scjgj", "广州市市场监督管理局", "category")
    # Filed on a Friday: accepted by the end of Monday, answered by the end of the next Friday (Beijing time).
    assert (ticket["accept_due"], ticket["answer_due"]) == ("2026-12-07T16:00:00Z", "2026-12-11T16:00:00Z")
    assert ticket["location"] == COMPLAINT_LOCATION
    assert ticket["uploads"] == [shelf]
    assert (await Upload.get(id=shelf)).owner_id == ticket["id"]
    stored = await Ticket.get(id=ticket["id"])
    assert "过期酸奶" not in stored.description_enc  # encrypted at rest
    assert "天河路" not in stored.location_enc
    return ticket


async def only_market_regulation_reads_it(client, citizen, ticket: dict, shelf: str, market, other) -> None:
    """The department it was routed to sees it (and its photo, as a file, without the location); the citizen
    sees each read in her access log; another department sees nothing."""
    queue = (await client.get(ADMIN_TICKETS, headers=market.headers())).json()["items"]
    assert [t["id"] for t in queue] == [ticket["id"]]
    assert "description" not in queue[0]
    assert (await client.get(ADMIN_TICKETS, headers=other.headers())).json()["items"] == []
    read = await client.get(f"{ADMIN_TICKETS}/{ticket['id']}", headers=market.headers())
    assert read.status_code == 200
    assert "过期酸奶" in read.json()["description"]
    seen = await client.get(f"{ADMIN_TICKETS}/{ticket['id']}/uploads/{shelf}", headers=market.headers())
    assert (seen.status_code, seen.headers["content-type"]) == (200, "image/jpeg")
    assert (seen.headers["x-content-type-options"], seen.headers["content-security-policy"]) == ("nosniff", "sandbox")
    assert seen.headers["cache-control"] == "private, no-store"
    assert f'"{shelf}.jpg"' in seen.headers["content-disposition"]
    assert gps_of(seen.content) == {}  # the clerk sees the photo, not where the phone was
    log = (await client.get(ACCESS_LOG, headers=citizen.headers)).json()["items"]
    assert {"hotline_ticket_read", "material_viewed"} <= {entry["action"] for entry in log}


async def clerk_reads(client, citizen) -> int:
    log = (await client.get(ACCESS_LOG, headers=citizen.headers)).json()["items"]
    return sum(entry["action"] == "hotline_ticket_read" for entry in log)


async def accepted_and_answered_in_the_access_log(client, citizen, ticket: dict, market) -> None:
    before = await clerk_reads(client, citizen)
    assert (await accept(client, market, ticket["id"])).json()["status_text"] == "办理中"
    reply = (await answer(client, market, ticket["id"])).json()
    assert (reply["status"], reply["answer_round"]) == ("answered", 1)
    assert "已下架" in reply["answer"]
    # Accepting and answering show the clerk the whole ticket: both are logged.
    assert await clerk_reads(client, citizen) == before + 2


async def confirmed_and_rated(client, citizen, ticket: dict) -> dict:
    confirmed = await act(client, citizen, ticket["id"], "confirm")
    assert confirmed.status_code == 200
    assert (confirmed.json()["status"], bool(confirmed.json()["closed_at"])) == ("closed", True)
    rated = await act(client, citizen, ticket["id"], "rating", {"score": 5, "tags": ["答复及时"], "text": "处理得很快"})
    assert (rated.status_code, rated.json()["reopened"]) == (201, False)
    return rated.json()


COMPLAINT_LOCATION = {"address": "广州市天河区天河路 208 号（示例）", "latitude": 23.1325, "longitude": 113.3234}


async def test_a_bad_rating_reopens_the_ticket_for_another_answer_that_is_rated_again(client, sms, clock):
    clock.set(FRIDAY_MORNING)
    citizen, market = await sign_in(client, sms), await market_clerk(clock)
    ticket = await filed(client, citizen)
    await answered(client, market, ticket["id"])
    assert (await act(client, citizen, ticket["id"], "confirm")).status_code == 200

    bad = await act(client, citizen, ticket["id"], "rating", {"score": 1, "text": "没有解决问题"})
    assert bad.status_code == 201 and bad.json()["reopened"] is True
    now = (await client.get(f"{TICKETS}/{ticket['id']}", headers=citizen.headers)).json()
    assert (now["status"], now["closed_at"]) == ("reopened", None)
    assert now["answer_due"] == "2026-12-11T16:00:00Z"  # five working days from Friday, again
    assert now["events"][-1]["note"] == "差评，工单重新办理" and now["events"][-1]["actor_type"] == "system"
    assert now["answer"] == ""  # the first answer is not shown as if it were the current one ...
    assert (await inbox_kinds(client, citizen))[-1] == "hotline_ticket_reopened_by_rating"
    twice = await act(client, citizen, ticket["id"], "rating", {"score": 1})
    assert twice.status_code == 409 and error_code(twice) == "TICKET_STATE_CONFLICT"

    second = await answer(client, market, ticket["id"], "已再次上门核查，超市已赔偿并整改，欢迎监督。")
    assert second.status_code == 200 and second.json()["answer_round"] == 2
    assert (await act(client, citizen, ticket["id"], "confirm")).status_code == 200
    good = await act(client, citizen, ticket["id"], "rating", {"score": 4})
    assert good.status_code == 201 and good.json()["answer_round"] == 2
    assert await TicketRating.filter(ticket_id=ticket["id"]).order_by("answer_round").values_list(
        "score", flat=True) == [1, 4]
    again = await act(client, citizen, ticket["id"], "rating", {"score": 5})
    assert again.status_code == 409 and error_code(again) == "RATING_EXISTS"
    # ... and both rounds' answers stay in the timeline, each with the rating given to it.
    timeline = (await client.get(f"{TICKETS}/{ticket['id']}", headers=citizen.headers)).json()["events"]
    assert [e["text"] for e in timeline if e["action"] == "answered"] == [
        "经核查，该超市已下架过期商品并为您办理退款，我局已立案调查。", "已再次上门核查，超市已赔偿并整改，欢迎监督。"]
    stored = await TicketEvent.filter(ticket_id=ticket["id"], action="answered").values_list("words_enc", flat=True)
    assert all(words and "超市" not in words for words in stored)  # encrypted at rest


async def test_the_citizen_reopens_an_answer_that_does_not_settle_it(client, sms, clock):
    citizen, market = await sign_in(client, sms), await market_clerk(clock)
    ticket = await filed(client, citizen)
    await answered(client, market, ticket["id"])
    reason = "超市仍在售卖过期商品，{价格} 标签也不对"  # braces are the citizen's words, kept as written
    reopened = await act(client, citizen, ticket["id"], "reopen", {"reason": reason})
    assert reopened.status_code == 200 and reopened.json()["status"] == "reopened"
    english = await client.get(f"{TICKETS}/{ticket['id']}", headers={**citizen.headers, "Accept-Language": "en"})
    assert reopened.json()["events"][-1]["note"] == english.json()["events"][-1]["note"] == reason
    assert reopened.json()["events"][-1]["text"] == reason
    kept = await TicketEvent.get(ticket_id=ticket["id"], action="reopened")
    assert kept.note == "" and "超市" not in kept.words_enc  # the citizen's words are encrypted at rest
    queue = (await client.get(ADMIN_TICKETS, headers=market.headers(), params={"status": "reopened"})).json()
    assert [t["answer_round"] for t in queue["items"]] == [2]


async def test_routing_follows_the_item_or_department_named_before_the_category(client, sms, clock):
    citizen = await sign_in(client, sms)
    by_item = await filed(client, citizen, category="enquiry", item_id=await _published_item_of("gz-gjj"))
    assert (by_item["department_id"], by_item["routed_by"]) == ("gz-gjj", "item")
    by_name = await filed(client, citizen, category="suggestion", department_id="gz-jtj")
    assert (by_name["department_id"], by_name["routed_by"]) == ("gz-jtj", "department")
    help_ = await filed(client, citizen, category="help", location={"address": "越秀区北京路（示例）"})
    assert (help_["department_id"], help_["routed_by"], help_["category_text"]) == ("gz-mzj", "category", "求助")
    assert help_["location"] == {"address": "越秀区北京路（示例）", "latitude": None, "longitude": None}


async def _published_item_of(department_id: str) -> str:
    from app.services.catalogue.models import ServiceItem

    return (await ServiceItem.filter(department_id=department_id, status="published").first()).id


async def test_bad_input_answers_422_naming_the_field_and_stores_nothing(client, sms):
    citizen = await sign_in(client, sms)
    cases = [
        ({"category": "praise"}, "category", "VALIDATION_FAILED"),
        ({"description": "   "}, "description", "VALIDATION_FAILED"),
        ({"location": {"address": "天河路", "latitude": 91, "longitude": 113.3}}, "location.latitude", "VALIDATION_FAILED"),
        ({"location": {"address": "天河路", "latitude": 23.1, "longitude": -181}}, "location.longitude",
         "VALIDATION_FAILED"),
        ({"location": {"address": "天河路", "latitude": 23.1}}, "location", "VALIDATION_FAILED"),
    ]
    for change, field, code in cases:
        reply = await file_ticket(client, citizen, **change)
        assert reply.status_code == 422 and error_code(reply) == code, (change, reply.text)
        assert field in [f["field"] for f in reply.json()["error"]["fields"]], (change, reply.text)
    # An item or department the catalogue does not have is not found, as for an application, naming the field.
    for change, code in (({"item_id": "no-such-item"}, "TICKET_ITEM_NOT_FOUND"),
                         ({"department_id": "no-such-bureau"}, "TICKET_DEPARTMENT_NOT_FOUND")):
        reply = await file_ticket(client, citizen, **change)
        assert reply.status_code == 404 and error_code(reply) == code, (change, reply.text)
        assert reply.json()["error"]["field"] == next(iter(change))
    assert await Ticket.filter(citizen_id=citizen.id).count() == 0


async def test_steps_out_of_order_answer_409(client, sms, clock):
    citizen, market = await sign_in(client, sms), await market_clerk(clock)
    ticket = await filed(client, citizen)
    for step in ("confirm", "reopen", "rating"):
        body = {"reason": "还没答复"} if step == "reopen" else {"score": 3} if step == "rating" else None
        reply = await act(client, citizen, ticket["id"], step, body)
        assert reply.status_code == 409 and error_code(reply) == "TICKET_STATE_CONFLICT", (step, reply.text)
        assert reply.json()["error"]["status"] == "submitted"
    early = await answer(client, market, ticket["id"])
    assert early.status_code == 409 and early.json()["error"]["refused"] == "answered"
    assert (await accept(client, market, ticket["id"])).status_code == 200
    assert (await accept(client, market, ticket["id"])).status_code == 409
    assert await TicketEvent.filter(ticket_id=ticket["id"]).count() == 2  # submitted, accepted: nothing else


async def test_someone_elses_ticket_or_upload_is_not_found(client, sms, clock):
    owner, stranger = await sign_in(client, sms), await sign_in(client, sms)
    market, other = await market_clerk(clock), await civil_affairs_clerk(clock)
    ticket = await filed(client, owner)
    assert (await client.get(f"{TICKETS}/{ticket['id']}", headers=stranger.headers)).status_code == 404
    for step, body in (("confirm", None), ("reopen", {"reason": "不是我的"}), ("rating", {"score": 1})):
        reply = await act(client, stranger, ticket["id"], step, body)
        assert reply.status_code == 404 and error_code(reply) == "TICKET_NOT_FOUND", step
    assert (await client.get(TICKETS, headers=stranger.headers)).json()["items"] == []
    for path in ("", "/accept"):
        method = client.get if not path else client.post
        reply = await method(f"{ADMIN_TICKETS}/{ticket['id']}{path}", headers=other.headers())
        assert reply.status_code == 404 and error_code(reply) == "TICKET_NOT_FOUND"
    assert (await answer(client, other, ticket["id"])).status_code == 404

    owners_photo = await uploaded(client, owner)
    taken = await file_ticket(client, stranger, uploads=[owners_photo])
    assert taken.status_code == 404 and error_code(taken) == "UPLOAD_NOT_FOUND"
    assert taken.json()["error"]["field"] == "uploads.0" and owners_photo not in taken.text
    assert await Ticket.filter(citizen_id=stranger.id).count() == 0
    assert (await Upload.get(id=owners_photo)).owner_id is None
    unattached = await client.get(f"{ADMIN_TICKETS}/{ticket['id']}/uploads/{owners_photo}", headers=market.headers())
    assert unattached.status_code == 404


async def test_texts_follow_the_language_asked(client, sms, clock):
    citizen = await sign_in(client, sms)
    ticket = await filed(client, citizen, category="help")
    for language, words in (("en", ("Help", "Awaiting acceptance")), ("zh-Hant", ("求助", "待受理"))):
        shown = (await client.get(f"{TICKETS}/{ticket['id']}",
                                  headers={**citizen.headers, "Accept-Language": language})).json()
        assert (shown["category_text"], shown["status_text"]) == words
    refused = await client.post(f"{TICKETS}/{ticket['id']}/confirm", headers={**citizen.headers, "Accept-Language": "en"})
    assert "ticket" in refused.json()["error"]["message"].lower()
    await refresh_tokens(client, citizen)


async def test_every_reply_has_the_shape_the_api_document_declares(client, sms, clock):
    from api.admin.hotline import ClerkQueue, ClerkTicket
    from api.citizen.hotline import TicketList, TicketOut, TicketRatingOut

    citizen, market = await sign_in(client, sms), await market_clerk(clock)
    ticket = await filed(client, citizen)
    TicketOut.model_validate(ticket, strict=True)
    ClerkQueue.model_validate((await client.get(ADMIN_TICKETS, headers=market.headers())).json(), strict=True)
    ClerkTicket.model_validate(await answered(client, market, ticket["id"]), strict=True)
    TicketList.model_validate((await client.get(TICKETS, headers=citizen.headers)).json(), strict=True)
    TicketOut.model_validate((await act(client, citizen, ticket["id"], "confirm")).json(), strict=True)
    TicketRatingOut.model_validate((await act(client, citizen, ticket["id"], "rating", {"score": 3})).json(),
                                   strict=True)
