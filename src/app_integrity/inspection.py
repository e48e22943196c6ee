"""See inside an attestation: detect what a blob is, decode it into labelled fields, and optionally verify it with
the app's settings, reporting every check as pass or fail. ``app-integrity inspect`` prints the result.

Kinds: an App Attest attestation or assertion (CBOR), an App Attest receipt (PKCS #7), a Play Integrity token
(compact JWE or JWS), an Android key-attestation chain (a JSON list, newline-separated base64, or PEM). Decoding
uses the verifiers' own parsers; verification calls the verifiers themselves, never a second copy of a rule.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key

from app_integrity import _cbor
from app_integrity._clock import resolve_now
from app_integrity._encoding import b64_standard
from app_integrity.android.app import AndroidApp
from app_integrity.android.keyattestation import (
    KeyDescription,
    SecurityLevel,
    VerifiedBootState,
    parse_key_description,
    verify_key_attestation,
)
from app_integrity.android.keyattestation.chain import load_certificate as load_android_certificate
from app_integrity.android.play import IntegrityVerdict, LocalKeyDecoder, evaluate_verdict
from app_integrity.apple import AppleApp, verify_assertion, verify_attestation, verify_receipt
from app_integrity.apple.authdata import AuthenticatorData, parse_assertion_auth_data, parse_attestation_auth_data
from app_integrity.apple.receipt import parse_receipt
from app_integrity.errors import AppIntegrityError, InputError

MAX_INPUT_BYTES = 1 << 20
APPLE_NONCE_OID = x509.ObjectIdentifier("1.2.840.113635.100.8.2")
_AAGUID = {b"appattestdevelop": "development", b"appattest" + b"\x00" * 7: "production"}
_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", re.DOTALL)
_B64 = re.compile(r"[A-Za-z0-9+/=_-]+")
_RECEIPT_FIELDS = {
    2: "app id",
    3: "attested certificate",
    4: "client hash",
    5: "token",
    6: "type",
    7: "environment",
    12: "created",
    17: "risk metric",
    19: "not before",
    21: "expires",
}


class Kind(StrEnum):
    ATTESTATION = "apple-attestation"
    ASSERTION = "apple-assertion"
    RECEIPT = "apple-receipt"
    PLAY = "play-integrity-token"
    KEY_CHAIN = "android-key-attestation"


class Status(StrEnum):
    OK = "pass"
    FAIL = "fail"
    NOT_REACHED = "not reached"  # an earlier check failed, so this one never ran
    SKIPPED = "skipped"  # the settings needed for it were not given


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    rows: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: Status
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Report:
    kind: Kind
    sections: tuple[Section, ...]
    checks: tuple[Check, ...] = ()
    error: str | None = None  # the code verification failed with

    @property
    def verified(self) -> bool | None:
        if not self.checks:
            return None
        return self.error is None and all(c.status in (Status.OK, Status.SKIPPED) for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "sections": {s.title: dict(s.rows) for s in self.sections},
            "checks": [{"name": c.name, "status": c.status.value, "detail": c.detail} for c in self.checks],
            "verified": self.verified,
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class VerifyOptions:
    """What ``--verify`` knows about the app and the request. Unset values skip the checks that need them."""

    team_id: str | None = None
    bundle_id: str | None = None
    allow_development: bool = True
    challenge: str | None = None
    challenge_bytes: bytes | None = None  # key attestation: a challenge that is not UTF-8 text
    client_data_hash: bytes | None = None
    key_id: bytes | None = None
    public_key: bytes | None = None  # assertions: the attested key (65-byte point, PEM or DER SPKI)
    previous_counter: int = 0
    package_name: str | None = None
    certificate_sha256: tuple[bytes, ...] = ()
    request_hash: str | None = None
    nonce: str | None = None  # classic Play Integrity requests
    decryption_key: str | None = field(default=None, repr=False)
    verification_key: str | None = field(default=None, repr=False)
    at: datetime | None = None
    apple_trust_roots: tuple[x509.Certificate, ...] | None = None
    android_trust_roots: tuple[x509.Certificate, ...] | None = None

    @property
    def apple_app(self) -> AppleApp | None:
        if self.team_id is None or self.bundle_id is None:
            return None
        return AppleApp(team_id=self.team_id, bundle_id=self.bundle_id, allow_development=self.allow_development)


# --- detection ---


def detect(data: bytes) -> tuple[Kind, Any]:
    """What ``data`` is, and its payload: bytes for CBOR and receipts, the token text, or the list of DER certs."""
    if len(data) > MAX_INPUT_BYTES:
        raise InputError("input.too_large", f"inspect reads at most {MAX_INPUT_BYTES} bytes")
    text = data.strip()
    if text.startswith(b"["):
        return Kind.KEY_CHAIN, _chain_from_json(text)
    if b"-----BEGIN CERTIFICATE-----" in text:
        return Kind.KEY_CHAIN, [base64.b64decode(b"".join(m.split())) for m in _PEM.findall(text)]
    try:
        ascii_text = text.decode("ascii")
    except UnicodeDecodeError:
        return _detect_binary(data)
    parts = ascii_text.split(".")
    if len(parts) in (3, 5) and all(_B64.fullmatch(p) for p in parts if p):
        return Kind.PLAY, ascii_text
    lines = [line.strip() for line in ascii_text.splitlines() if line.strip()]
    if len(lines) > 1:
        return Kind.KEY_CHAIN, [_b64(line) for line in lines]
    if len(lines) == 1 and _B64.fullmatch(lines[0]):
        return _detect_binary(_b64(lines[0]))
    return _detect_binary(data)


def _b64(text: str | bytes) -> bytes:
    value = text.decode("ascii") if isinstance(text, bytes) else text
    value = value.strip().replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError("input.malformed", "not base64") from exc


def _chain_from_json(text: bytes) -> list[bytes]:
    try:
        items = json.loads(text)
    except ValueError as exc:
        raise InputError("input.malformed", "a JSON chain must be a list of base64 certificates") from exc
    if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
        raise InputError("input.malformed", "a JSON chain must be a list of base64 certificates")
    return [_b64(item) for item in items]


def _detect_binary(raw: bytes) -> tuple[Kind, Any]:
    if raw[:1] in (b"\xa2", b"\xa3", b"\xbf"):
        value = _cbor.decode(raw, field="CBOR object", max_bytes=MAX_INPUT_BYTES)
        if isinstance(value, dict) and {"fmt", "attStmt", "authData"} <= set(value):
            return Kind.ATTESTATION, raw
        if isinstance(value, dict) and {"signature", "authenticatorData"} <= set(value):
            return Kind.ASSERTION, raw
        raise InputError("input.malformed", "a CBOR map that is neither an attestation nor an assertion")
    if raw[:1] == b"\x30":
        try:
            x509.load_der_x509_certificate(raw)
        except ValueError:
            return Kind.RECEIPT, raw
        return Kind.KEY_CHAIN, [raw]
    raise InputError("input.malformed", "not an attestation, assertion, receipt, Play Integrity token or chain")


# --- description ---


def inspect(data: bytes, *, verify: VerifyOptions | None = None) -> Report:
    """Detect, decode and (with ``verify``) verify. Malformed input raises a typed error with its code."""
    kind, payload = detect(data)
    if kind is Kind.ATTESTATION:
        return _attestation(payload, verify)
    if kind is Kind.ASSERTION:
        return _assertion(payload, verify)
    if kind is Kind.RECEIPT:
        return _receipt(payload, verify)
    if kind is Kind.PLAY:
        return _play_token(payload, verify)
    return _key_chain(payload, verify)


def _time(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _certificate_rows(der: bytes, title: str) -> Section:
    try:
        certificate = x509.load_der_x509_certificate(der)
    except ValueError:
        # Some factory certificates bend DER; the key attestation loader reads them leniently.
        return _lenient_certificate_rows(der, title)
    key = certificate.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        key_text = f"EC {key.curve.name}"
    elif isinstance(key, rsa.RSAPublicKey):
        key_text = f"RSA {key.key_size}"
    else:
        key_text = type(key).__name__
    return Section(
        title,
        (
            ("subject", certificate.subject.rfc4514_string()),
            ("issuer", certificate.issuer.rfc4514_string()),
            ("serial", format(certificate.serial_number, "x")),
            ("not before", _time(certificate.not_valid_before_utc)),
            ("not after", _time(certificate.not_valid_after_utc)),
            ("public key", key_text),
            ("sha-256", certificate.fingerprint(hashes.SHA256()).hex()),
        ),
    )


def _lenient_certificate_rows(der: bytes, title: str) -> Section:
    certificate = load_android_certificate(der, index=0)
    return Section(
        title,
        (
            ("subject", certificate.subject_common_name or certificate.subject.hex()),
            ("serial", certificate.serial_hex),
            ("not before", _time(certificate.not_before)),
            ("not after", _time(certificate.not_after)),
            ("signature algorithm", certificate.signature_oid),
            ("sha-256", hashlib.sha256(der).hexdigest()),
            ("note", "not strict DER: read leniently"),
        ),
    )


def _auth_data_rows(auth: AuthenticatorData) -> list[tuple[str, str]]:
    rows = [
        ("rpIdHash", auth.rp_id_hash.hex()),
        ("flags", f"0x{auth.flags:02x}"),
        ("counter", str(auth.sign_count)),
    ]
    if auth.aaguid is not None:
        rows.append(("aaguid", repr(auth.aaguid)))
        rows.append(("environment", _AAGUID.get(auth.aaguid, "unknown")))
    if auth.credential_id is not None:
        rows.append(("credentialId (key id)", b64_standard(auth.credential_id)))
    if auth.extensions is not None:
        rows.append(("bundle version (iOS 27)", str(auth.extensions.bundle_version)))
        rows.append(("validation category (iOS 27)", str(auth.extensions.validation_category)))
    return rows


def _steps(
    names: Sequence[tuple[str, frozenset[str]]],
    error: AppIntegrityError | None,
    skipped: frozenset[str] = frozenset(),
    *,
    failing: str | None = None,
) -> tuple[Check, ...]:
    """The verifier's steps in its order: those before the failing one passed, those after never ran.

    The failing step is the first whose codes hold the error's code, or ``failing`` when two steps share a code."""
    checks: list[Check] = []
    failed = False
    for name, codes in names:
        if name in skipped:
            checks.append(Check(name, Status.SKIPPED, "not configured"))
        elif failed:
            checks.append(Check(name, Status.NOT_REACHED))
        elif error is not None and (name == failing if failing is not None else error.code in codes):
            checks.append(Check(name, Status.FAIL, f"{error.code}: {error.message}"))
            failed = True
        else:
            checks.append(Check(name, Status.OK))
    if error is not None and not failed:
        # A code outside the listed steps (input, configuration): shown first, the rest did not run.
        checks = [Check("decode", Status.FAIL, f"{error.code}: {error.message}")] + [
            Check(c.name, Status.NOT_REACHED if c.status is Status.OK else c.status) for c in checks
        ]
    return tuple(checks)


