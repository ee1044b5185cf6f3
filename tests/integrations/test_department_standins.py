"""The department stand-ins (人社, 住房公积金, 交管) as their own process, spoken to as the platform speaks to a
department on the exchange: every request signed here with a key of this test (served to the stand-in as a JWKS
file), every reply's signature checked against the department key the stand-in publishes."""

from __future__ import annotations

import json
import secrets
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from app.accounts.rules import id_check_char
from app.config import Settings
from app.clock import CHINA_TZ
from app.integrations.exchange import protocol
from app.integrations.exchange.protocol import ExchangeRefused, MemberId, RequestHeaders, ServiceId
from app.security.keys import public_jwk
from standins.departments import registration, tpb
from standins.departments.control import DepartmentsStandIn
from tests.health_code.interop.partner_process import end_now, launch

CLIENT = "CN-GD/GOV/11440000MB2C93140X/yss-app"
HRSS = "CN-GD/GOV/11440000MB2D0001XA/hrss"
HPF = "CN-GD/GOV/11440000MB2D0002XA/hpf"
TPB = "CN-GD/GOV/11440000MB2D0003XA/tpb"
NHSA = "CN-GD/GOV/11440000MB2D0004XA/nhsa"
KEY = ec.generate_private_key(ec.SECP256R1())
KID = "test-client-key-1"
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())
USER = "3f7a0c5e91b24d6a8e0f1c2b3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60"


def id_number(first17: str) -> str:
    return first17 + id_check_char(first17)


ALICE = id_number("44010619850312123")
BOB = id_number("44190019980808888")
READS = {  # every read service, with a body beyond the subject
    f"{HRSS}/insured-status/v1": {}, f"{HRSS}/contributions/v1": {"year": 2025}, f"{HRSS}/rights-record/v1": {},
    f"{HRSS}/social-security-card/v1": {}, f"{HPF}/account/v1": {}, f"{HPF}/deposits/v1": {"year": 2025},
    f"{HPF}/withdrawal-eligibility/v1": {"reason": "purchase"}, f"{TPB}/vehicles/v1": {},
    f"{TPB}/driving-licence/v1": {}, f"{TPB}/violations/v1": {}, f"{HRSS}/pension-certification/v1": {},
    f"{NHSA}/medical-account/v1": {},
}
SETTLEMENTS = f"{TPB}/settlements/v1"


@pytest.fixture(scope="module")
def standin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("departments")
    jwks = folder / "client-jwks.json"
    jwks.write_text(json.dumps({"keys": [public_jwk(KID, KEY.public_key())]}))
    command = [sys.executable, "-m", "standins.departments", "--port", "0", "--client", CLIENT, "--client-jwks", str(jwks)]
    url, process = launch(command, folder / "standin.log", "/_standin/health", what="stand-in departments")
    yield url
    end_now(process)


@pytest.fixture
def control(standin_url: str) -> Iterator[DepartmentsStandIn]:
    control = DepartmentsStandIn(standin_url)
    control.reset()
    yield control
    control.reset()
    control.close()


@dataclass
class Sent:
    reply: httpx.Response
    message_id: str
    request_hash: str

    def json(self) -> Any:
        return self.reply.json()


