"""google-auth's synchronous transport interface over ``httpx``, so token refresh needs no extra HTTP library.

google-auth calls ``request(url=, method=, body=, headers=, timeout=)`` and reads ``status``, ``headers`` and
``data`` from the answer; these two classes provide exactly that.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx
from google.auth import exceptions as auth_exceptions

# google-auth is untyped: name the class as a plain exception type.
_TRANSPORT_ERROR: type[Exception] = auth_exceptions.TransportError


class _Response:
    """The shape of ``google.auth.transport.Response``."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    @property
    def status(self) -> int:
        return self._response.status_code

    @property
    def headers(self) -> Mapping[str, str]:
        return self._response.headers

    @property
    def data(self) -> bytes:
        return self._response.content


class HttpxAuthRequest:
    """The shape of ``google.auth.transport.Request``; used only for OAuth token refresh, in a worker thread."""

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: object,
    ) -> _Response:
        try:
            response = self._client.request(
                method, url, content=body, headers=dict(headers or {}), timeout=timeout or self._client.timeout
            )
        except httpx.HTTPError as exc:
            raise _TRANSPORT_ERROR(f"token endpoint unreachable: {type(exc).__name__}") from exc
        return _Response(response)
