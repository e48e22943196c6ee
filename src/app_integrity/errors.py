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
- ``header.*``     the ``App-Integrity`` request header is absent or not a well-formed v1 proof
- ``policy.*``     reasons a policy adds to a decision (never raised)
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
    "android.chain_incomplete": "The key attestation chain has fewer certificates than leaf and issuer.",
    "android.chain_broken": "A certificate's issuer is not the next certificate's subject (truncated or reordered).",
    "android.signature_invalid": "A certificate's signature does not verify with its issuer's key.",
    "android.unsupported_algorithm": "A certificate is signed with an algorithm other than RSA PKCS#1 v1.5 or ECDSA "
    "with SHA-256/384.",
    "android.root_not_trusted": "The chain does not end at a pinned attestation root key.",
    "android.software_root": "The chain ends at the AOSP software attestation root: the key is not hardware-backed.",
    "android.certificate_expired": "A CA certificate of the chain is not valid at the verification time.",
    "android.certificate_revoked": "A certificate of the chain is REVOKED or SUSPENDED in Google's status list.",
    "android.extension_misplaced": "A certificate other than the leaf carries a KeyDescription without being an "
    "ATTEST_KEY key (chain extension attack).",
    "android.key_description_missing": "The leaf certificate has no KeyDescription extension.",
    "android.key_description_malformed": "The KeyDescription extension cannot be decoded.",
    "android.provisioning_info_malformed": "The provisioning-info extension is not a CBOR map.",
    "android.challenge_mismatch": "The attestation challenge is not the issued challenge.",
    "android.package_mismatch": "The attested key does not belong to the app's package name.",
    "android.signer_mismatch": "No signing certificate digest of the attested app matches the app's.",
    "android.app_version_too_low": "The attested app version is below the app's minimum version code.",
    "android.software_security_level": "Posture: the attestation security level is Software.",
    "android.security_level_too_low": "Posture: the attestation security level is below the policy's minimum.",
    "android.origin_not_generated": "Posture: the key was not generated in the secure hardware.",
    "android.boot_state_unverified": "Posture: verified boot state is not Verified (nor SelfSigned with an allowed "
    "key).",
    "android.bootloader_unlocked": "Posture: the bootloader is unlocked.",
    "android.boot_key_not_allowed": "Posture: a SelfSigned boot with a verifiedBootKey outside the policy's "
    "allow-list.",
    "android.patch_level_too_old": "Posture: the OS patch level is below the policy's minimum.",
    "android.key_description_anomalous": "Posture: the KeyDescription deviates from DER or tag order and the policy "
    "does not allow anomalies.",
    "android.unavailable": "Google's attestation status list could not be fetched and no usable copy is held.",
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
    "session.no_signing_key": "No session signing key can sign a session now: the service must rotate its keyring.",
    # --- unavailable ---
    "storage.unavailable": "The storage backend did not answer.",
    # --- config ---
    "config.invalid": "The configuration is wrong; the message names the key.",
    # --- header ---
    "header.missing": "The request carries no App-Integrity header (no proof at all: tier none).",
    "header.too_large": "The App-Integrity header is larger than 8 KiB.",
    "header.malformed": "The App-Integrity header is not an RFC 8941 dictionary.",
    "header.duplicate_member": "A member of the App-Integrity header appears more than once.",
    "header.unsupported_version": "The App-Integrity header's v is not 1.",
    "header.missing_member": "A member the App-Integrity header needs for its platform is absent.",
    "header.unknown_member": "The App-Integrity header has a member v1 does not define for its form.",
    "header.wrong_type": "A member of the App-Integrity header has the wrong type, size or parameters.",
    "header.unknown_platform": "The App-Integrity header names a platform other than ios or android.",
    # --- policy ---
    "policy.below_allow": "The tier is below the action's allow tier: the request is limited.",
    "policy.below_limit": "The tier is below the action's limit tier: the request is blocked.",
    "policy.required_app": "The action requires the app signal (genuine, recognised app), which did not hold.",
    "policy.required_licensing": "The action requires the licensing signal, which did not hold.",
    "policy.required_play_protect": "The action requires the play_protect signal, which did not hold.",
    "policy.required_no_risky_apps": "The action requires the no_risky_apps signal, which did not hold.",
    "policy.required_min_patch_level": "The action requires the min_patch_level signal, which did not hold.",
    # --- service ---
    "input.header_too_large": "The request's header fields are larger than 32 KiB in all (HTTP 431).",
    "apple.not_configured": "An iOS proof reached a service with no [apple] app configured.",
    "play.not_configured": "An Android proof reached a service with no [android] app configured.",
    "session.not_exchangeable": "A session was presented to POST /v1/sessions: sessions cannot be exchanged.",
    "admin.disabled": "Admin routes are disabled: no admin token is configured.",
    "admin.unauthorized": "The admin bearer token is missing or wrong.",
    "verify.unauthorized": "The /v1/verify bearer token is missing or wrong.",
    "internal.error": "The service failed unexpectedly (a bug); the error was logged.",
    # --- integrations ---
    "verify.unavailable": "A framework integration in remote mode got no usable answer from POST /v1/verify.",
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


class HeaderError(VerificationError):
    """The ``App-Integrity`` header is absent or not a well-formed v1 proof (``header.*``)."""

    family = "header"


class AccessError(AppIntegrityError):
    """The caller may not use this route (``admin.*``, ``verify.*``): a missing or wrong bearer token."""
