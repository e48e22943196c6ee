"""A fake of the two Google endpoints a Play Integrity server calls, speaking their real protocols.

- ``POST /token``: OAuth 2.0 JWT bearer grant (RFC 7523), what google-auth's service-account flow sends. The
  assertion is verified for real: RS256 with the registered service account's public key, ``iss`` its email,
  ``aud`` Google's token endpoint, the Play Integrity scope, and a valid ``iat`` / ``exp`` window.
- ``POST /v1/{packageName}:decodeIntegrityToken``: needs a bearer token from ``/token``; returns
  ``{"tokenPayloadExternal": ...}``, 400 for a token it cannot decode, 403 for another app's token, cleared verdicts
  when a Standard token is decoded again. Faults (429 / 500 / delays / non-JSON answers) can be injected.

``FakeGoogleServer`` runs the ASGI app with uvicorn on a free local port in a background thread.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs

import uvicorn
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app_integrity.testing.android.play import EmulatedPlayError, EmulatedPlayIntegrity

GOOGLE_OAUTH_AUDIENCE_URL = "https://oauth2.googleapis.com/token"
PLAY_INTEGRITY_SCOPE = "https://www.googleapis.com/auth/playintegrity"
_JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 429: "RESOURCE_EXHAUSTED"}


@dataclass(slots=True)
class FakeGoogleApi:
    """State of the fake: the emulated Play service, service accounts, issued access tokens, faults."""

    play: EmulatedPlayIntegrity
    access_token_lifetime: int = 3600
    latency: float = 0.0
    token_latency: float = 0.0
    service_accounts: dict[str, rsa.RSAPublicKey] = field(default_factory=dict)
    access_tokens: dict[str, float] = field(default_factory=dict)
    faults: deque[int] = field(default_factory=deque)
    garbage: int = 0
    token_requests: int = 0
    decode_requests: int = 0

    def add_service_account(self, email: str, private_key: rsa.RSAPrivateKey) -> None:
        self.service_accounts[email] = private_key.public_key()

    def fail_next(self, status: int, times: int = 1) -> None:
        """The next ``times`` decode calls answer ``status`` (429, 500, 503 ...) before any other check."""
        self.faults.extend([status] * times)

    def answer_garbage_next(self, times: int = 1) -> None:
        """The next ``times`` decode calls answer 200 with a body that is not JSON (a misbehaving proxy)."""
        self.garbage += times

    def revoke_access_tokens(self) -> None:
        self.access_tokens.clear()

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/token", self._token, methods=["POST"]),
                Route("/v1/{call:path}", self._decode, methods=["POST"]),
            ]
        )

    async def _token(self, request: Request) -> Response:
        self.token_requests += 1
        if self.token_latency:
            await asyncio.sleep(self.token_latency)
        # application/x-www-form-urlencoded, parsed here so the fake needs no multipart library.
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
        if form.get("grant_type") != _JWT_BEARER:
            return _oauth_error("unsupported_grant_type", "Only the JWT bearer grant is supported.")
        assertion = form.get("assertion")
        if assertion is None:
            return _oauth_error("invalid_request", "Missing assertion.")
        try:
            unverified = json.loads(_b64url_json(assertion.split(".")[1]))
            key = self.service_accounts.get(unverified.get("iss", ""))
            if key is None:
                return _oauth_error("invalid_grant", "Invalid JWT: unknown service account.")
            token = jwt.decode(assertion, RSAKey.import_key(key), algorithms=["RS256"])
        except (JoseError, ValueError, IndexError, AttributeError):
            return _oauth_error("invalid_grant", "Invalid JWT Signature.")
        claims = token.claims
        now = time.time()
        if claims.get("aud") != GOOGLE_OAUTH_AUDIENCE_URL:
            return _oauth_error("invalid_grant", "Invalid JWT: audience is not the token endpoint.")
        if PLAY_INTEGRITY_SCOPE not in str(claims.get("scope", "")).split():
            return _oauth_error("invalid_scope", "The Play Integrity scope was not requested.")
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int) or not isinstance(exp, int) or exp - iat > 3600 or not iat - 300 <= now <= exp:
            return _oauth_error(
                "invalid_grant", "Invalid JWT: Token must be a short-lived token and in a valid window."
            )
        access_token = "ya29.fake-" + secrets.token_urlsafe(24)
        self.access_tokens[access_token] = now + self.access_token_lifetime
        return JSONResponse(
            {"access_token": access_token, "expires_in": self.access_token_lifetime, "token_type": "Bearer"}
        )

    async def _decode(self, request: Request) -> Response:
        self.decode_requests += 1
        if self.latency:
            await asyncio.sleep(self.latency)
        if self.faults:
            return _api_error(self.faults.popleft(), "Injected fault.")
        if self.garbage:
            self.garbage -= 1
            return Response(b"<html><body>502 Bad Gateway</body></html>", media_type="text/html")
        authorization = request.headers.get("authorization", "")
        expiry = self.access_tokens.get(authorization.removeprefix("Bearer "))
        if not authorization.startswith("Bearer ") or expiry is None or expiry < time.time():
            return _api_error(401, "Request had invalid authentication credentials.")
        package_name, _, method = request.path_params["call"].partition(":")
        if method != "decodeIntegrityToken":
            return _api_error(404, "Method not found.")
        try:
            body = json.loads(await request.body())
            token = body["integrityToken"]
        except (ValueError, KeyError, TypeError):
            return _api_error(400, "Invalid JSON payload received.")
        if not isinstance(token, str):
            return _api_error(400, "integrityToken must be a string.")
        try:
            payload = self.play.decode_standard(token, package_name=package_name)
        except EmulatedPlayError as exc:
            return _api_error(exc.status, str(exc))
        return JSONResponse({"tokenPayloadExternal": payload})


def _b64url_json(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _oauth_error(error: str, description: str) -> Response:
    return JSONResponse({"error": error, "error_description": description}, status_code=400)


def _api_error(status: int, message: str) -> Response:
    name = _STATUS_NAMES.get(status, "INTERNAL" if status >= 500 else "FAILED_PRECONDITION")
    return JSONResponse({"error": {"code": status, "message": message, "status": name}}, status_code=status)


def save_state(api: FakeGoogleApi, path: str | Path) -> Path:
    """Write what a fake in another process needs: Google's token keys, service-account public keys, latency."""
    document = {
        "google_decryption_key": base64.b64encode(api.play.google_decryption_key).decode(),
        "google_signing_key": api.play.google_signing_key.private_bytes(
            Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
        ).decode(),
        "service_accounts": {
            email: key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
            for email, key in api.service_accounts.items()
        },
        "latency": api.latency,
    }
    target = Path(path)
    target.write_text(json.dumps(document), encoding="utf-8")
    return target


