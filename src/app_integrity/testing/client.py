"""An emulated app: ``@expo/app-integrity``'s calls over the emulated devices, and the app side of the protocol.

- ``IosAppIntegrity`` / ``AndroidAppIntegrity`` mirror the Expo module (``isSupported``, ``generateKeyAsync``,
  ``attestKeyAsync``, ``generateAssertionAsync``, ``prepareIntegrityTokenProviderAsync``,
  ``requestIntegrityCheckAsync``, hardware-attested keys) with Python names.
- ``IntegrityClient`` (httpx.Client: a base URL or an in-process WSGI app) and ``AsyncIntegrityClient``
  (httpx.AsyncClient: a base URL or an in-process ASGI app) do what the app does: fetch a challenge, register the
  key once, sign each request (the binding of exactly the bytes httpx sends, in the ``App-Integrity`` header) and
  exchange a proof for a session.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import httpx

from app_integrity.binding import build_binding, request_hash
from app_integrity.header import AndroidProof, IosProof, SessionProof, format_header
from app_integrity.testing.android.keystore import EmulatedKeyStore
from app_integrity.testing.android.play import EmulatedAndroidDevice
from app_integrity.testing.apple import EmulatedAppAttestService

HEADER_NAME = "App-Integrity"
CLOUD_PROJECT_NUMBER = "123456789012"


class IosAppIntegrity:
    """``@expo/app-integrity`` on an emulated iPhone."""

    def __init__(self, device: EmulatedAppAttestService) -> None:
        self.device = device

    platform = "ios"

    def is_supported(self) -> bool:
        """``isSupported``: App Attest is available (always, on the emulated Secure Enclave)."""
        return True

    def generate_key(self) -> str:
        return self.device.generate_key()

    def attest_key(self, key_id: str, challenge: str) -> str:
        return self.device.attest_key_async(key_id, challenge)

    def generate_assertion(self, key_id: str, client_data: str) -> str:
        return self.device.generate_assertion_async(key_id, client_data)


class AndroidAppIntegrity:
    """``@expo/app-integrity`` on an emulated Android phone (Play Integrity Standard requests, KeyStore)."""

    platform = "android"

    def __init__(self, device: EmulatedAndroidDevice, *, keystore: EmulatedKeyStore | None = None) -> None:
        self.device = device
        self.keystore = keystore
        self._chains: dict[str, tuple[str, ...]] = {}

    def is_supported(self) -> bool:
        """Play services are present unless the profile is an emulator without Play certification."""
        return True

    def prepare_integrity_token_provider(self, cloud_project_number: str) -> None:
        self.device.prepare_integrity_token_provider(cloud_project_number)

    def request_integrity_check(self, request_hash: str) -> str:
        return self.device.request_integrity_check(request_hash)

    def is_hardware_attestation_supported(self) -> bool:
        return self.keystore is not None

    def generate_hardware_attested_key(self, alias: str, challenge: str) -> None:
        """``generateHardwareAttestedKeyAsync(alias, challenge)``: the challenge's UTF-8 bytes are attested."""
        if self.keystore is None:
            raise RuntimeError("this emulated phone has no KeyStore (pass keystore=)")
        app = self.device.service.apps[self.device.package_name]
        key = self.keystore.generate_key(
            challenge=challenge,
            package_name=self.device.package_name,
            signing_digests=[app.certificate_sha256],
            version_code=app.version_code,
        )
        self._chains[alias] = key.chain

    def get_attestation_certificate_chain(self, alias: str) -> list[str]:
        """``getAttestationCertificateChainAsync(alias)``: standard base64 DER certificates, leaf first."""
        return list(self._chains[alias])


Module = IosAppIntegrity | AndroidAppIntegrity


def app_integrity_module(
    device: EmulatedAppAttestService | EmulatedAndroidDevice | Module, *, keystore: EmulatedKeyStore | None = None
) -> Module:
    if isinstance(device, IosAppIntegrity | AndroidAppIntegrity):
        return device
    if isinstance(device, EmulatedAppAttestService):
        return IosAppIntegrity(device)
    return AndroidAppIntegrity(device, keystore=keystore)


@dataclass
class _AppState:
    """What the app keeps between requests: its key id once registered, its session once exchanged."""

    key_id: str | None = None
    registered: bool = False
    session: str | None = None
    prepared: bool = False
    registrations: list[dict[str, Any]] = field(default_factory=list)


