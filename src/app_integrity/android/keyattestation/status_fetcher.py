"""Fetch Google's attestation status list over HTTP, with caching and an explicit answer for outages.

The protocol logic (freshness, conditional requests, what to do on failure) lives in ``StatusListCache``, which
does no I/O; ``RevocationListFetcher`` (httpx.Client) and ``AsyncRevocationListFetcher`` (httpx.AsyncClient) only
move bytes. Freshness follows the response's ``Cache-Control: max-age`` but never exceeds ``max_age`` (a day by
default: Google asks verifiers to refresh at least daily); a stale copy is revalidated with ``If-None-Match`` /
``If-Modified-Since``. When the list cannot be fetched, the last good copy is used while it is younger than
``max_stale``; after that ``fail_mode`` decides: ``"closed"`` raises ``android.unavailable``, ``"open"`` returns
``None`` (verify without revocation; the result says so).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import httpx

from app_integrity._clock import resolve_now
from app_integrity.android.keyattestation.revocation import MAX_STATUS_LIST_BYTES, RevocationList
from app_integrity.errors import ConfigError, InputError, UnavailableError

DEFAULT_STATUS_URL = "https://android.googleapis.com/attestation/status"
FailMode = Literal["open", "closed"]
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?", re.IGNORECASE)
_NO_CACHE = re.compile(r"(?:^|,)\s*(?:no-cache|no-store)\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class _Copy:
    revocations: RevocationList
    fetched_at: datetime
    fresh_until: datetime
    etag: str | None
    last_modified: str | None


class StatusListCache:
    """The fetcher's state machine, without I/O."""

    def __init__(
        self,
        *,
        fail_mode: FailMode,
        max_age: timedelta = timedelta(hours=24),
        default_max_age: timedelta = timedelta(hours=1),
        min_interval: timedelta = timedelta(minutes=1),
        max_stale: timedelta = timedelta(hours=72),
        retry_after: timedelta = timedelta(minutes=5),
    ) -> None:
        if fail_mode not in ("open", "closed"):
            raise ConfigError("config.invalid", "fail_mode must be 'open' or 'closed'")
        if max_age > timedelta(hours=24):
            raise ConfigError("config.invalid", "max_age above a day: the status list must be refreshed daily")
        self.fail_mode: FailMode = fail_mode
        self.max_age = max_age
        self.default_max_age = min(default_max_age, max_age)
        self.min_interval = min_interval
        self.max_stale = max_stale
        self.retry_after = retry_after
        self._copy: _Copy | None = None
        self._next_attempt: datetime | None = None
        self._lock = threading.Lock()

    @property
    def last_good(self) -> RevocationList | None:
        return self._copy.revocations if self._copy else None

    def needs_fetch(self, now: datetime) -> bool:
        with self._lock:
            if self._next_attempt is not None and now < self._next_attempt:
                return False
            return self._copy is None or now >= self._copy.fresh_until

    def request_headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        copy = self._copy
        if copy is not None and copy.etag:
            headers["If-None-Match"] = copy.etag
        if copy is not None and copy.last_modified:
            headers["If-Modified-Since"] = copy.last_modified
        return headers

    def _lifetime(self, headers: httpx.Headers) -> timedelta:
        cache_control = headers.get("cache-control", "")
        if _NO_CACHE.search(cache_control):
            return self.min_interval
        match = _MAX_AGE.search(cache_control)
        lifetime = timedelta(seconds=int(match.group(1))) if match else self.default_max_age
        return max(self.min_interval, min(lifetime, self.max_age))

    def on_response(self, status_code: int, headers: httpx.Headers, body: bytes, now: datetime) -> RevocationList:
        with self._lock:
            fresh_until = now + self._lifetime(headers)
            if status_code == 304 and self._copy is not None:
                self._copy = _Copy(self._copy.revocations, now, fresh_until, self._copy.etag, self._copy.last_modified)
            elif status_code == 200:
                revocations = RevocationList.from_json(body)
                self._copy = _Copy(revocations, now, fresh_until, headers.get("etag"), headers.get("last-modified"))
            else:
                raise InputError("input.malformed", f"status list answered HTTP {status_code}")
            self._next_attempt = None
            return self._copy.revocations

    def on_failure(self, now: datetime, reason: str) -> RevocationList | None:
        with self._lock:
            self._next_attempt = now + self.retry_after
            copy = self._copy
        if copy is not None and now - copy.fetched_at <= self.max_stale:
            return copy.revocations
        if self.fail_mode == "open":
            return None
        raise UnavailableError("android.unavailable", f"attestation status list unavailable: {reason}")

    def current(self, now: datetime) -> RevocationList | None:
        """The copy to use without fetching (inside ``retry_after`` of a failure, or while fresh)."""
        copy = self._copy
        if copy is not None and (now < copy.fresh_until or now - copy.fetched_at <= self.max_stale):
            return copy.revocations
        return self.on_failure(now, "previous fetch failed; retry pending")


