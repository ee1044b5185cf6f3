"""The test-side client of the WeChat Pay stand-in's `/_standin/` controls (synchronous, httpx.Client).

    standin = WeChatPayStandIn("http://127.0.0.1:8320")
    standin.pay("GOV20240601000001", notice="twice")     # paid; the same notice posted twice
    standin.pay("GOV20240601000002", outcome="payerror")  # failed; no notice, as WeChat Pay sends none
    standin.behave("down", count=2)                       # the next two API calls answer 500 SYSTEM_ERROR
    standin.notices()                                     # each notice sent, its attempts and the answers
    standin.reset(); standin.close()
"""

from __future__ import annotations

from typing import Any

import httpx


class WeChatPayStandIn:
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._client = httpx.Client(base_url=self.url, timeout=timeout)

    def pay(self, out_trade_no: str, outcome: str = "success", notice: str = "now",
            delay: float = 0.0) -> dict[str, Any]:
        """The payer pays (`success`) or the payment fails (`payerror`); a successful payment's notice goes to
        the order's notify_url `now`, `late` (after `delay` s, 3 s by default), `twice`, or `never`. Returns
        the transaction as a query would."""
        reply = self._client.post(f"/_standin/orders/{out_trade_no}/pay",
                                  json={"outcome": outcome, "notice": notice, "delay": delay})
        reply.raise_for_status()
        return dict(reply.json())

    def order(self, out_trade_no: str) -> dict[str, Any]:
        """The transaction, with its prepay_id and notify_url (unsigned, no fault applies)."""
        reply = self._client.get(f"/_standin/orders/{out_trade_no}")
        reply.raise_for_status()
        return dict(reply.json())

    def behave(self, mode: str, count: int = 1, delay: float = 0.0) -> None:
        """The next `count` API calls (0: until `calm()` or `reset()`) answer 500 SYSTEM_ERROR (`down`),
        429 FREQUENCY_LIMITED (`frequency_limited`), or answer after `delay` s (`slow`)."""
        self._client.post("/_standin/behaviour", json={"mode": mode, "count": count, "delay": delay}).raise_for_status()

    def calm(self) -> None:
        """Back to answering normally."""
        self._client.delete("/_standin/behaviour").raise_for_status()

    def notices(self, out_trade_no: str | None = None) -> list[dict[str, Any]]:
        """Each notice delivery, oldest first: id, out_trade_no, event_type, notify_url, attempts (at, status,
        answer, error), delivered, gave_up."""
        params = {"out_trade_no": out_trade_no} if out_trade_no is not None else None
        reply = self._client.get("/_standin/notices", params=params)
        reply.raise_for_status()
        return list(reply.json()["items"])

    def platform_certificate_pem(self) -> str:
        """The platform certificate the stand-in signs with (its serial is the Wechatpay-Serial it sends)."""
        reply = self._client.get("/_standin/platform-certificate")
        reply.raise_for_status()
        return reply.text

    def reset(self) -> None:
        """Forget every order, notice (pending deliveries are cancelled) and behaviour."""
        self._client.post("/_standin/reset").raise_for_status()

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> WeChatPayStandIn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
