"""The test-side client of the WeChat Pay stand-in's `/_standin/` controls (synchronous, httpx.Client).

    standin = WeChatPayStandIn("http://127.0.0.1:8320")
    standin.pay("GOV20240601000001", notice="twice")     # paid; the same notice posted twice
    standin.pay("GOV20240601000002", outcome="payerror")  # failed; no notice, as WeChat Pay sends none
    standin.behave("down", count=2)                       # the next two API calls answer 500 SYSTEM_ERROR
    standin.next_refunds(outcome="processing")            # refunds from now on stay PROCESSING ...
    standin.finish_refund("RF20240601000001", "abnormal") # ... until finished: ABNORMAL, REFUND.ABNORMAL notice
    standin.change_bill(hide=["GOV20240601000001"])       # bills from now on leave that payment out
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

    def next_refunds(self, outcome: str = "success", notice: str = "now", delay: float | None = None,
                     notice_delay: float = 0.0) -> dict[str, Any]:
        """How every refund applied for from now on goes, until this is called again or `reset()`: it answers
        PROCESSING, then after `delay` s (the stand-in's --refund-delay, 0.2 s, when None) ends `success`,
        `abnormal` or `closed`, or stays PROCESSING (`processing`) until `finish_refund`. Its notice, when the
        request gave a notify_url, goes `now`, `late` (3 s, or `notice_delay` s, after it ends), `twice` or
        `never`. Each call states the whole plan: what it leaves out goes back to the default."""
        plan: dict[str, Any] = {"outcome": outcome, "notice": notice, "notice_delay": notice_delay}
        if delay is not None:
            plan["delay"] = delay
        reply = self._client.post("/_standin/refunds/next", json=plan)
        reply.raise_for_status()
        return dict(reply.json())

    def finish_refund(self, out_refund_no: str, outcome: str = "success", notice: str = "now",
                      notice_delay: float = 0.0) -> dict[str, Any]:
        """End a PROCESSING refund now: `success` (its order then queries as REFUND), `abnormal` or `closed`,
        with its REFUND.* notice as in `next_refunds`; an ABNORMAL one (the merchant paid it out another way)
        may still end `success` or `closed`. Returns the refund as `refund()` does; 409 if it had ended."""
        reply = self._client.post(f"/_standin/refunds/{out_refund_no}/finish",
                                  json={"outcome": outcome, "notice": notice, "notice_delay": notice_delay})
        reply.raise_for_status()
        return dict(reply.json())

    def refund(self, out_refund_no: str) -> dict[str, Any]:
        """The refund as the query answers it, with the request's notify_url and reason (unsigned, no fault
        applies)."""
        reply = self._client.get(f"/_standin/refunds/{out_refund_no}")
        reply.raise_for_status()
        return dict(reply.json())

    def change_bill(self, alter: dict[str, int] | None = None, hide: list[str] | None = None,
                    add: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Make every trade bill produced from now on (until `clear_bill_changes()` or `reset()`) differ from
        what happened, to exercise reconciliation; calls add up. `alter`: {out_trade_no or out_refund_no: amount
        in fen} sets the amount of that payment's (or refund's) line; `hide`: [out_trade_no or out_refund_no]
        leaves the line out; `add`: [{"out_trade_no", "amount": fen, "type": "SUCCESS"|"REFUND",
        "out_refund_no"?, "time"?: RFC 3339, now if left out}] puts in lines of its own, on the Beijing day of
        their time, filled from the order when the stand-in knows it (else made-up ids, JSAPI, the first appid).
        Alterations and hiding apply to the stand-in's own lines, not added ones. Returns every change in force."""
        changes = {"alter": alter or {}, "hide": hide or [], "add": add or []}
        reply = self._client.post("/_standin/bills/changes", json=changes)
        reply.raise_for_status()
        return dict(reply.json())

    def clear_bill_changes(self) -> None:
        """Bills say again what happened."""
        self._client.delete("/_standin/bills/changes").raise_for_status()

    def behave(self, mode: str, count: int = 1, delay: float = 0.0) -> None:
        """The next `count` API calls (0: until `calm()` or `reset()`) answer 500 SYSTEM_ERROR (`down`),
        429 FREQUENCY_LIMITED (`frequency_limited`), answer after `delay` s (`slow`), do the work at once and answer
        after `delay` s (`late_reply`: a caller that timed out has an order it never heard of), or answer as usual but with
        a Wechatpay-Signature that does not verify (`bad_signature`); `not_enough` acts on refund applications
        only (403 NOT_ENOUGH, 基本账户余额不足), letting other calls by uncounted."""
        self._client.post("/_standin/behaviour", json={"mode": mode, "count": count, "delay": delay}).raise_for_status()

    def calm(self) -> None:
        """Back to answering normally."""
        self._client.delete("/_standin/behaviour").raise_for_status()

    def notices(self, out_trade_no: str | None = None, out_refund_no: str | None = None) -> list[dict[str, Any]]:
        """Each notice delivery, oldest first, payments' and refunds': id, out_trade_no, out_refund_no (None
        for a payment's), event_type, notify_url, attempts (at, status, answer, error), delivered, gave_up."""
        params = {name: value for name, value in (("out_trade_no", out_trade_no), ("out_refund_no", out_refund_no))
                  if value is not None}
        reply = self._client.get("/_standin/notices", params=params or None)
        reply.raise_for_status()
        return list(reply.json()["items"])

    def platform_certificate_pem(self) -> str:
        """The platform certificate the stand-in signs with (its serial is the Wechatpay-Serial it sends)."""
        reply = self._client.get("/_standin/platform-certificate")
        reply.raise_for_status()
        return reply.text

    def reset(self) -> None:
        """Forget every order, refund, notice (pending deliveries and refund endings are cancelled), bill
        download and behaviour; refunds go back to the default plan and bills lose their changes."""
        self._client.post("/_standin/reset").raise_for_status()

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> WeChatPayStandIn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
