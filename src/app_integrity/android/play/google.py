"""Standard tokens decoded by Google: ``POST {endpoint}/v1/{packageName}:decodeIntegrityToken``.

Google's guide (Standard requests, "Decrypt and verify the integrity verdict"): the server sends the token to
Google's Play Integrity server with OAuth2 credentials (scope ``.../auth/playintegrity``) and receives the verdict
as ``tokenPayloadExternal``. Only Google can decrypt Standard tokens.

Failures split in two, because a policy treats them differently:
- ``play.token_rejected`` (a ``VerificationError``): Google answered 400 or 403, the token is not good.
- ``google.unavailable`` (an ``UnavailableError``): Google could not be reached or kept failing (timeouts,
  429, 5xx) within the deadline, or our credentials could not be refreshed: no verdict either way.
The token is never logged nor put into an error message.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import re
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import httpx
from google.auth import exceptions as auth_exceptions

from app_integrity.android.play._auth_transport import HttpxAuthRequest
from app_integrity.android.play.jose import MAX_TOKEN_CHARS
from app_integrity.android.play.verdict import IntegrityVerdict, parse_verdict
from app_integrity.errors import ConfigError, InputError, PlayIntegrityError, UnavailableError

SCOPE = "https://www.googleapis.com/auth/playintegrity"
DEFAULT_ENDPOINT = "https://playintegrity.googleapis.com"
_MAX_RESPONSE_BYTES = 256 * 1024
_PACKAGE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)+")
_CONNECTIONS_PER_POOL = 4
_REFRESH_TIMEOUT = 30.0
_MAX_CACHED_URLS = 64
_RETRYABLE = frozenset({429, 500, 502, 503, 504})


class Credentials(Protocol):
    """What the decoder needs of ``google.auth.credentials.Credentials``."""

    @property
    def token(self) -> str | None: ...

    @property
    def valid(self) -> bool: ...

    def refresh(self, request: Any) -> None: ...


class GoogleApiDecoder:
    """Decode Standard (and classic) tokens through Google's API, over pooled keep-alive HTTP connections.

    The access token is cached by the credentials object and refreshed by google-auth shortly before it expires;
    the refresh runs in a worker thread, one at a time, so concurrent requests wait for the same refresh.
    """

    def __init__(
        self,
        *,
        credentials: Credentials,
        endpoint: str = DEFAULT_ENDPOINT,
        timeout: float = 5.0,
        max_attempts: int = 3,
        backoff: float = 0.1,
        max_connections: int = 100,
    ) -> None:
        if timeout <= 0 or max_attempts < 1:
            raise InputError("input.invalid_argument", "timeout must be positive and max_attempts at least 1")
        self._credentials = credentials
        self._endpoint = endpoint.rstrip("/")
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._backoff = backoff
        # httpcore's pool scans every one of its connections on each request (expiry checks with a poll() each),
        # so one pool of N connections costs O(N) per request. Connections are therefore spread over small pools,
        # used in turn: the same N connections, a fraction of the bookkeeping (bench/bench_play.py measures it).
        pools = max(1, -(-max_connections // _CONNECTIONS_PER_POOL))
        per_pool = -(-max_connections // pools)
        tls = httpx.create_ssl_context()  # the CA bundle is loaded once, shared by every pool
        # Requests go straight to httpx's transport (its connection pool), not through ``AsyncClient``: the client
        # layer adds URL merging, cookie extraction, auth and redirect flows that this one fixed POST never uses,
        # and they cost more CPU than the request itself (bench/bench_play.py measures it).
        self._transports = [
            httpx.AsyncHTTPTransport(
                verify=tls, limits=httpx.Limits(max_connections=per_pool, max_keepalive_connections=per_pool)
            )
            for _ in range(pools)
        ]
        self._turn = itertools.cycle(self._transports)
        self._urls: dict[str, httpx.URL] = {}
        # The refresh has its own timeout: it outlives a caller's deadline (see _bearer).
        self._auth_client = httpx.Client(timeout=_REFRESH_TIMEOUT, verify=tls)
        self._auth_request = HttpxAuthRequest(self._auth_client)
        self._refresh_lock = asyncio.Lock()
        self._refresh: asyncio.Future[None] | None = None
        self._stale_token: str | None = None
        self._random = random.SystemRandom()

    @classmethod
    def from_service_account_file(cls, path: str | Path, **options: Any) -> GoogleApiDecoder:
        """Credentials from a service-account JSON key; OAuth goes to the file's ``token_uri``."""
        from google.oauth2 import service_account

        load: Any = service_account.Credentials.from_service_account_file
        try:
            credentials = load(str(path), scopes=[SCOPE])
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError("config.invalid", f"service_account_file {path}: {exc}") from exc
        return cls(credentials=credentials, **options)

    @classmethod
    def from_environment(cls, **options: Any) -> GoogleApiDecoder:
        """Application default credentials (``GOOGLE_APPLICATION_CREDENTIALS``, gcloud, or the metadata server)."""
        import google.auth

        try:
            credentials, _project = google.auth.default(scopes=[SCOPE])
        except auth_exceptions.DefaultCredentialsError as exc:
            raise ConfigError("config.invalid", f"no application default credentials: {exc}") from exc
        return cls(credentials=credentials, **options)

    async def __aenter__(self) -> GoogleApiDecoder:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for transport in self._transports:
            await transport.aclose()
        self._auth_client.close()

    async def _bearer(self) -> str:
        token = self._credentials.token
        if self._credentials.valid and token is not None and token != self._stale_token:
            return token
        async with self._refresh_lock:
            # Another task may have refreshed while this one waited.
            token = self._credentials.token
            if self._credentials.valid and token is not None and token != self._stale_token:
                return token
            # One refresh at a time, in a worker thread (google-auth is synchronous). It is shielded: a caller
            # whose deadline passes stops waiting, but the refresh goes on and the next caller waits for it
            # instead of starting a second one on the same credentials.
            if self._refresh is None or self._refresh.done():
                self._refresh = asyncio.ensure_future(asyncio.to_thread(self._credentials.refresh, self._auth_request))
            refresh = self._refresh
            try:
                await asyncio.shield(refresh)
            except (auth_exceptions.RefreshError, auth_exceptions.TransportError) as exc:
                raise UnavailableError(
                    "google.unavailable", f"could not obtain an OAuth access token: {type(exc).__name__}"
                ) from exc
            token = self._credentials.token
            if token is None:
                raise UnavailableError("google.unavailable", "the OAuth token endpoint returned no access token")
            self._stale_token = None
            return token

    async def decode(self, token: str, *, package_name: str) -> IntegrityVerdict:
        """Ask Google to decode ``token`` for ``package_name``; return the typed verdict."""
        if not isinstance(token, str) or not token:
            raise PlayIntegrityError("play.token_malformed", "the integrity token is empty or not text")
        if len(token) > MAX_TOKEN_CHARS:
            raise InputError("input.too_large", f"the integrity token is over {MAX_TOKEN_CHARS} characters")
        if not _PACKAGE_NAME.fullmatch(package_name):
            raise InputError("input.invalid_argument", f"{package_name!r} is not an Android package name")
        url = self._url(package_name)
        body = json.dumps({"integrityToken": token}).encode()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        last = "no attempt"
        bearer = ""
        for attempt in range(self._max_attempts):
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                async with asyncio.timeout(remaining):
                    bearer = await self._bearer()
                    response = await self._post(url, body, bearer, max(deadline - loop.time(), 0.001))
            except (TimeoutError, httpx.TimeoutException):
                last = "timeout"
            except httpx.TransportError as exc:
                last = type(exc).__name__
            else:
                status = response.status_code
                if status == 200:
                    return self._verdict(response)
                if status in (400, 403):
                    # 400 INVALID_ARGUMENT: not a token Google can decode; 403 PERMISSION_DENIED: a token of an app
                    # this service account may not decode (another app's token).
                    raise PlayIntegrityError(
                        "play.token_rejected", f"Google refused the token (HTTP {status}, {_status_name(response)})"
                    )
                if status == 401:
                    # The access token was revoked or expired early: drop it and refresh once.
                    self._stale_token = bearer
                    last = "HTTP 401"
                elif status in _RETRYABLE:
                    last = f"HTTP {status}"
                else:
                    raise UnavailableError("google.unavailable", f"unexpected answer from Google: HTTP {status}")
            if attempt + 1 < self._max_attempts:
                # Full jitter (exponential backoff), never past the deadline.
                pause = self._random.uniform(0, self._backoff * 2**attempt)
                await asyncio.sleep(min(pause, max(deadline - loop.time(), 0)))
        raise UnavailableError(
            "google.unavailable", f"Google did not decode the token within {self._timeout} s (last: {last})"
        )

    def _url(self, package_name: str) -> httpx.URL:
        url = self._urls.get(package_name)
        if url is None:
            url = httpx.URL(f"{self._endpoint}/v1/{package_name}:decodeIntegrityToken")
            if len(self._urls) < _MAX_CACHED_URLS:
                self._urls[package_name] = url
        return url

    async def _post(self, url: httpx.URL, body: bytes, bearer: str, timeout: float) -> httpx.Response:
        request = httpx.Request(
            "POST",
            url,
            content=body,
            headers={"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"},
            extensions={"timeout": {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}},
        )
        response = await next(self._turn).handle_async_request(request)
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response

    @staticmethod
    def _verdict(response: httpx.Response) -> IntegrityVerdict:
        if len(response.content) > _MAX_RESPONSE_BYTES:
            raise UnavailableError("google.unavailable", "Google's answer is larger than any verdict")
        try:
            body = json.loads(response.content)
        except (ValueError, RecursionError) as exc:
            raise UnavailableError("google.unavailable", "Google's answer is not JSON") from exc
        payload = body.get("tokenPayloadExternal") if isinstance(body, dict) else None
        if payload is None:
            raise PlayIntegrityError("play.payload_invalid", "Google's answer has no tokenPayloadExternal")
        return parse_verdict(payload)


def _status_name(response: httpx.Response) -> str:
    try:
        error = response.json().get("error", {})
        return str(error.get("status", "no status"))
    except (ValueError, AttributeError):
        return "no status"