class Platform:
    """A bare exchange client: signs each request as docs/exchange.md says, checks each reply's signature."""

    def __init__(self, url: str, keys: dict[str, dict[str, Any]]) -> None:
        self.client = httpx.Client(base_url=url, timeout=10)
        self.department_keys = {entry["member"]: entry["keys"] for entry in keys.values()}

    def send(self, service: str, body: Any = None, purpose: str = "home_card", *, subject: str | None = ALICE,
             client: str = CLIENT, key: ec.EllipticCurvePrivateKey = KEY, kid: str = KID, skew: int = 0,
             message_id: str | None = None, header_service: str | None = None, drop: tuple[str, ...] = (),
             tamper: bool = False, timeout: float = 10.0) -> Sent:
        payload = dict(body or {}) if body is None or isinstance(body, dict) else body
        if isinstance(payload, dict) and subject is not None:
            payload["subject"] = {"id_number": subject}
        content = json.dumps(payload, ensure_ascii=False).encode()
        headers = RequestHeaders(MemberId.parse(client), ServiceId.parse(header_service or service),
                                 message_id or secrets.token_hex(16), USER, purpose, "", int(time.time()) + skew)
        path = f"/r1/{service}"
        signing_input = protocol.request_signing_input("POST", path, headers, content)
        sent = {**headers.as_headers(), protocol.HEADER_SIGNATURE: protocol.sign_detached(signing_input, key, kid),
                "Content-Type": "application/json"}
        for name in drop:
            sent.pop(name)
        if tamper:
            content = content.replace(b"}}", b"} }")
        reply = self.client.post(path, content=content, headers=sent, timeout=timeout)
        return Sent(reply, headers.message_id, protocol.sha256(signing_input))

    def verify(self, sent: Sent, service: str) -> None:
        """The reply is signed by the department of `service` over its status, id, request hash and body."""
        member = str(ServiceId.parse(service).provider)
        keys = {jwk["kid"]: jwt.PyJWK(jwk, algorithm="ES256").key for jwk in self.department_keys[member]}
        reply = sent.reply
        signing_input = protocol.response_signing_input(
            reply.status_code, reply.headers.get(protocol.HEADER_ID, ""),
            reply.headers.get(protocol.HEADER_REQUEST_HASH, ""), reply.content)
        protocol.verify_detached(reply.headers[protocol.HEADER_SIGNATURE], signing_input, keys.get)

    def answered(self, service: str, body: dict[str, Any] | None = None, **options: Any) -> dict[str, Any]:
        """A verified 200 reply's data, naming this request."""
        sent = self.send(service, body, **options)
        assert sent.reply.status_code == 200, sent.reply.text
        self.verify(sent, service)
        assert sent.reply.headers[protocol.HEADER_ID] == sent.message_id
        assert sent.reply.headers[protocol.HEADER_REQUEST_HASH] == sent.request_hash
        data = sent.json()
        assert data["sample"] is True
        return data

    def refused(self, sent: Sent, service: str, status: int, fault: str) -> dict[str, Any]:
        """A signed fault reply of `status` and X-Road fault type `fault`."""
        assert (sent.reply.status_code, sent.json()["type"]) == (status, fault), sent.reply.text
        self.verify(sent, service)
        return sent.json()

    def close(self) -> None:
        self.client.close()


@pytest.fixture
def platform(standin_url: str, control: DepartmentsStandIn) -> Iterator[Platform]:
    platform = Platform(standin_url, control.keys())
    yield platform
    platform.close()


# -- services -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("service", sorted(READS))
def test_each_service_answers_signed_sample_data_the_same_for_the_same_person(platform: Platform,
                                                                               service: str) -> None:
    first = platform.answered(service, READS[service])
    assert platform.answered(service, READS[service]) == first


def test_two_persons_have_different_records(platform: Platform) -> None:
    for service in (f"{HRSS}/contributions/v1", f"{HPF}/account/v1", f"{TPB}/driving-licence/v1",
                    f"{HRSS}/social-security-card/v1"):
        assert platform.answered(service, READS[service]) != platform.answered(service, READS[service], subject=BOB)


def test_a_reply_signed_by_another_department_does_not_verify(platform: Platform) -> None:
    sent = platform.send(f"{HRSS}/insured-status/v1")
    assert sent.reply.status_code == 200
    with pytest.raises(ExchangeRefused) as refused:
        platform.verify(sent, f"{HPF}/account/v1")
    assert refused.value.fault == "Client.SignatureInvalid"


def test_social_insurance_records_have_the_published_structure(platform: Platform) -> None:
    status = platform.answered(f"{HRSS}/insured-status/v1")
    assert status["insured"] is True and {s["code"] for s in status["schemes"]} >= {"110", "310"}
    assert all(s["name"] and s["status_name"] and s["since"] for s in status["schemes"])
    year = platform.answered(f"{HRSS}/contributions/v1", {"year": 2025})
    assert year["year"] == 2025 and year["months"]
    month = year["months"][0]
    assert month["month"].startswith("2025-") and isinstance(month["base_fen"], int)
    assert month["personal_total_fen"] == sum(i["personal_fen"] for i in month["items"])
    assert year["personal_total_fen"] == sum(m["personal_total_fen"] for m in year["months"])
    record = platform.answered(f"{HRSS}/rights-record/v1")
    assert record["record_no"].startswith("GDSI") and record["pension"]["months_total"] > 0
    card = platform.answered(f"{HRSS}/social-security-card/v1", purpose="relying_party_check")
    assert len(card["card_no"]) == 9 and card["status_name"] in ("正常", "挂失")