def _run(action: Callable[[], object]) -> AppIntegrityError | None:
    try:
        action()
    except AppIntegrityError as error:
        return error
    return None


_KEY_ID_STEP = "5. SHA-256(public key) = key id"
_DECODE = frozenset({"input.malformed", "input.too_large", "apple.unsupported_format"})
_ATTESTATION_STEPS = (
    (
        "decode the attestation object and authenticator data",
        _DECODE | {"apple.authenticator_data_invalid", "apple.extension_invalid"},
    ),
    (
        "1. certificate chain to Apple's App Attest root",
        frozenset({"apple.certificate_chain_invalid", "apple.certificate_expired"}),
    ),
    ("2-4. nonce = SHA-256(authData || clientDataHash)", frozenset({"apple.nonce_mismatch"})),
    (_KEY_ID_STEP, frozenset({"apple.key_id_mismatch"})),
    ("6. rpIdHash = SHA-256(App ID)", frozenset({"apple.app_id_mismatch"})),
    ("7. counter = 0", frozenset({"apple.counter_not_zero"})),
    ("8. aaguid names an accepted environment", frozenset({"apple.wrong_environment"})),
    ("9. credentialId = key id", frozenset({"apple.key_id_mismatch"})),
    ("credential public key = certified key", frozenset({"apple.public_key_mismatch"})),
    ("receipt is Apple's, for this app and key", frozenset({"apple.receipt_invalid", "apple.receipt_expired"})),
)


