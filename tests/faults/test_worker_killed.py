"""The serving process is killed (SIGKILL) while citizens submit applications (办件).

Nothing runs on the way down: no clean-up, no flush. After a restart, what the database holds
is whole (every application has its complete history: the write is one transaction), and the
phones that never got an answer retry with their Idempotency-Key and get exactly one
application each, every application has its one inbox message, and every move has its audit entry,
chained or pending for the sweep (a worker killed between the commit and the chain write). Lost: nothing. Duplicated: nothing. Half-written:
nothing.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.factories import valid_id_number
from tests.served import Served, call, served, signed_in_citizen

ITEM = "gd-hrss-013"  # a seeded sample item, online, nothing to attach
BODY = {"item_id": ITEM, "form": {"联系电话": "13900000000", "申请原因": "查询证书（示例）"}, "materials": []}
HISTORY = ["accepted", "submitted", "under_review"]


def rows_of(value: Any) -> Any:
    """A JSON column reads as text on SQLite and as a value on PostgreSQL."""
    return json.loads(value) if isinstance(value, str) else value


def submit_until_killed(service: Served, token: str, keys: list[str]) -> dict[str, str]:
    """Phones submit with their keys; the process is killed once a dozen have their answer. Returns key -> id
    for the phones that got one."""
    answered: dict[str, str] = {}
    enough = threading.Event()

    def submit(key: str) -> None:
        try:
            status, body, _ = call(service.port, "POST", "/api/v1/applications", BODY, token=token,
                                   headers={"Idempotency-Key": key}, timeout=5)
        except OSError:
            return  # the connection died with the process: the phone does not know
        if status == 201:
            answered[key] = body["id"]
            if len(answered) >= 12:
                enough.set()

    with ThreadPoolExecutor(8) as pool:
        for key in keys:
            pool.submit(submit, key)
        assert enough.wait(60), "too few submissions were answered before the kill"
        service.kill()  # mid-load: others are in flight
    return answered


def assert_stored_whole_or_not_at_all(service: Served, answered: dict[str, str]) -> None:
    rows = service.query("SELECT id, idempotency_key FROM applications")
    stored = dict((key, app_id) for app_id, key in rows)
    assert len(stored) == len(rows), "a key was stored twice"
    assert all(stored[key] == app_id for key, app_id in answered.items()), "an answered application was lost"
    events = service.query("SELECT application_id, to_status FROM application_events")
    for app_id, _ in rows:  # whole, or not there at all
        assert sorted(s for a, s in events if a == app_id) == HISTORY, f"{app_id} is half-written"
    assert {a for a, _ in events} <= {app_id for app_id, _ in rows}, "events without their application"


def every_phone_retries(service: Served, token: str, keys: list[str], answered: dict[str, str]) -> None:
    """Every phone retries until it has an answer; one that had an answer gets the same application."""
    for key in keys:
        status, body, _ = call(service.port, "POST", "/api/v1/applications", BODY, token=token,
                               headers={"Idempotency-Key": key})
        assert status == 201, body
        if key in answered:
            assert body["id"] == answered[key]
    status, mine, _ = call(service.port, "GET", "/api/v1/applications", token=token)
    assert status == 200
    assert len(mine["items"]) == len(keys) == len({item["id"] for item in mine["items"]})
    assert service.query("SELECT COUNT(*) FROM applications")[0][0] == len(keys)


def assert_every_move_audited_once(service: Served) -> None:
    """Every move of every application is in the audit chain, or pending for the sweep: none lost, none twice."""
    audited = [rows_of(a) for (a,) in
               service.query("SELECT attributes FROM audit_entries WHERE action LIKE 'application_%'")]
    for (records,) in service.query("SELECT records FROM audit_pending"):
        audited += [r["attributes"] for r in rows_of(records)]
    moves = sorted((a["application_id"], a["to"]) for a in audited)
    expected = sorted((app_id, to) for (app_id,) in service.query("SELECT id FROM applications") for to in HISTORY)
    assert moves == expected, "a move without its audit entry, or with two"


def assert_one_inbox_message_each(service: Served) -> None:
    """One "submitted" message in the inbox for each application: stored with it, so never lost, never twice."""
    messages = service.query("SELECT params FROM notifications WHERE kind = 'application_submitted'")
    numbers = sorted(rows_of(p)["number"] for (p,) in messages)
    assert numbers == sorted(app_id for (app_id,) in service.query("SELECT id FROM applications")), \
        "an application without its inbox message, or with two"


def test_a_killed_worker_leaves_no_half_written_application_and_retries_make_exactly_one_each():
    keys = [f"kill-test-{n:04d}" for n in range(48)]
    with served() as service:
        service.start()
        token = signed_in_citizen(service, "13711112222", valid_id_number(sequence="417"))
        answered = submit_until_killed(service, token, keys)
        assert 12 <= len(answered) < len(keys), "the kill came too late to be mid-load"
        assert_stored_whole_or_not_at_all(service, answered)

        service.start()  # the same data, a new process
        every_phone_retries(service, token, keys, answered)
        assert_every_move_audited_once(service)
        assert_one_inbox_message_each(service)