def test_provident_fund_ledger_agrees_with_the_account(platform: Platform) -> None:
    account = platform.answered(f"{HPF}/account/v1")
    assert account["has_account"] and account["status_name"] == "正常" and account["monthly_deposit_fen"] > 0
    this_year = platform.answered(f"{HPF}/deposits/v1", {"year": time.gmtime().tm_year})
    assert this_year["closing_balance_fen"] == account["balance_fen"]
    assert all(e["type_name"] in ("汇缴", "年度结息", "租赁住房提取") for e in this_year["items"])
    for reason in ("purchase", "rent", "retirement"):
        answer = platform.answered(f"{HPF}/withdrawal-eligibility/v1", {"reason": reason}, purpose="eligibility_check")
        assert answer["eligible"] == all(r["met"] for r in answer["reasons"])
        assert 0 <= answer["max_amount_fen"] <= account["balance_fen"]
    retirement = platform.answered(f"{HPF}/withdrawal-eligibility/v1", {"reason": "retirement"})
    assert not retirement["eligible"] and retirement["max_amount_fen"] == 0  # born 1985


@pytest.mark.parametrize("service, body", [(f"{HRSS}/contributions/v1", {"year": 1980}),
                                           (f"{HPF}/deposits/v1", {"year": "2025"}),
                                           (f"{HPF}/withdrawal-eligibility/v1", {"reason": "wedding"})])
def test_a_bad_parameter_is_a_bad_request(platform: Platform, service: str, body: dict[str, Any]) -> None:
    platform.refused(platform.send(service, body), service, 400, "Client.BadRequest")


def driver_with_violations() -> str:
    """A person (derived data) with at least one open violation."""
    today = datetime.now(CHINA_TZ).date()
    for n in range(1000):
        candidate = id_number(f"44010619900315{n:03d}")
        if tpb.violations(candidate, today, {})["count"]:
            return candidate
    raise AssertionError("no driver with violations among the candidates")


def test_violations_have_decision_numbers_that_a_settlement_pays_and_a_reversal_reopens(platform: Platform) -> None:
    driver = driver_with_violations()
    vehicles = platform.answered(f"{TPB}/vehicles/v1", subject=driver)
    open_ = platform.answered(f"{TPB}/violations/v1", subject=driver)
    item = open_["items"][0]
    assert tpb.DECISION_NUMBER.fullmatch(item["reference"]) and item["plate_no"] in {v["plate_no"] for v in
                                                                                    vehicles["items"]}
    assert (item["status"], open_["fines_fen"]) == ("unpaid", sum(i["fine_fen"] for i in open_["items"]))
    paid = {"decision_number": item["reference"], "action": "paid", "amount_fen": item["fine_fen"], "payment_id": "p1"}
    assert platform.answered(SETTLEMENTS, paid, purpose="settlement", subject=driver)["status"] == "paid"
    assert platform.answered(SETTLEMENTS, paid, purpose="settlement", subject=None)["status"] == "paid"  # idempotent
    after = platform.answered(f"{TPB}/violations/v1", subject=driver)
    assert after["items"][0]["status"] == "paid" and after["fines_fen"] == open_["fines_fen"] - item["fine_fen"]
    reversed_ = {"decision_number": item["reference"], "action": "reversed"}
    assert platform.answered(SETTLEMENTS, reversed_, purpose="settlement", subject=driver)["status"] == "unpaid"
    assert platform.answered(f"{TPB}/violations/v1", subject=driver) == open_
    platform.refused(platform.send(SETTLEMENTS, paid, purpose="settlement", subject=ALICE), SETTLEMENTS, 404,
                     "Client.UnknownSubject")  # not Alice's fine


# -- faults -------------------------------------------------------------------------------------------

SERVICE = f"{HRSS}/insured-status/v1"


@pytest.mark.parametrize("header", [protocol.HEADER_ID, protocol.HEADER_CLIENT, protocol.HEADER_USER,
                                    protocol.HEADER_SERVICE])
