"""A small client for the Toxiproxy HTTP API, with a timeout on every call.

Why not toxiproxy-python: its 0.1.1 release keeps the server address in class-level
globals (two clusters in one process would share it), sets no timeout on any request
(Toxiproxy's API is known to hang on some toxic removals, Shopify/toxiproxy#159), and
pulls in the Python 2 `future` shim. The API we need is eight endpoints; this is them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import httpx

Stream = Literal["upstream", "downstream"]
DEFAULT_TIMEOUT_S = 5.0


class ToxiproxyError(Exception):
    """The Toxiproxy API refused a request or did not answer in time."""


class AlreadyExists(ToxiproxyError):
    """A proxy or toxic of that name is already there (HTTP 409)."""


@dataclass(frozen=True)
class ProxySpec:
    name: str
    listen: str
    upstream: str
    enabled: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
        }


class ToxiproxyClient:
    def __init__(self, api_address: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.api_address = api_address
        self._http = httpx.Client(base_url=f"http://{api_address}", timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ToxiproxyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def version(self) -> str:
        return self._call("GET", "/version").text.strip()

    def answers(self) -> bool:
        """Whether the API answers now, within this client's timeout: a refused port and
        a frozen server (accepting, never answering) both say no."""
        try:
            self.version()
        except ToxiproxyError:
            return False
        return True

    def populate(self, proxies: list[ProxySpec]) -> None:
        """Create (or replace) every proxy in one request."""
        self._call("POST", "/populate", json=[p.to_json() for p in proxies])

    def proxies(self) -> dict[str, dict[str, Any]]:
        result: dict[str, dict[str, Any]] = self._call("GET", "/proxies").json()
        return result

    def set_enabled(self, proxy: str, enabled: bool) -> None:
        """A disabled proxy closes its connections and refuses new ones."""
        self._call("POST", f"/proxies/{proxy}", json={"enabled": enabled})

    def add_toxic(
        self,
        proxy: str,
        name: str,
        kind: str,
        stream: Stream,
        attributes: Mapping[str, int | float],
        toxicity: float = 1.0,
    ) -> None:
        body = {
            "name": name,
            "type": kind,
            "stream": stream,
            "toxicity": toxicity,
            "attributes": dict(attributes),
        }
        self._call("POST", f"/proxies/{proxy}/toxics", json=body)

    def toxics(self, proxy: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", f"/proxies/{proxy}/toxics").json()
        return result

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._call("DELETE", f"/proxies/{proxy}/toxics/{name}")

    def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        self._call("POST", "/reset")

    def _call(self, method: str, path: str, json: Any = None) -> httpx.Response:
        try:
            response = self._http.request(method, path, json=json)
        except httpx.TimeoutException as e:
            raise ToxiproxyError(
                f"Toxiproxy at {self.api_address} did not answer {method} {path} in time"
            ) from e
        except httpx.TransportError as e:
            raise ToxiproxyError(f"Toxiproxy at {self.api_address} unreachable: {e}") from e
        if response.status_code == 409:
            raise AlreadyExists(f"Toxiproxy {method} {path}: {response.text.strip()}")
        if response.status_code >= 300:
            raise ToxiproxyError(
                f"Toxiproxy {method} {path} -> {response.status_code}: {response.text.strip()}"
            )
        return response
