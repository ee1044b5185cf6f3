"""What a hostile or broken client can send, and the clear, bounded answer it gets.

Oversized bodies: 413 before the body is read whole. Deeply nested JSON: 400 JSON_TOO_DEEP, no
recursion error. A body (or headers) sent byte by byte, slowloris-style: the connection is cut
after APP_REQUEST_TIMEOUT, so slow clients cannot hold the server's connections.
"""

from __future__ import annotations

import socket
import time

import pytest

from tests.factories import sign_in
from tests.served import call, served


@pytest.fixture(scope="module")
def service():
    with served(APP_REQUEST_TIMEOUT="2", APP_MAX_BODY_BYTES="65536") as running:
        running.start()
        yield running


def raw(port: int, data: bytes, timeout: float = 10) -> tuple[bytes, float]:
    """Send bytes, read until the server closes; (what came back, seconds it took)."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received, time.monotonic() - started


def test_an_oversized_body_is_refused_with_413_and_the_envelope(service):
    status, body, _ = call(service.port, "POST", "/api/v1/auth/otp", {"phone": "1" * 70_000})
    assert status == 413 and body["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_an_announced_oversized_body_is_refused_before_it_is_sent(service):
    head = (b"POST /api/v1/auth/otp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000000\r\n\r\n")
    received, _ = raw(service.port, head)
    assert received.startswith(b"HTTP/1.1 413")


def test_a_body_sent_slowly_is_cut_off_after_the_request_timeout(service):
    """A byte every 0.25 s would take 50 s to finish the body: it gets 408 after about 2 s (the setting)."""
    started = time.monotonic()
    answer = b""
    with socket.create_connection(("127.0.0.1", service.port), timeout=10) as sock:
        sock.sendall(b"POST /api/v1/auth/otp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 200\r\n\r\n{")
        sock.settimeout(0.05)
        while time.monotonic() - started < 10 and not answer:
            time.sleep(0.25)
            try:
                sock.sendall(b" ")
                answer = sock.recv(65536) or b"(closed)"
            except socket.timeout:
                continue
            except OSError:
                answer = b"(reset)"
    took = time.monotonic() - started
    assert 1.5 < took < 6, f"cut after {took:.1f} s"
    assert answer.startswith(b"HTTP/1.1 408") or answer in (b"(closed)", b"(reset)"), answer[:80]


def test_headers_that_never_end_are_cut_off_after_the_request_timeout(service):
    received, took = raw(service.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    assert took < 6
    assert received == b"" or received.startswith(b"HTTP/1.1 408")


def read_reply(sock: socket.socket) -> bytes:
    """One HTTP/1.1 reply with a Content-Length, read off a keep-alive connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536) or b"<closed>"
        if data.endswith(b"<closed>"):
            return data
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":", 1)[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")))
    while len(body) < length:
        body += sock.recv(65536)
    return head


def test_the_timeout_counts_per_request_not_per_connection(service):
    """A phone keeps its connection open: after longer than the timeout of quick requests, one whose
    head arrives in two parts 1.2 s apart (within the 2 s) is answered, not cut off."""
    with socket.create_connection(("127.0.0.1", service.port), timeout=10) as sock:
        started = time.monotonic()
        while time.monotonic() - started < 3:  # longer than APP_REQUEST_TIMEOUT
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_reply(sock).startswith(b"HTTP/1.1 200")
            time.sleep(0.05)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHo")
        time.sleep(1.2)
        sock.sendall(b"st: x\r\n\r\n")
        assert read_reply(sock).startswith(b"HTTP/1.1 200")


def test_the_service_still_answers_after_the_slow_clients(service):
    assert call(service.port, "GET", "/healthz")[0] == 200


@pytest.mark.parametrize("opener", ["[", "{\"a\":"])
async def test_deeply_nested_json_is_a_clear_400(client, opener):
    closer = "]" if opener == "[" else "}"
    body = opener * 50_000 + "1" + closer * 50_000
    reply = await client.post("/api/v1/auth/otp", content=body, headers={"Content-Type": "application/json"})
    assert reply.status_code == 400 and reply.json()["error"]["code"] == "JSON_TOO_DEEP", reply.text[:200]


async def test_nesting_inside_strings_and_normal_forms_are_not_mistaken_for_depth(client, sms):
    citizen = await sign_in(client, sms)
    reply = await client.put("/api/v1/me/preferences", headers=citizen.headers,
                             content='{"elderly_mode": true, "note": "' + "[" * 500 + '"}')
    assert reply.status_code != 400 or reply.json()["error"]["code"] != "JSON_TOO_DEEP", reply.text


async def test_nesting_a_little_deeper_than_any_form_is_refused_in_every_body(client, sms):
    citizen = await sign_in(client, sms)
    nested = "[" * 33 + "]" * 33
    reply = await client.put("/api/v1/me/preferences", headers=citizen.headers,
                             content='{"elderly_mode": ' + nested + "}")
    assert reply.status_code == 400 and reply.json()["error"]["code"] == "JSON_TOO_DEEP"
    assert "嵌套" in reply.json()["error"]["message"]