def test_a_missing_header_is_refused_400_signed(platform: Platform, header: str) -> None:
    sent = platform.send(SERVICE, drop=(header,))
    platform.refused(sent, SERVICE, 400, "Client.BadHeader")
    assert protocol.HEADER_REQUEST_HASH not in sent.reply.headers  # too malformed to name the request


def test_an_unknown_purpose_and_a_service_header_not_the_path_are_400(platform: Platform) -> None:
    platform.refused(platform.send(SERVICE, purpose="curiosity"), SERVICE, 400, "Client.UnknownPurpose")
    sent = platform.send(SERVICE, header_service=f"{HRSS}/rights-record/v1")
    platform.refused(sent, SERVICE, 400, "Client.BadHeader")
    assert sent.reply.headers[protocol.HEADER_REQUEST_HASH] == sent.request_hash


def test_a_stale_request_is_401(platform: Platform) -> None:
    platform.refused(platform.send(SERVICE, skew=-protocol.WINDOW - 5), SERVICE, 401, "Client.Stale")
    platform.refused(platform.send(SERVICE, skew=protocol.WINDOW + 5), SERVICE, 401, "Client.Stale")


def test_a_replayed_message_id_is_401(platform: Platform) -> None:
    first = platform.send(SERVICE)
    assert first.reply.status_code == 200
    platform.refused(platform.send(SERVICE, message_id=first.message_id), SERVICE, 401, "Client.Replayed")


def test_a_wrong_signature_is_401(platform: Platform) -> None:
    platform.refused(platform.send(SERVICE, key=OTHER_KEY), SERVICE, 401, "Client.SignatureInvalid")
    platform.refused(platform.send(SERVICE, kid="no-such-key"), SERVICE, 401, "Client.SignatureInvalid")
    platform.refused(platform.send(SERVICE, tamper=True), SERVICE, 401, "Client.SignatureInvalid")
    refused = platform.send(SERVICE, key=OTHER_KEY)
    retried = platform.send(SERVICE, message_id=refused.message_id)  # a forged request does not burn the id
    assert retried.reply.status_code == 200


def test_an_unknown_client_is_403(platform: Platform) -> None:
    sent = platform.send(SERVICE, client="CN-GD/COM/91440101MA5CXXXX1X/some-app")
    platform.refused(sent, SERVICE, 403, "Client.UnknownClient")


def test_an_unauthorised_purpose_is_403_and_in_the_departments_message_log(platform: Platform,
                                                                           control: DepartmentsStandIn) -> None:
    sent = platform.send(f"{TPB}/violations/v1", purpose="relying_party_check")
    platform.refused(sent, f"{TPB}/violations/v1", 403, "Client.PurposeNotAuthorised")
    platform.refused(platform.send(SETTLEMENTS, {"decision_number": "TV00000000000", "action": "paid"},
                                   purpose="home_card"), SETTLEMENTS, 403, "Client.PurposeNotAuthorised")
    (logged,) = control.messages(sent.message_id)
    assert (logged["status"], logged["fault"], logged["purpose"], logged["client"], logged["department"]) == (
        403, "Client.PurposeNotAuthorised", "relying_party_check", CLIENT, "tpb")
    assert logged["request_hash"] == sent.request_hash
    assert logged["response_sha256"] == protocol.sha256(sent.reply.content)


def test_a_purpose_taken_back_by_the_control_is_refused(platform: Platform, control: DepartmentsStandIn) -> None:
    service = f"{HPF}/account/v1"
    control.authorise(service, ["citizen_request"])
    platform.refused(platform.send(service, purpose="home_card"), service, 403, "Client.PurposeNotAuthorised")
    platform.answered(service, purpose="citizen_request")
    control.reset()
    platform.answered(service, purpose="home_card")


def test_an_id_number_failing_its_check_character_is_404_and_a_malformed_one_400(platform: Platform) -> None:
    wrong = ALICE[:17] + ("0" if ALICE[17] != "0" else "1")
    platform.refused(platform.send(SERVICE, subject=wrong), SERVICE, 404, "Client.UnknownSubject")
    platform.refused(platform.send(SERVICE, subject="4401061985"), SERVICE, 400, "Client.BadRequest")
    platform.refused(platform.send(SERVICE, subject=None), SERVICE, 400, "Client.BadRequest")
    platform.refused(platform.send(SERVICE, ["not", "an", "object"]), SERVICE, 400, "Client.BadRequest")