class _Protocol:
    """The app's protocol steps without I/O: each returns what to send; the clients send it."""

    def __init__(self, module: Module, *, prefix: str = "", subject: str | None = None) -> None:
        self.module = module
        self.prefix = prefix.rstrip("/")
        self.subject = subject
        self.state = _AppState()

    def route(self, path: str) -> str:
        return self.prefix + path

    def challenge_body(self, purpose: str | None) -> dict[str, str]:
        body: dict[str, str] = {}
        if purpose is not None:
            body["purpose"] = purpose
        if self.subject is not None:
            body["subject"] = self.subject
        return body

    def registration_body(self, challenge: str) -> dict[str, str]:
        assert isinstance(self.module, IosAppIntegrity)
        if self.state.key_id is None:
            self.state.key_id = self.module.generate_key()
        body = {
            "keyId": self.state.key_id,
            "attestation": self.module.attest_key(self.state.key_id, challenge),
            "challenge": challenge,
        }
        if self.subject is not None:
            body["subject"] = self.subject
        return body

    def hardware_key_body(self, challenge: str, alias: str) -> dict[str, Any]:
        assert isinstance(self.module, AndroidAppIntegrity)
        self.module.generate_hardware_attested_key(alias, challenge)
        body: dict[str, Any] = {"chain": self.module.get_attestation_certificate_chain(alias), "challenge": challenge}
        if self.subject is not None:
            body["subject"] = self.subject
        return body

    def needs_registration(self) -> bool:
        return isinstance(self.module, IosAppIntegrity) and not self.state.registered

    def header(self, challenge: str, method: str, target: str, body: bytes) -> str:
        """The proof for one request: the binding of exactly what is sent, signed by the platform."""
        binding = build_binding(challenge, method, target, body)
        if isinstance(self.module, IosAppIntegrity):
            assert self.state.key_id is not None
            assertion = self.module.generate_assertion(self.state.key_id, binding)
            return format_header(
                IosProof(
                    key_id=base64.b64decode(self.state.key_id),
                    challenge=challenge,
                    assertion=base64.b64decode(assertion),
                )
            )
        if not self.state.prepared:
            self.module.prepare_integrity_token_provider(CLOUD_PROJECT_NUMBER)
            self.state.prepared = True
        token = self.module.request_integrity_check(request_hash(binding))
        return format_header(AndroidProof(challenge=challenge, token=token))

    def session_header(self) -> str:
        assert self.state.session is not None
        return format_header(SessionProof(token=self.state.session))


def _target(request: httpx.Request) -> str:
    """The origin-form target httpx puts on the wire (raw, as encoded)."""
    return request.url.raw_path.decode("ascii")


def _checked(response: httpx.Response, step: str) -> dict[str, Any]:
    if response.status_code != 201:
        raise ProtocolStepError(step, response)
    document: dict[str, Any] = response.json()
    return document


class ProtocolStepError(Exception):
    """A protocol step (challenge, registration, exchange) was refused; ``response`` says why."""

    def __init__(self, step: str, response: httpx.Response) -> None:
        super().__init__(f"{step}: HTTP {response.status_code} {response.text[:300]}")
        self.step = step
        self.response = response


class _ClientViews:
    """What both clients expose of the app's protocol state."""

    protocol: _Protocol

    @property
    def module(self) -> Module:
        return self.protocol.module

    @property
    def key_id(self) -> str | None:
        return self.protocol.state.key_id

    @property
    def session(self) -> str | None:
        return self.protocol.state.session


