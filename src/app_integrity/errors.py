"""One exception hierarchy; every error carries a stable machine code.

The codes are part of the public contract: the HTTP API returns them in problem+json bodies, policies and
dashboards group by them, and the README lists them all. ``CODES`` is the catalogue; a test checks that every
code raised anywhere in the package is in it and in the README.

Families:

- ``input.*``      the bytes are not what they claim to be (malformed, oversized, wrong type)
- ``apple.*``      an App Attest attestation, assertion or receipt is not valid
- ``play.*``       a Play Integrity token or verdict is not valid for this request
- ``android.*``    an Android hardware key attestation is not valid
- ``challenge.*``  the challenge is unknown, expired, used, or bound to something else
- ``key.*``        the key registry refuses the key
- ``session.*``    a session token is not valid
- ``*.unavailable`` a dependency (Apple, Google, storage) did not answer: not a verdict on the proof
- ``config.*``     the configuration is wrong
"""

from __future__ import annotations

from typing import ClassVar

CODES: dict[str, str] = {
    # --- input ---
    "input.malformed": "The input could not be decoded (base64, CBOR, DER, JSON, JWE or header syntax).",
    "input.too_large": "The input is larger than the size allowed for it.",
    "input.invalid_argument": "The caller passed an impossible combination of arguments.",
    # --- apple ---
    "apple.unsupported_format": "The attestation's fmt is not apple-appattest.",
    "apple.certificate_chain_invalid": "The x5c chain does not lead to the pinned App Attest root at that time.",
    "apple.certificate_expired": "A certificate in the chain is not valid at the verification time.",
    "apple.nonce_mismatch": "The nonce in the certificate does not match SHA-256(authData || clientDataHash).",
    "apple.key_id_mismatch": "The key id does not match the attested public key or the credential id.",
    "apple.app_id_mismatch": "rpIdHash does not match SHA-256 of TEAMID.bundleId.",
    "apple.counter_not_zero": "An attestation's sign count is not zero.",
    "apple.counter_not_increasing": "An assertion's counter is not greater than the stored one.",
    "apple.wrong_environment": "The aaguid names an environment this app does not accept.",
    "apple.public_key_mismatch": "The COSE key in authData differs from the certificate's key.",
    "apple.signature_invalid": "The assertion's signature does not verify with the registered key.",
    "apple.receipt_invalid": "The receipt is not a valid Apple receipt for this app and key.",
    "apple.receipt_expired": "The receipt has expired.",
    "apple.authenticator_data_invalid": "The authenticator data is truncated, padded or inconsistent.",
    "apple.extension_invalid": "The trailing iOS 27 extension map is malformed or followed by other bytes.",
    "apple.unavailable": "Apple's receipt service did not answer.",
    "apple.rejected": "Apple's receipt service refused the receipt.",
    # --- play ---
    "play.token_malformed": "The token is not a compact JWE / JWS of the pinned form (parts, base64url, header JSON).",
    "play.algorithm_not_allowed": "A JOSE header is not A256KW / A256GCM / ES256, or carries zip, crit or key members.",
    "play.decryption_failed": "The token does not decrypt with the app's key (another app's key or token, or altered).",
    "play.signature_invalid": "The verdict is not signed by the app's verification key.",
    "play.payload_invalid": "The verdict JSON is malformed or has a field of the wrong type.",
    "play.token_rejected": "Google refused to decode the token (HTTP 400 or 403, e.g. another app's token).",
    "play.package_mismatch": "requestDetails.requestPackageName is not this app's package.",
    "play.request_hash_mismatch": "requestDetails.requestHash differs from this request's hash.",
    "play.nonce_mismatch": "requestDetails.nonce differs from the nonce issued for this request.",
    "play.timestamp_stale": "requestDetails.timestampMillis is older than the allowed age.",
    "play.timestamp_future": "requestDetails.timestampMillis is in the future beyond the allowed skew.",
    "play.testing_response": "The verdict is a testing response and testing responses are not allowed.",
    "play.no_device_integrity": "Failed check: no device label (tier none: emulator, unevaluated or cleared verdict).",
    "play.app_unrecognized": "Failed check: appRecognitionVerdict is neither PLAY_RECOGNIZED nor an allowed value.",
    "play.app_package_mismatch": "Failed check: appIntegrity.packageName is missing or not this app's.",
    "play.certificate_mismatch": "Failed check: a signing certificate digest is missing or not in the allowed set.",
    "play.version_too_old": "Failed check: appIntegrity.versionCode is missing or below min_version_code.",
    "play.unlicensed": "Failed check: appLicensingVerdict is not LICENSED while a licence is required.",
    "play.account_activity_unusual": "Failed check: accountActivity.activityLevel is UNUSUAL.",
    "play.play_protect_off": "Failed check: playProtectVerdict is POSSIBLE_RISK (Play Protect turned off).",
    "play.play_protect_risk": "Failed check: playProtectVerdict is MEDIUM_RISK or HIGH_RISK.",
    "play.risky_apps_detected": "Failed check: apps not from Play are capturing, controlling or overlaying the screen.",
    "play.device_activity_high": "Failed check: recentDeviceActivity is LEVEL_4 (token farming suspected).",
    "google.unavailable": "Google's Play Integrity API or OAuth endpoint did not answer in time; not a verdict.",
    # --- android ---
    # --- challenge ---
    "challenge.unknown": "The challenge was never issued, or has already been used.",
    "challenge.expired": "The challenge's time to live has passed.",
    "challenge.subject_mismatch": "The challenge is bound to another subject.",
    "challenge.purpose_mismatch": "The challenge was issued for another purpose.",
    # --- key ---
    "key.unknown": "No key with this id is registered.",
    "key.revoked": "The key has been revoked.",
    "key.already_registered": "A key with this id is already registered.",
    "key.subject_mismatch": "The key is registered to another subject.",
    # --- session ---
    "session.invalid": "The session token is not a valid session of this service.",
    "session.expired": "The session token has expired.",
    "session.used": "The single-use session has already been used.",
    # --- unavailable ---
    "storage.unavailable": "The storage backend did not answer.",
    # --- config ---
    "config.invalid": "The configuration is wrong; the message names the key.",
}


class AppIntegrityError(Exception):
    """Base of every error this package raises on purpose."""

    family: ClassVar[str] = ""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r})"


class VerificationError(AppIntegrityError):
    """The proof is not valid. Always a block, whatever the policy."""


class InputError(VerificationError):
    """Malformed, oversized or mistyped input (``input.*``)."""

    family = "input"


class AppleError(VerificationError):
    """App Attest attestation, assertion or receipt failure (``apple.*``)."""

    family = "apple"


class PlayIntegrityError(VerificationError):
    """Play Integrity token or verdict failure (``play.*``)."""

    family = "play"


class KeyAttestationError(VerificationError):
    """Android hardware key attestation failure (``android.*``)."""

    family = "android"


class ChallengeError(VerificationError):
    """Challenge unknown, expired, used or bound elsewhere (``challenge.*``)."""

    family = "challenge"


class KeyRegistryError(VerificationError):
    """The key registry refuses the key (``key.*``)."""

    family = "key"


class SessionError(VerificationError):
    """The session token is not valid (``session.*``)."""

    family = "session"


class UnavailableError(AppIntegrityError):
    """A dependency did not answer (``*.unavailable``): the proof was neither accepted nor refused."""


class ConfigError(AppIntegrityError):
    """The configuration is wrong (``config.*``)."""

    family = "config"