class _CappedBody:
    """Collects a response body, refusing it as soon as it outgrows the cap (the list is a few hundred KiB)."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._size = 0

    def add(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > MAX_STATUS_LIST_BYTES:
            raise InputError("input.too_large", f"status list is larger than {MAX_STATUS_LIST_BYTES} bytes")
        self._chunks.append(chunk)

    def bytes(self) -> bytes:
        return b"".join(self._chunks)


class RevocationListFetcher:
    """Keeps Google's status list fresh (synchronous). ``fail_mode`` is required: choose what an outage means."""

    def __init__(
        self,
        *,
        fail_mode: FailMode,
        url: str = DEFAULT_STATUS_URL,
        client: httpx.Client | None = None,
        timeout: float = 10.0,
        cache: StatusListCache | None = None,
    ) -> None:
        self.url = url
        self.cache = cache if cache is not None else StatusListCache(fail_mode=fail_mode)
        self._client = client if client is not None else httpx.Client(timeout=timeout)

    def get(self, *, now: datetime | None = None) -> RevocationList | None:
        at = resolve_now(now)
        if not self.cache.needs_fetch(at):
            return self.cache.current(at)
        try:
            with self._client.stream("GET", self.url, headers=self.cache.request_headers()) as response:
                body = _CappedBody()
                if response.status_code == 200:
                    for chunk in response.iter_bytes():
                        body.add(chunk)
                return self.cache.on_response(response.status_code, response.headers, body.bytes(), at)
        except (httpx.HTTPError, InputError) as exc:
            return self.cache.on_failure(at, str(exc) or type(exc).__name__)

    def close(self) -> None:
        self._client.close()


class AsyncRevocationListFetcher:
    """``RevocationListFetcher`` for asyncio services (httpx.AsyncClient)."""

    def __init__(
        self,
        *,
        fail_mode: FailMode,
        url: str = DEFAULT_STATUS_URL,
        client: httpx.AsyncClient | None = None,
        timeout: float = 10.0,
        cache: StatusListCache | None = None,
    ) -> None:
        self.url = url
        self.cache = cache if cache is not None else StatusListCache(fail_mode=fail_mode)
        self._client = client if client is not None else httpx.AsyncClient(timeout=timeout)

    async def get(self, *, now: datetime | None = None) -> RevocationList | None:
        at = resolve_now(now)
        if not self.cache.needs_fetch(at):
            return self.cache.current(at)
        try:
            async with self._client.stream("GET", self.url, headers=self.cache.request_headers()) as response:
                body = _CappedBody()
                if response.status_code == 200:
                    async for chunk in response.aiter_bytes():
                        body.add(chunk)
                return self.cache.on_response(response.status_code, response.headers, body.bytes(), at)
        except (httpx.HTTPError, InputError) as exc:
            return self.cache.on_failure(at, str(exc) or type(exc).__name__)

    async def aclose(self) -> None:
        await self._client.aclose()