class IntegrityClient(_ClientViews):
    """The app, synchronous: ``base_url`` (a running server) or ``app`` (a WSGI app, in process).

    ``prefix`` is where the service's routes are (``""`` for ``app-integrity serve``, ``"/integrity"`` when a
    framework integration mounts them). ``request`` signs and sends; ``sign`` only builds the header.
    """

    def __init__(
        self,
        device: EmulatedAppAttestService | EmulatedAndroidDevice | Module,
        *,
        base_url: str = "http://testserver",
        app: Any = None,
        client: httpx.Client | None = None,
        prefix: str = "",
        subject: str | None = None,
        keystore: EmulatedKeyStore | None = None,
    ) -> None:
        self.protocol = _Protocol(app_integrity_module(device, keystore=keystore), prefix=prefix, subject=subject)
        transport = httpx.WSGITransport(app=app) if app is not None else None
        self.http = client or httpx.Client(base_url=base_url, transport=transport)

    def challenge(self, *, purpose: str | None = None) -> str:
        body = self.protocol.challenge_body(purpose)
        value: str = _checked(self.http.post(self.protocol.route("/v1/challenges"), json=body), "challenge")[
            "challenge"
        ]
        return value

    def register(self) -> str:
        """iOS, once per install: generate and attest a key, and register it."""
        body = self.protocol.registration_body(self.challenge(purpose="register"))
        _checked(self.http.post(self.protocol.route("/v1/apple/keys"), json=body), "register")
        self.protocol.state.registered = True
        assert self.protocol.state.key_id is not None
        return self.protocol.state.key_id

    def register_hardware_key(self, alias: str = "app-integrity") -> dict[str, Any]:
        """Android, optional: a hardware-attested key; the answer may carry a session (kept)."""
        body = self.protocol.hardware_key_body(self.challenge(purpose="register"), alias)
        answer = _checked(self.http.post(self.protocol.route("/v1/android/keys"), json=body), "register")
        if answer.get("session"):
            self.protocol.state.session = answer["session"]
        return answer

    def sign(self, method: str, target: str, body: bytes = b"") -> str:
        """The ``App-Integrity`` value for a request (a fresh challenge each time; the key registered first)."""
        if self.protocol.needs_registration():
            self.register()
        return self.protocol.header(self.challenge(), method, target, body)

    def exchange_session(self) -> str:
        """``POST /v1/sessions`` with a proof bound to that very request; the session is kept for later requests."""
        request = self.http.build_request("POST", self.protocol.route("/v1/sessions"), content=b"")
        request.headers[HEADER_NAME] = self.sign("POST", _target(request), b"")
        session: str = _checked(self.http.send(request), "session")["session"]
        self.protocol.state.session = session
        return session

    def request(self, method: str, url: str, *, use_session: bool = False, **options: Any) -> httpx.Response:
        """Send a request signed like the app does (or carrying the session, with ``use_session``)."""
        request = self.http.build_request(method, url, **options)
        body = request.read()
        if use_session:
            request.headers[HEADER_NAME] = self.protocol.session_header()
        else:
            request.headers[HEADER_NAME] = self.sign(request.method, _target(request), body)
        return self.http.send(request)

    def get(self, url: str, **options: Any) -> httpx.Response:
        return self.request("GET", url, **options)

    def post(self, url: str, **options: Any) -> httpx.Response:
        return self.request("POST", url, **options)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> IntegrityClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncIntegrityClient(_ClientViews):
    """The app, asynchronous: ``base_url`` (a running server) or ``app`` (an ASGI app, in process)."""

    def __init__(
        self,
        device: EmulatedAppAttestService | EmulatedAndroidDevice | Module,
        *,
        base_url: str = "http://testserver",
        app: Any = None,
        client: httpx.AsyncClient | None = None,
        prefix: str = "",
        subject: str | None = None,
        keystore: EmulatedKeyStore | None = None,
    ) -> None:
        self.protocol = _Protocol(app_integrity_module(device, keystore=keystore), prefix=prefix, subject=subject)
        transport = httpx.ASGITransport(app=app) if app is not None else None
        self.http = client or httpx.AsyncClient(base_url=base_url, transport=transport)

    async def challenge(self, *, purpose: str | None = None) -> str:
        response = await self.http.post(
            self.protocol.route("/v1/challenges"), json=self.protocol.challenge_body(purpose)
        )
        value: str = _checked(response, "challenge")["challenge"]
        return value

    async def register(self) -> str:
        body = self.protocol.registration_body(await self.challenge(purpose="register"))
        _checked(await self.http.post(self.protocol.route("/v1/apple/keys"), json=body), "register")
        self.protocol.state.registered = True
        assert self.protocol.state.key_id is not None
        return self.protocol.state.key_id

    async def register_hardware_key(self, alias: str = "app-integrity") -> dict[str, Any]:
        body = self.protocol.hardware_key_body(await self.challenge(purpose="register"), alias)
        answer = _checked(await self.http.post(self.protocol.route("/v1/android/keys"), json=body), "register")
        if answer.get("session"):
            self.protocol.state.session = answer["session"]
        return answer

    async def sign(self, method: str, target: str, body: bytes = b"") -> str:
        if self.protocol.needs_registration():
            await self.register()
        return self.protocol.header(await self.challenge(), method, target, body)

    async def exchange_session(self) -> str:
        request = self.http.build_request("POST", self.protocol.route("/v1/sessions"), content=b"")
        request.headers[HEADER_NAME] = await self.sign("POST", _target(request), b"")
        session: str = _checked(await self.http.send(request), "session")["session"]
        self.protocol.state.session = session
        return session

    async def request(self, method: str, url: str, *, use_session: bool = False, **options: Any) -> httpx.Response:
        request = self.http.build_request(method, url, **options)
        body = await request.aread()
        if use_session:
            request.headers[HEADER_NAME] = self.protocol.session_header()
        else:
            request.headers[HEADER_NAME] = await self.sign(request.method, _target(request), body)
        return await self.http.send(request)

    async def get(self, url: str, **options: Any) -> httpx.Response:
        return await self.request("GET", url, **options)

    async def post(self, url: str, **options: Any) -> httpx.Response:
        return await self.request("POST", url, **options)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> AsyncIntegrityClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


__all__ = [
    "AndroidAppIntegrity",
    "AsyncIntegrityClient",
    "IntegrityClient",
    "IosAppIntegrity",
    "ProtocolStepError",
    "app_integrity_module",
]