def _attestation(raw: bytes, verify: VerifyOptions | None) -> Report:
    value = _cbor.decode(raw, field="attestation", max_bytes=MAX_INPUT_BYTES)
    statement = value.get("attStmt")
    if not isinstance(value.get("authData"), bytes) or not isinstance(statement, dict):
        raise InputError("input.malformed", "authData is not a byte string or attStmt is not a map")
    auth = parse_attestation_auth_data(value["authData"])
    x5c = statement.get("x5c", [])
    receipt = statement.get("receipt", b"")
    if not isinstance(x5c, list) or not all(isinstance(c, bytes) for c in x5c) or not isinstance(receipt, bytes):
        raise InputError("input.malformed", "attStmt.x5c must be byte strings and attStmt.receipt a byte string")
    sections = [
        Section(
            "attestation",
            (("fmt", str(value.get("fmt"))), ("certificates", str(len(x5c))), ("receipt bytes", str(len(receipt)))),
        )
    ]
    sections.append(Section("authenticator data", tuple(_auth_data_rows(auth))))
    for index, der in enumerate(x5c):
        section = _certificate_rows(der, "credential certificate" if index == 0 else f"certificate {index}")
        if index == 0:
            nonce = _extension_bytes(der, APPLE_NONCE_OID)
            point = _leaf_point(der)
            extra = [("nonce (1.2.840.113635.100.8.2)", nonce.hex() if nonce else "absent")]
            if point is not None:
                extra.append(("SHA-256(public key)", b64_standard(hashlib.sha256(point).digest())))
            section = Section(section.title, section.rows + tuple(extra))
        sections.append(section)
    if receipt:
        sections.append(_receipt_section(receipt))
    if verify is None:
        return Report(Kind.ATTESTATION, tuple(sections))
    app = verify.apple_app
    key_id = verify.key_id or auth.credential_id or b""
    error: AppIntegrityError | None
    if app is None:
        error = InputError("input.invalid_argument", "--verify needs --team-id and --bundle-id")
    elif verify.challenge is None and verify.client_data_hash is None:
        error = InputError("input.invalid_argument", "--verify needs --challenge or --client-data-hash")
    else:
        error = _run(
            lambda: verify_attestation(
                raw,
                key_id=key_id,
                app=app,
                challenge=verify.challenge,
                client_data_hash=verify.client_data_hash,
                now=verify.at,
                trust_roots=verify.apple_trust_roots,
            )
        )
    # Steps 5 and 9 both raise apple.key_id_mismatch; step 9 speaks of the credentialId.
    failing = None
    if error is not None and error.code == "apple.key_id_mismatch":
        failing = "9. credentialId = key id" if "credentialId" in error.message else _KEY_ID_STEP
    return Report(Kind.ATTESTATION, tuple(sections), _steps(_ATTESTATION_STEPS, error, failing=failing), _code(error))


