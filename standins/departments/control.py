"""The test-side client of the department stand-ins' `/_standin/` controls (synchronous, httpx.Client).

    standin = DepartmentsStandIn("http://127.0.0.1:8330")
    standin.keys()["hrss"]                           # {"member", "name", "keys": [public JWK with kid]}
    standin.registry()                               # the registry document the platform loads
    standin.behave("hang", department="tpb", delay=5) # the next tpb reply waits 5 s
    standin.authorise(service, ["home_card"])        # what the platform may ask that service for
    standin.messages(message_id)                     # the department's message log, newest first
    standin.set_driving_licence_status(id_number, "D") # 交管 has that licence 暂扣 (suspended)
    standin.reset(); standin.close()
"""

from __future__ import annotations

from typing import Any

import httpx


class DepartmentsStandIn:
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._client = httpx.Client(base_url=self.url, timeout=timeout)

    def reset(self) -> None:
        """Back to the default authorisations; forget every message, message id, behaviour and settlement."""
        self._client.post("/_standin/reset").raise_for_status()

    def keys(self) -> dict[str, dict[str, Any]]:
        """Each department ("hrss", "hpf", "tpb", "nhsa"): its member id, name and public keys (JWK with kid)."""
        return self._get("/_standin/keys")

    def registry(self, client: str | None = None) -> dict[str, Any]:
        """The registry of every service for `client` (default: the one the stand-in serves): url, keys,
        purposes, timeout, retries, breaker."""
        return self._get("/_standin/registry", params={"client": client} if client else None)

    def messages(self, message_id: str | None = None) -> list[dict[str, Any]]:
        """The departments' message log (no bodies), newest first; only `message_id`'s when given."""
        return list(self._get("/_standin/messages", params={"id": message_id} if message_id else None)["items"])

    def behave(self, mode: str, department: str = "*", count: int = 1, delay: float = 0.0) -> None:
        """The next `count` replies (0: until `calm()`) of `department` ("*": any) are slow or hang (`delay`
        seconds), fail (500 Server.ServerProxy.InternalError) or carry a signature that does not verify."""
        self._client.post("/_standin/behaviour", json={"department": department, "mode": mode, "count": count,
                                                       "delay": delay}).raise_for_status()

    def calm(self) -> None:
        self._client.delete("/_standin/behaviour").raise_for_status()

    def authorise(self, service: str, purposes: list[str], client: str | None = None) -> None:
        """From now on the client may ask `service` for these purposes only."""
        body: dict[str, Any] = {"service": service, "purposes": purposes}
        if client:
            body["client"] = client
        self._client.post("/_standin/authorisations", json=body).raise_for_status()

    def set_driving_licence_status(self, id_number: str, status: str) -> dict[str, str]:
        """交管 records `status` (驾驶证状态 code(s): A 正常, D 暂扣, E 吊销, ...) for this person's driving licence
        until reset; their driving-licence/v1 replies say so. 404 when the person holds no licence there."""
        reply = self._client.post("/_standin/driving-licence-status", json={"id_number": id_number, "status": status})
        reply.raise_for_status()
        return dict(reply.json())

    def client_keys_at(self, jwks_url: str) -> None:
        """Fetch the client's keys from `jwks_url` from now on (those held are forgotten)."""
        self._client.post("/_standin/client-keys", json={"jwks_url": jwks_url}).raise_for_status()

    def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        reply = self._client.get(path, params=params)
        reply.raise_for_status()
        return reply.json()

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> DepartmentsStandIn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