def test_an_unknown_service_is_404(platform: Platform) -> None:
    service = f"{HRSS}/pension-payments/v1"
    platform.refused(platform.send(service), service, 404, "Client.UnknownService")


def test_the_message_log_keeps_every_exchange_without_bodies(platform: Platform, control: DepartmentsStandIn) -> None:
    sent = platform.send(f"{HPF}/account/v1", purpose="proxy_request")
    (logged,) = control.messages(sent.message_id)
    assert logged == {**logged, "id": sent.message_id, "client": CLIENT, "service": f"{HPF}/account/v1",
                      "purpose": "proxy_request", "user": USER, "request_hash": sent.request_hash,
                      "response_sha256": protocol.sha256(sent.reply.content), "status": 200, "fault": "",
                      "department": "hpf"}
    assert ALICE not in json.dumps(control.messages(), ensure_ascii=False)


# -- behaviours ---------------------------------------------------------------------------------------

def test_slow_answers_after_the_delay(platform: Platform, control: DepartmentsStandIn) -> None:
    control.behave("slow", department="hrss", delay=0.6)
    started = time.monotonic()
    platform.answered(SERVICE)
    assert time.monotonic() - started >= 0.6
    started = time.monotonic()
    platform.answered(SERVICE)
    assert time.monotonic() - started < 0.5  # count 1: over


def test_fail_answers_a_signed_500(platform: Platform, control: DepartmentsStandIn) -> None:
    control.behave("fail", department="*", count=2)
    platform.refused(platform.send(f"{HPF}/account/v1"), f"{HPF}/account/v1", 500, "Server.ServerProxy.InternalError")
    platform.refused(platform.send(SERVICE), SERVICE, 500, "Server.ServerProxy.InternalError")
    platform.answered(SERVICE)


def test_a_behaviour_for_one_department_leaves_the_others_alone(platform: Platform,
                                                                control: DepartmentsStandIn) -> None:
    control.behave("fail", department="tpb", count=0)
    platform.answered(SERVICE)
    platform.refused(platform.send(f"{TPB}/vehicles/v1"), f"{TPB}/vehicles/v1", 500, "Server.ServerProxy.InternalError")
    control.calm()
    platform.answered(f"{TPB}/vehicles/v1")


def test_hang_outlasts_the_callers_timeout(platform: Platform, control: DepartmentsStandIn) -> None:
    control.behave("hang", department="hpf", delay=3)
    with pytest.raises(httpx.ReadTimeout):
        platform.send(f"{HPF}/account/v1", timeout=0.5)
    platform.answered(f"{HPF}/account/v1")


def test_bad_signature_gives_data_whose_signature_does_not_verify(platform: Platform,
                                                                  control: DepartmentsStandIn) -> None:
    control.behave("bad_signature", department="hrss")
    sent = platform.send(SERVICE)
    assert sent.reply.status_code == 200 and sent.json()["sample"] is True
    with pytest.raises(ExchangeRefused) as refused:
        platform.verify(sent, SERVICE)
    assert refused.value.fault == "Client.SignatureInvalid"
    platform.answered(SERVICE)


# -- registry -----------------------------------------------------------------------------------------

def test_the_registry_lists_every_service_with_its_department_key(control: DepartmentsStandIn,
                                                                  standin_url: str) -> None:
    keys = control.keys()
    registry = control.registry()
    assert registry["client"] == CLIENT
    services = {entry["service"]: entry for entry in registry["services"]}
    assert set(services) == {*READS, SETTLEMENTS}
    members = {entry["member"]: entry["keys"] for entry in keys.values()}
    for service, entry in services.items():
        assert entry["keys"] == members[str(ServiceId.parse(service).provider)] and entry["keys"][0]["kid"]
        assert entry["url"] == f"{standin_url}/r1/{service}"
        assert entry["timeout"] == 2.0 and entry["breaker"] == {"failures": 5, "open_seconds": 30}
    reads = {"citizen_request", "home_card", "material_prefill", "eligibility_check", "proxy_request"}
    assert set(services[f"{HPF}/account/v1"]["purposes"]) == reads
    assert set(services[f"{HRSS}/social-security-card/v1"]["purposes"]) == reads | {"relying_party_check"}
    assert services[SETTLEMENTS]["purposes"] == ["settlement"] and services[SETTLEMENTS]["retries"] == 0
    assert services[f"{TPB}/violations/v1"]["retries"] == 1
    assert len({k[0]["kid"] for k in members.values()}) == 4  # a key of its own for each department