def _code(error: AppIntegrityError | None) -> str | None:
    return None if error is None else error.code


def _extension_bytes(der: bytes, oid: x509.ObjectIdentifier) -> bytes | None:
    certificate = x509.load_der_x509_certificate(der)
    try:
        extension = certificate.extensions.get_extension_for_oid(oid)
    except (x509.ExtensionNotFound, x509.DuplicateExtension):
        return None
    value = extension.value
    return value.value if isinstance(value, x509.UnrecognizedExtension) else None


def _leaf_point(der: bytes) -> bytes | None:
    key = x509.load_der_x509_certificate(der).public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        return key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return None


_ASSERTION_STEPS = (
    (
        "decode the assertion and authenticator data",
        _DECODE | {"apple.authenticator_data_invalid", "apple.extension_invalid"},
    ),
    ("3. signature over SHA-256(authData || clientDataHash)", frozenset({"apple.signature_invalid"})),
    ("4. rpIdHash = SHA-256(App ID)", frozenset({"apple.app_id_mismatch"})),
    ("5. counter greater than the stored one", frozenset({"apple.counter_not_increasing"})),
)


def _assertion(raw: bytes, verify: VerifyOptions | None) -> Report:
    value = _cbor.decode(raw, field="assertion", max_bytes=MAX_INPUT_BYTES)
    auth_raw, signature = value.get("authenticatorData"), value.get("signature")
    if not isinstance(auth_raw, bytes) or not isinstance(signature, bytes):
        raise InputError("input.malformed", "authenticatorData and signature must be byte strings")
    auth = parse_assertion_auth_data(auth_raw)
    sections = (
        Section("assertion", (("signature", f"{len(signature)} bytes DER ECDSA"), ("signature hex", signature.hex()))),
        Section("authenticator data", tuple(_auth_data_rows(auth))),
    )
    if verify is None:
        return Report(Kind.ASSERTION, sections)
    app = verify.apple_app
    error: AppIntegrityError | None
    if app is None or verify.public_key is None:
        error = InputError("input.invalid_argument", "--verify needs --team-id, --bundle-id and --public-key")
    elif verify.challenge is None and verify.client_data_hash is None:
        error = InputError("input.invalid_argument", "--verify needs --client-data (or --client-data-hash)")
    else:
        public_key = _public_point(verify.public_key)
        error = _run(
            lambda: verify_assertion(
                raw,
                app=app,
                public_key=public_key,
                previous_counter=verify.previous_counter,
                client_data=verify.challenge,
                client_data_hash=verify.client_data_hash,
            )
        )
    return Report(Kind.ASSERTION, sections, _steps(_ASSERTION_STEPS, error), _code(error))


