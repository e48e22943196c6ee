"""An emulated Google Play Integrity service: device profiles, Standard and classic tokens in Google's format.

Tokens are what Google sends: a compact JWE (``A256KW`` / ``A256GCM``) around a compact JWS (``ES256``) whose
payload is the verdict JSON (int64 fields as strings, absent fields omitted). Classic tokens use the app's own
keys (the ones Play Console shows); Standard tokens use keys only this "Google" holds, so only the fake Google
API (``app_integrity.testing.android.fake_google``) can decode them, as with the real service.

Minting uses joserfc, an implementation independent of the verifier's own pinned decoder.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from joserfc import jwe, jws
from joserfc.jwk import ECKey, OctKey

from app_integrity._clock import resolve_now
from app_integrity._encoding import b64_standard, b64url
from app_integrity.android.app import AndroidApp
from app_integrity.android.play.jose import decrypt_jwe, verify_jws
from app_integrity.errors import AppIntegrityError


@dataclass(frozen=True, slots=True)
class DeviceProfile:
    """What Google would say about one device, app install and account."""

    name: str
    device_verdict: tuple[str, ...] = ("MEETS_DEVICE_INTEGRITY", "MEETS_BASIC_INTEGRITY")
    legacy_device_verdict: tuple[str, ...] | None = None
    sdk_version: int | None = 34
    device_activity_level: str | None = "LEVEL_1"
    device_recall: tuple[bool, bool, bool] | None = None
    app_recognition: str = "PLAY_RECOGNIZED"
    foreign_certificate: bool = False  # re-signed by someone else (a repackaged APK)
    licensing: str = "LICENSED"
    account_activity_level: str | None = None
    play_protect: str | None = "NO_ISSUES"
    apps_detected: tuple[str, ...] | None = ("KNOWN_INSTALLED",)
    testing: bool = False


PROFILES: dict[str, DeviceProfile] = {
    p.name: p
    for p in (
        DeviceProfile("genuine"),
        DeviceProfile(
            "strong",
            device_verdict=("MEETS_STRONG_INTEGRITY", "MEETS_DEVICE_INTEGRITY", "MEETS_BASIC_INTEGRITY"),
            device_recall=(False, False, False),
        ),
        DeviceProfile(
            "strong_android12",
            device_verdict=("MEETS_STRONG_INTEGRITY", "MEETS_DEVICE_INTEGRITY", "MEETS_BASIC_INTEGRITY"),
            sdk_version=31,
        ),
        # An emulator without Play certification: no device label, and Play does not evaluate the app either.
        DeviceProfile(
            "emulator",
            device_verdict=(),
            sdk_version=None,
            device_activity_level=None,
            app_recognition="UNEVALUATED",
            licensing="UNEVALUATED",
            play_protect=None,
            apps_detected=None,
        ),
        DeviceProfile("rooted", device_verdict=("MEETS_BASIC_INTEGRITY",), play_protect="NO_DATA"),
        DeviceProfile("sideloaded", app_recognition="UNRECOGNIZED_VERSION", foreign_certificate=True),
        DeviceProfile("unlicensed", licensing="UNLICENSED"),
        DeviceProfile("play_protect_off", play_protect="POSSIBLE_RISK"),
        DeviceProfile("play_protect_high_risk", play_protect="HIGH_RISK"),
        DeviceProfile("risky_apps", apps_detected=("KNOWN_INSTALLED", "UNKNOWN_INSTALLED", "UNKNOWN_CAPTURING")),
        DeviceProfile("token_farm", device_activity_level="LEVEL_4"),
        DeviceProfile("testing", testing=True),
    )
}


class EmulatedPlayError(Exception):
    """The emulated Google refuses a request; ``status`` is the HTTP status the real API answers with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(slots=True)
class EmulatedApp:
    """An app registered with the emulated Play: its signing digest, version and classic-request keys."""

    package_name: str
    certificate_sha256: bytes
    version_code: int
    decryption_key_bytes: bytes
    signing_key: ec.EllipticCurvePrivateKey

    @property
    def decryption_key(self) -> str:
        """Standard base64 of the AES-256 key, as Play Console shows it."""
        return b64_standard(self.decryption_key_bytes)

    @property
    def verification_key(self) -> str:
        """Standard base64 of the DER SubjectPublicKeyInfo, as Play Console shows it."""
        der = self.signing_key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        return b64_standard(der)

    def android_app(self, **options: Any) -> AndroidApp:
        """The ``AndroidApp`` a server would configure for this app."""
        return AndroidApp(self.package_name, [self.certificate_sha256], **options)