def load_state(path: str | Path) -> FakeGoogleApi:
    document = json.loads(Path(path).read_text(encoding="utf-8"))
    signing_key = load_pem_private_key(document["google_signing_key"].encode(), password=None)
    if not isinstance(signing_key, ec.EllipticCurvePrivateKey):
        raise TypeError("google_signing_key must be an EC private key")
    play = EmulatedPlayIntegrity(
        google_decryption_key=base64.b64decode(document["google_decryption_key"]), google_signing_key=signing_key
    )
    api = FakeGoogleApi(play, latency=float(document["latency"]))
    for email, pem in document["service_accounts"].items():
        public_key = load_pem_public_key(pem.encode())
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise TypeError(f"service account {email} must have an RSA key")
        api.service_accounts[email] = public_key
    return api


class FakeGoogleServer:
    """Serve a ``FakeGoogleApi`` on ``127.0.0.1:<free port>`` from a background thread (a context manager)."""

    def __init__(self, api: FakeGoogleApi) -> None:
        self.api = api
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted sockets only when proto says TCP, and
        # without it Nagle plus delayed ACKs add ~40 ms to every response.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        config = uvicorn.Config(api.app(), log_level="warning", access_log=False, lifespan="off", backlog=1024)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    def start(self) -> FakeGoogleServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake Google API did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> FakeGoogleServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def write_service_account_file(
    path: str | Path,
    *,
    api: FakeGoogleApi,
    token_uri: str,
    email: str = "verifier@example-project.iam.gserviceaccount.com",
) -> Path:
    """Write a service-account JSON key (Google's format) whose ``token_uri`` is the fake, and register its key."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    api.add_service_account(email, private_key)
    pem = private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
    document: dict[str, Any] = {
        "type": "service_account",
        "project_id": "example-project",
        "private_key_id": secrets.token_hex(20),
        "private_key": pem,
        "client_email": email,
        "client_id": str(secrets.randbelow(10**20)),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "universe_domain": "googleapis.com",
    }
    target = Path(path)
    target.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return target


def serve_saved_state(path: str, control: Connection) -> None:
    """Run a fake saved with ``save_state`` until told to stop: the target of a separate process.

    Sends the port on ``control`` once listening, and stops when anything arrives on it (or it closes).
    """
    with FakeGoogleServer(load_state(path)) as server:
        control.send(server.port)
        with contextlib.suppress(EOFError):
            control.recv()