def _public_point(value: bytes) -> bytes:
    if value.lstrip().startswith(b"-----BEGIN"):
        key = load_pem_public_key(value)
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise InputError("input.malformed", "the public key is not an EC key")
        return key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return value


def _receipt_section(raw: bytes) -> Section:
    parsed = parse_receipt(raw)
    rows: list[tuple[str, str]] = []
    for number, label in _RECEIPT_FIELDS.items():
        content = parsed.fields.get(number)
        if content is None:
            continue
        if number == 3:
            point = _leaf_point(content)
            shown = f"certificate, key id {b64_standard(hashlib.sha256(point).digest())}" if point else "certificate"
        elif number == 4:
            shown = content.hex()
        else:
            try:
                shown = content.decode("utf-8")
            except UnicodeDecodeError:
                shown = content.hex()
        rows.append((f"{number} {label}", shown))
    return Section("receipt", tuple(rows))


_RECEIPT_STEPS = (
    ("decode the receipt (PKCS #7, ASN.1 fields)", _DECODE),
    (
        "1-2. signed by Apple, chain to Apple Root CA G3",
        frozenset({"apple.receipt_invalid", "apple.certificate_chain_invalid", "apple.certificate_expired"}),
    ),
    ("4. field 2 is the App ID", frozenset({"apple.app_id_mismatch"})),
    ("6. field 3 holds the attested key", frozenset({"apple.public_key_mismatch"})),
    ("not expired at the verification time", frozenset({"apple.receipt_expired"})),
)


def _receipt(raw: bytes, verify: VerifyOptions | None) -> Report:
    section = _receipt_section(raw)
    signer = parse_receipt(raw).fields.get(3)
    sections = (section,) + ((_certificate_rows(signer, "attested certificate (field 3)"),) if signer else ())
    if verify is None:
        return Report(Kind.RECEIPT, sections)
    app = verify.apple_app
    error: AppIntegrityError | None
    if app is None:
        error = InputError("input.invalid_argument", "--verify needs --team-id and --bundle-id")
    else:
        point = verify.public_key or (_leaf_point(signer) if signer else None) or b""
        key = _public_point(point)
        error = _run(
            lambda: verify_receipt(raw, app=app, public_key=key, now=verify.at, trust_roots=verify.apple_trust_roots)
        )
    return Report(Kind.RECEIPT, sections, _steps(_RECEIPT_STEPS, error), _code(error))