def test_the_registry_for_another_client_authorises_nothing(control: DepartmentsStandIn) -> None:
    registry = control.registry("CN-GD/COM/91440101MA5CXXXX1X/some-app")
    assert all(entry["purposes"] == [] for entry in registry["services"])


# -- the client's keys from its JWKS URL ----------------------------------------------------------------

class JwksServer:
    """The platform's /.well-known/jwks.json: serves `keys` (a list of JWKs), counts the fetches, or fails."""

    def __init__(self, keys: list[dict[str, str]]) -> None:
        self.keys, self.fetches, self.status = keys, 0, 200
        served = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server hook's name
                served.fetches += 1
                body = json.dumps({"keys": served.keys}).encode()
                self.send_response(served.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_the_clients_keys_are_fetched_lazily_and_again_for_a_new_kid_at_most_every_refetch_period(
        tmp_path: Path) -> None:
    jwks = JwksServer([public_jwk(KID, KEY.public_key())])
    command = [sys.executable, "-m", "standins.departments", "--port", "0", "--client-jwks-url", jwks.url,
               "--client-jwks-refetch", "1.5"]
    url, process = launch(command, tmp_path / "standin.log", "/_standin/health", what="stand-in departments")
    try:
        with DepartmentsStandIn(url) as control:
            platform = Platform(url, control.keys())
            assert jwks.fetches == 0  # not at start: the app serves its JWKS once it is up
            platform.answered(SERVICE)
            platform.answered(SERVICE)
            assert jwks.fetches == 1
            time.sleep(1.6)
            platform.refused(platform.send(SERVICE, key=OTHER_KEY, kid="rotated"), SERVICE, 401,
                             "Client.SignatureInvalid")
            assert jwks.fetches == 2  # an unknown kid after the period: fetched again
            jwks.keys = [*jwks.keys, public_jwk("rotated", OTHER_KEY.public_key())]  # the platform rotates its key
            platform.refused(platform.send(SERVICE, key=OTHER_KEY, kid="rotated"), SERVICE, 401,
                             "Client.SignatureInvalid")
            assert jwks.fetches == 2  # within the period: not fetched again
            time.sleep(1.6)
            platform.answered(SERVICE, key=OTHER_KEY, kid="rotated")
            assert jwks.fetches == 3
            jwks.status = 500
            time.sleep(1.6)
            platform.refused(platform.send(SERVICE, kid="unknown"), SERVICE, 503, "Server.ServerProxy.NetworkError")
            platform.close()
    finally:
        end_now(process)
        jwks.stop()


def test_make_run_registers_our_jwks_and_writes_the_registry_for_our_subsystem(tmp_path: Path) -> None:
    jwks = JwksServer([public_jwk("app-key", OTHER_KEY.public_key())])
    our_url = jwks.url.removesuffix(registration.JWKS_PATH)
    settings = Settings(data_dir=tmp_path / "data")
    command = [sys.executable, "-m", "standins.departments", "--port", "0", *registration.args(settings)]
    url, process = launch(command, tmp_path / "standin.log", "/_standin/health", what="stand-in departments")
    try:
        changes = registration.point(url, settings, our_url)
        written = Path(changes["exchange_registry"])
        assert written.parent == tmp_path / "data" / "standins" and written.stat().st_mode & 0o777 == 0o600
        registry = json.loads(written.read_text())
        assert registry["client"] == settings.exchange.client and len(registry["services"]) == len(READS) + 1
        assert all(entry["url"].startswith(f"{url}/r1/") for entry in registry["services"])
        with DepartmentsStandIn(url) as control:
            platform = Platform(url, control.keys())
            platform.answered(SERVICE, key=OTHER_KEY, kid="app-key")  # our key, from our JWKS
            assert jwks.fetches == 1
            platform.close()
    finally:
        end_now(process)
        jwks.stop()