def _new_signing_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@dataclass(slots=True)
class EmulatedPlayIntegrity:
    """Google's side: registered apps, the keys of Standard tokens, verdict minting and decoding."""

    google_decryption_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    google_signing_key: ec.EllipticCurvePrivateKey = field(default_factory=_new_signing_key)
    apps: dict[str, EmulatedApp] = field(default_factory=dict)
    _decoded: set[bytes] = field(default_factory=set, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def register_app(self, package_name: str, *, version_code: int = 1) -> EmulatedApp:
        app = EmulatedApp(
            package_name=package_name,
            certificate_sha256=hashlib.sha256(b"signing certificate of " + package_name.encode()).digest(),
            version_code=version_code,
            decryption_key_bytes=secrets.token_bytes(32),
            signing_key=_new_signing_key(),
        )
        self.apps[package_name] = app
        return app

    def _app(self, package_name: str) -> EmulatedApp:
        app = self.apps.get(package_name)
        if app is None:
            raise EmulatedPlayError(404, f"{package_name!r} is not registered with the emulated Play")
        return app

    def payload(
        self,
        package_name: str,
        profile: DeviceProfile,
        *,
        request_hash: str | None = None,
        nonce: str | None = None,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """The verdict JSON Google would produce for this request, device and account."""
        app = self._app(package_name)
        request: dict[str, Any] = {"requestPackageName": package_name}
        if request_hash is not None:
            request["requestHash"] = request_hash
        if nonce is not None:
            request["nonce"] = nonce
        request["timestampMillis"] = str(int(resolve_now(now).timestamp() * 1000))
        app_integrity: dict[str, Any] = {"appRecognitionVerdict": profile.app_recognition}
        if profile.app_recognition in ("PLAY_RECOGNIZED", "UNRECOGNIZED_VERSION"):
            # Play fills these in only when it evaluated the app.
            digest = hashlib.sha256(b"someone else").digest() if profile.foreign_certificate else app.certificate_sha256
            app_integrity["packageName"] = package_name
            app_integrity["certificateSha256Digest"] = [b64url(digest)]
            app_integrity["versionCode"] = str(app.version_code)
        device: dict[str, Any] = {}
        if profile.device_verdict:
            device["deviceRecognitionVerdict"] = list(profile.device_verdict)
        if profile.legacy_device_verdict is not None:
            device["legacyDeviceRecognitionVerdict"] = list(profile.legacy_device_verdict)
        if profile.sdk_version is not None:
            device["deviceAttributes"] = {"sdkVersion": profile.sdk_version}
        if profile.device_activity_level is not None:
            device["recentDeviceActivity"] = {"deviceActivityLevel": profile.device_activity_level}
        if profile.device_recall is not None:
            first, second, third = profile.device_recall
            device["deviceRecall"] = {
                "values": {"bitFirst": first, "bitSecond": second, "bitThird": third},
                "writeDates": {},
            }
        account: dict[str, Any] = {"appLicensingVerdict": profile.licensing}
        if profile.account_activity_level is not None:
            account["accountActivity"] = {"activityLevel": profile.account_activity_level}
        result: dict[str, Any] = {
            "requestDetails": request,
            "appIntegrity": app_integrity,
            "deviceIntegrity": device,
            "accountDetails": account,
        }
        environment: dict[str, Any] = {}
        if profile.play_protect is not None:
            environment["playProtectVerdict"] = profile.play_protect
        if profile.apps_detected is not None:
            environment["appAccessRiskVerdict"] = {"appsDetected": list(profile.apps_detected)}
        if environment:
            result["environmentDetails"] = environment
        if profile.testing:
            result["testingDetails"] = {"isTestingResponse": True}
        return result

    @staticmethod
    def seal(
        payload: Mapping[str, Any] | bytes, *, encryption_key: bytes, signing_key: ec.EllipticCurvePrivateKey
    ) -> str:
        """Sign the payload (ES256 JWS) and encrypt it (A256KW / A256GCM JWE), as Google does."""
        body = payload if isinstance(payload, bytes) else _json(payload)
        signed = jws.serialize_compact({"alg": "ES256"}, body, ECKey.import_key(signing_key))
        return jwe.encrypt_compact({"alg": "A256KW", "enc": "A256GCM"}, signed, OctKey.import_key(encryption_key))

    def mint_classic(
        self, package_name: str, *, nonce: str, profile: DeviceProfile, now: datetime | None = None
    ) -> str:
        """A classic token, sealed with the app's own keys (decodable with ``LocalKeyDecoder``)."""
        app = self._app(package_name)
        payload = self.payload(package_name, profile, nonce=nonce, now=now)
        return self.seal(payload, encryption_key=app.decryption_key_bytes, signing_key=app.signing_key)

    def mint_standard(
        self, package_name: str, *, request_hash: str, profile: DeviceProfile, now: datetime | None = None
    ) -> str:
        """A Standard token, sealed with keys only Google holds (decodable through the fake Google API)."""
        payload = self.payload(package_name, profile, request_hash=request_hash, now=now)
        return self.seal(payload, encryption_key=self.google_decryption_key, signing_key=self.google_signing_key)

    def decode_standard(self, token: str, *, package_name: str) -> dict[str, Any]:
        """What ``decodeIntegrityToken`` returns as ``tokenPayloadExternal``; raises ``EmulatedPlayError``.

        Status 400 (INVALID_ARGUMENT) for a token Google cannot decode, 403 for another app's token.
        A token decoded a second time comes back with cleared verdicts, Google's replay protection.
        """
        try:
            signed = decrypt_jwe(token, self.google_decryption_key)
            body = verify_jws(signed, self.google_signing_key.public_key())
        except AppIntegrityError as exc:
            raise EmulatedPlayError(400, "Integrity token cannot be decoded.") from exc
        payload: dict[str, Any] = _loads(body)
        if payload["requestDetails"]["requestPackageName"] != package_name:
            raise EmulatedPlayError(403, "The caller does not have permission for this token.")
        fingerprint = hashlib.sha256(token.encode()).digest()
        with self._lock:
            seen = fingerprint in self._decoded
            self._decoded.add(fingerprint)
        return cleared(payload) if seen else payload


def cleared(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The verdict Google returns for a Standard token decoded again: request details kept, verdicts cleared."""
    return {
        "requestDetails": dict(payload["requestDetails"]),
        "appIntegrity": {"appRecognitionVerdict": "UNEVALUATED"},
        "deviceIntegrity": {},
        "accountDetails": {"appLicensingVerdict": "UNEVALUATED"},
    }


def _json(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _loads(body: bytes) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(body)
    return value


class EmulatedAndroidDevice:
    """One phone running the app, with the calls ``@expo/app-integrity`` makes on Android."""

    def __init__(self, service: EmulatedPlayIntegrity, package_name: str, *, profile: DeviceProfile | str = "genuine"):
        self.service = service
        self.package_name = package_name
        self.profile = PROFILES[profile] if isinstance(profile, str) else profile
        self._prepared = False

    def with_profile(self, profile: DeviceProfile | str) -> EmulatedAndroidDevice:
        return EmulatedAndroidDevice(self.service, self.package_name, profile=profile)

    def prepare_integrity_token_provider(self, cloud_project_number: str) -> None:
        """``prepareIntegrityTokenProviderAsync(cloudProjectNumber)``: warm up the Standard token provider."""
        if not cloud_project_number.isdigit():
            raise EmulatedPlayError(400, "cloudProjectNumber is the numeric Google Cloud project number")
        self._prepared = True

    def request_integrity_check(self, request_hash: str, *, now: datetime | None = None) -> str:
        """``requestIntegrityCheckAsync(requestHash)``: a Standard token echoing ``request_hash``."""
        if not self._prepared:
            raise EmulatedPlayError(400, "call prepare_integrity_token_provider first")
        # "requestHash ... a maximum of 500 characters" (StandardIntegrityTokenRequest).
        if len(request_hash) > 500:
            raise EmulatedPlayError(400, "requestHash is over 500 characters")
        return self.service.mint_standard(self.package_name, request_hash=request_hash, profile=self.profile, now=now)

    def request_classic_integrity_token(self, nonce: str, *, now: datetime | None = None) -> str:
        """``IntegrityManager.requestIntegrityToken(nonce)``: a classic token for the app's own keys."""
        return self.service.mint_classic(self.package_name, nonce=nonce, profile=self.profile, now=now)


__all__ = [
    "PROFILES",
    "DeviceProfile",
    "EmulatedAndroidDevice",
    "EmulatedApp",
    "EmulatedPlayError",
    "EmulatedPlayIntegrity",
    "cleared",
]
