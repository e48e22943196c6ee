"""Client for Apple's App Attest fraud-metric endpoint: trade a receipt for a fresh one with a risk metric.

Apple, "Assessing fraud risk": the server sends an HTTP POST whose body is the Base64-encoded receipt to
``https://data.appattest.apple.com/v1/attestationData`` (development: ``data-development.appattest.apple.com``),
authenticated by a JSON Web Token signed (ES256) with a DeviceCheck private key from the developer account: header
``alg`` ES256 and ``kid`` the key id, claims ``iss`` the team id and ``iat``. Apple answers 200 with a new
Base64-encoded receipt, or 304 when the previous receipt's "Not Before" time has not passed yet.

This module is the I/O edge: it only transports. Verify what it returns with ``verify_receipt``.
"""

from __future__ import annotations

import base64
import binascii
import time
from dataclasses import dataclass, field

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jwt
from joserfc.jwk import ECKey

from app_integrity.apple.receipt import MAX_RECEIPT_BYTES
from app_integrity.errors import AppleError, InputError, UnavailableError

PRODUCTION_ENDPOINT = "https://data.appattest.apple.com/v1/attestationData"
DEVELOPMENT_ENDPOINT = "https://data-development.appattest.apple.com/v1/attestationData"
ENDPOINTS = {"production": PRODUCTION_ENDPOINT, "development": DEVELOPMENT_ENDPOINT}
# Apple refuses tokens older than an hour; renew well before.
_TOKEN_LIFETIME_SECONDS = 20 * 60


@dataclass(frozen=True, slots=True)
class DeviceCheckKey:
    """The DeviceCheck signing key from the developer account (``AuthKey_<key_id>.p8``)."""

    team_id: str
    key_id: str
    private_key: ec.EllipticCurvePrivateKey = field(repr=False)

    @classmethod
    def from_p8(cls, pem: bytes | str, *, team_id: str, key_id: str) -> DeviceCheckKey:
        data = pem.encode("ascii") if isinstance(pem, str) else pem
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except ValueError as exc:
            raise InputError("input.invalid_argument", "the DeviceCheck key is not a PEM private key") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
            raise InputError("input.invalid_argument", "the DeviceCheck key must be a P-256 key (ES256)")
        return cls(team_id=team_id, key_id=key_id, private_key=key)

    def token(self, *, issued_at: int) -> str:
        header = {"alg": "ES256", "kid": self.key_id}
        claims = {"iss": self.team_id, "iat": issued_at}
        return jwt.encode(header, claims, ECKey.import_key(self.private_key), algorithms=["ES256"])


class FraudMetricClient:
    """Trades receipts with Apple. ``endpoint`` overrides the host (staging and tests: a local fake)."""

    def __init__(
        self,
        *,
        key: DeviceCheckKey,
        environment: str = "production",
        endpoint: str | None = None,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if environment not in ENDPOINTS:
            raise InputError("input.invalid_argument", "environment is 'production' or 'development'")
        self._key = key
        self.endpoint = endpoint or ENDPOINTS[environment]
        self._client = httpx.AsyncClient(timeout=timeout, transport=transport)
        self._token: tuple[str, float] | None = None

    async def __aenter__(self) -> FraudMetricClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    def _authorization(self) -> str:
        now = time.time()
        if self._token is None or now - self._token[1] > _TOKEN_LIFETIME_SECONDS:
            self._token = (self._key.token(issued_at=int(now)), now)
        return self._token[0]

    async def refresh(self, receipt: bytes) -> bytes | None:
        """Send ``receipt``; return Apple's new receipt (DER/BER bytes), or ``None`` when Apple answers 304
        (too early: the current receipt stays the latest).

        Raises ``apple.unavailable`` (network failure, timeout, 429 or 5xx: retry later) or ``apple.rejected``
        (any other answer: the receipt or the credentials are refused).
        """
        try:
            response = await self._client.post(
                self.endpoint,
                content=base64.b64encode(receipt),
                headers={"Authorization": self._authorization(), "Content-Type": "application/octet-stream"},
            )
        except httpx.TimeoutException as exc:
            raise UnavailableError("apple.unavailable", "Apple's fraud-metric endpoint timed out") from exc
        except httpx.HTTPError as exc:
            raise UnavailableError("apple.unavailable", f"Apple's fraud-metric endpoint failed: {exc}") from exc
        status = response.status_code
        if status == httpx.codes.NOT_MODIFIED:
            return None
        if status == httpx.codes.TOO_MANY_REQUESTS or status >= httpx.codes.INTERNAL_SERVER_ERROR:
            raise UnavailableError("apple.unavailable", f"Apple's fraud-metric endpoint answered {status}")
        if status != httpx.codes.OK:
            raise AppleError("apple.rejected", f"Apple's fraud-metric endpoint refused the receipt ({status})")
        body = response.content.strip()
        if not body or len(body) > MAX_RECEIPT_BYTES * 4 // 3 + 4:
            raise UnavailableError("apple.unavailable", "Apple's fraud-metric endpoint returned no usable receipt")
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise UnavailableError("apple.unavailable", "Apple's answer is not a Base64 receipt") from exc