def _play_token(token: str, verify: VerifyOptions | None) -> Report:
    parts = token.split(".")
    headers = []
    first = _jose_header(parts[0])
    headers.append(("form", "JWE (classic token, encrypted)" if len(parts) == 5 else "JWS (signed)"))
    headers.extend((f"header {k}", json.dumps(v)) for k, v in first.items())
    sections = [Section("token", tuple(headers))]
    can_decode = verify is not None and verify.decryption_key and verify.verification_key and verify.package_name
    if not can_decode:
        sections.append(
            Section(
                "verdict",
                (("not decoded", "Standard tokens only Google can decode; classic ones need the app's keys"),),
            )
        )
        return Report(Kind.PLAY, tuple(sections))
    assert verify is not None
    assert verify.decryption_key is not None
    assert verify.verification_key is not None
    assert verify.package_name is not None
    decoder = LocalKeyDecoder(decryption_key=verify.decryption_key, verification_key=verify.verification_key)
    verdict: IntegrityVerdict | None = None
    steps: list[Check] = []
    try:
        verdict = decoder.decode_sync(token, package_name=verify.package_name)
        steps.append(Check("decrypt (A256KW/A256GCM) and verify (ES256) with the app's keys", Status.OK))
    except AppIntegrityError as error:
        steps.append(
            Check(
                "decrypt (A256KW/A256GCM) and verify (ES256) with the app's keys",
                Status.FAIL,
                f"{error.code}: {error.message}",
            )
        )
        return Report(Kind.PLAY, tuple(sections), tuple(steps), error.code)
    sections.append(_verdict_section(verdict))
    if not verify.certificate_sha256 or (verify.request_hash is None and verify.nonce is None):
        needs = "needs --certificate-sha256 and --request-hash (or --nonce)"
        steps.append(Check("request details and verdicts", Status.SKIPPED, needs))
        return Report(Kind.PLAY, tuple(sections), tuple(steps))
    app = AndroidApp(package_name=verify.package_name, certificate_sha256=verify.certificate_sha256)
    try:
        result = evaluate_verdict(
            verdict, app=app, request_hash=verify.request_hash, nonce=verify.nonce, now=resolve_now(verify.at)
        )
    except AppIntegrityError as error:
        steps.append(Check("request details match this request", Status.FAIL, f"{error.code}: {error.message}"))
        return Report(Kind.PLAY, tuple(sections), tuple(steps), error.code)
    steps.append(Check("request details match this request", Status.OK))
    steps.append(Check(f"device tier: {result.tier}", Status.OK if result.tier != "none" else Status.FAIL))
    for code in result.failed:
        steps.append(Check(code, Status.FAIL))
    return Report(Kind.PLAY, tuple(sections), tuple(steps))


def _jose_header(part: str) -> dict[str, Any]:
    try:
        header = json.loads(_b64(part))
    except (InputError, ValueError) as exc:
        raise InputError("input.malformed", "the token's JOSE header is not base64url JSON") from exc
    if not isinstance(header, dict):
        raise InputError("input.malformed", "the token's JOSE header is not a JSON object")
    return header


def _verdict_section(verdict: IntegrityVerdict) -> Section:
    details = verdict.request_details
    rows = [
        ("package", details.request_package_name),
        ("timestamp", str(details.timestamp_millis)),
        ("requestHash", str(details.request_hash)),
        ("nonce", str(details.nonce)),
        ("testing response", str(verdict.is_testing_response)),
    ]
    if verdict.app_integrity is not None:
        rows.append(("app recognition", verdict.app_integrity.app_recognition_verdict))
        rows.append(("app version", str(verdict.app_integrity.version_code)))
    if verdict.device_integrity is not None:
        rows.append(("device recognition", ", ".join(verdict.device_integrity.device_recognition_verdict) or "none"))
        rows.append(("sdk version", str(verdict.device_integrity.sdk_version)))
    if verdict.account_details is not None:
        rows.append(("licensing", verdict.account_details.app_licensing_verdict))
    if verdict.environment_details is not None:
        rows.append(("play protect", str(verdict.environment_details.play_protect_verdict)))
        rows.append(("apps detected", str(verdict.environment_details.apps_detected)))
    return Section("verdict", tuple(rows))


_CHAIN_STEPS = (
    ("decode the certificates", _DECODE),
    (
        "chain ends at a pinned attestation root",
        frozenset({"android.root_not_trusted", "android.software_root", "android.chain_incomplete"}),
    ),
    (
        "each certificate signed by the next",
        frozenset({"android.chain_broken", "android.signature_invalid", "android.unsupported_algorithm"}),
    ),
    ("CA certificates valid at the verification time", frozenset({"android.certificate_expired"})),
    ("KeyDescription only on the leaf (or an ATTEST_KEY)", frozenset({"android.extension_misplaced"})),
    ("leaf has a KeyDescription", frozenset({"android.key_description_missing", "android.key_description_malformed"})),
    ("attestationChallenge = the issued challenge", frozenset({"android.challenge_mismatch"})),
    (
        "attested app = this package and signer",
        frozenset({"android.package_mismatch", "android.signer_mismatch", "android.app_version_too_low"}),
    ),
)


def _key_chain(chain: list[bytes], verify: VerifyOptions | None) -> Report:
    sections: list[Section] = []
    for index, der in enumerate(chain):
        sections.append(_certificate_rows(der, "leaf" if index == 0 else f"certificate {index}"))
    leaf = load_android_certificate(chain[0], index=0)
    if leaf.key_description is not None:
        try:
            sections.append(_description_section(parse_key_description(leaf.key_description)))
        except AppIntegrityError as undecodable:
            detail = f"{undecodable.code}: {undecodable.message}"
            sections.append(Section("KeyDescription", (("not decoded", detail),)))
    if verify is None:
        return Report(Kind.KEY_CHAIN, tuple(sections))
    app = (
        AndroidApp(package_name=verify.package_name, certificate_sha256=verify.certificate_sha256)
        if verify.package_name and verify.certificate_sha256
        else None
    )
    skipped = set()
    challenge = verify.challenge_bytes if verify.challenge_bytes is not None else verify.challenge
    if challenge is None:
        skipped.add("attestationChallenge = the issued challenge")
    if app is None:
        skipped.add("attested app = this package and signer")
    outcome: list[Any] = []
    error = _run(
        lambda: outcome.append(
            verify_key_attestation(
                chain, challenge=challenge, app=app, now=verify.at, trust_roots=verify.android_trust_roots
            )
        )
    )
    checks = list(_steps(_CHAIN_STEPS, error, frozenset(skipped)))
    if outcome:
        result = outcome[0]
        sections.append(
            Section(
                "verification",
                (
                    ("root", result.root),
                    ("provisioning", result.provisioning),
                    ("tier", str(result.tier)),
                    ("key id", result.key_id),
                    ("tolerated", ", ".join(result.tolerated) or "none"),
                ),
            )
        )
        checks.append(Check(f"posture: tier {result.tier}", Status.OK if str(result.tier) != "none" else Status.FAIL))
        checks.extend(Check(code, Status.FAIL, "posture") for code in result.failed)
    return Report(Kind.KEY_CHAIN, tuple(sections), tuple(checks), _code(error))


def _description_section(description: KeyDescription) -> Section:
    rows: list[tuple[str, str]] = [
        ("attestation version", str(description.attestation_version)),
        ("attestation security level", _enum_name(SecurityLevel, description.attestation_security_level)),
        ("keymint version", str(description.keymint_version)),
        ("keymint security level", _enum_name(SecurityLevel, description.keymint_security_level)),
        ("challenge", _printable(description.attestation_challenge)),
    ]
    for scope, authorizations in (("hw", description.hardware_enforced), ("sw", description.software_enforced)):
        for name in (
            "algorithm",
            "key_size",
            "ec_curve",
            "origin",
            "os_version",
            "os_patch_level",
            "vendor_patch_level",
            "boot_patch_level",
        ):
            value = getattr(authorizations, name, None)
            if value is not None:
                rows.append((f"{scope} {name}", str(value)))
        root = authorizations.root_of_trust
        if root is not None:
            rows.append((f"{scope} verified boot state", _enum_name(VerifiedBootState, root.verified_boot_state)))
            rows.append((f"{scope} device locked", str(root.device_locked)))
            rows.append((f"{scope} verified boot key", root.verified_boot_key.hex()))
        application = authorizations.attestation_application_id
        if application is not None:
            rows.extend((f"{scope} package", f"{p.name} (version {p.version})") for p in application.packages)
            rows.extend((f"{scope} signer sha-256", d.hex()) for d in application.signature_digests)
    return Section("KeyDescription", tuple(rows))


def _enum_name(enum: type[IntEnum], value: int) -> str:
    try:
        return enum(value).name
    except ValueError:
        return str(value)


def _printable(value: bytes) -> str:
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return value.hex()
    return text if text.isprintable() else value.hex()
