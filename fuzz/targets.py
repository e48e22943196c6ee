"""What each harness feeds its input to, what it may raise, and where its seed corpus comes from.

A target's ``run(data)`` returns normally or raises the allowed error (``VerificationError``; ``ConfigError`` for
the configuration): anything else escapes to the fuzzer, which reports it as a crash with the input that caused it.
Seeds are built at run time from the real-device captures in ``../shared`` (never copied into the repository) and
from the emulators, so that the fuzzer starts from inputs that reach deep into each parser.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cbor2

from app_integrity.android import AndroidApp, LocalKeyDecoder, verify_key_attestation
from app_integrity.android.keyattestation import parse_key_description
from app_integrity.android.play import parse_verdict
from app_integrity.apple import AppleApp, verify_assertion, verify_attestation, verify_receipt
from app_integrity.apple.authdata import parse_assertion_auth_data, parse_attestation_auth_data
from app_integrity.apple.receipt import parse_receipt
from app_integrity.config import parse_config
from app_integrity.errors import AppIntegrityError, ConfigError, VerificationError
from app_integrity.header import parse_header
from app_integrity.policy import Platform, Tier
from app_integrity.sessions import SessionKeyring, new_session_key
from app_integrity.testing.android.keystore import EmulatedKeyStore
from app_integrity.testing.android.play import PROFILES, EmulatedAndroidDevice, EmulatedPlayIntegrity
from app_integrity.testing.apple import EmulatedAppAttestService, EmulatedAppleCA
from app_integrity.testing.protocol import android_header, ios_header

REPO = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 1, 1, tzinfo=UTC)
PACKAGE = "com.example.app"
APPLE_APP = AppleApp(team_id="TEAMID1234", bundle_id="com.example.app", allow_development=True)
KEY_ID = base64.b64encode(b"\x01" * 32).decode()
POINT = bytes.fromhex(
    "0437c404fa2bbf8fbcf4ee7080573d5fa80c4f6cc3a22f7db43af92c394e7cd1c8"
    "80c95ab422972625e8e673af1bda2b096654e9b602895601f925bb5941c53082"
)


def shared_dir() -> Path | None:
    configured = os.environ.get("APP_INTEGRITY_SHARED")
    folder = Path(configured) if configured else REPO.parent / "shared"
    return folder if folder.is_dir() else None


def _vectors(subdir: str) -> Iterator[dict[str, object]]:
    folder = shared_dir()
    if folder is None:
        return
    for path in sorted((folder / "vectors" / subdir).glob("*.json")):
        yield json.loads(path.read_text(encoding="utf-8"))


def _strings(value: object) -> list[str]:
    return [str(item) for item in value] if isinstance(value, list) else []


def _field(subdir: str, name: str) -> list[bytes]:
    return [base64.b64decode(str(v[name])) for v in _vectors(subdir) if name in v]


# --- emulated material, made once per process ------------------------------------------------------------------

_CA = EmulatedAppleCA.generate(now=NOW)
_DEVICE = EmulatedAppAttestService(ca=_CA, app=APPLE_APP, bundle_version="3.1", validation_category=1)
_DEVICE_KEY = _DEVICE.generate_key()
_PLAY = EmulatedPlayIntegrity()
_PLAY_APP = _PLAY.register_app(PACKAGE)
_DECODER = LocalKeyDecoder(decryption_key=_PLAY_APP.decryption_key, verification_key=_PLAY_APP.verification_key)
_KEYSTORE = EmulatedKeyStore(now=NOW)
_ANDROID_APP = AndroidApp(PACKAGE, ["ab" * 32])
_KEYRING = SessionKeyring([new_session_key(NOW, lifetime=timedelta(days=1))], issuer="fuzz")


def _emulated_attestations() -> list[bytes]:
    return [base64.b64decode(_DEVICE.attest_key_async(_DEVICE_KEY, "challenge", now=NOW))]


def _emulated_assertions() -> list[bytes]:
    return [base64.b64decode(_DEVICE.generate_assertion_async(_DEVICE_KEY, "client data"))]


def _auth_data_seeds() -> list[bytes]:
    objects = _field("apple", "attestation_object_b64") + _emulated_attestations()
    assertions = _field("apple", "assertion_b64") + _emulated_assertions()
    return [cbor2.loads(o)["authData"] for o in objects] + [cbor2.loads(a)["authenticatorData"] for a in assertions]


def _receipt_seeds() -> list[bytes]:
    attestations = _field("apple", "attestation_object_b64") + _emulated_attestations()
    return _field("apple", "receipt_b64") + [cbor2.loads(o)["attStmt"]["receipt"] for o in attestations]


def _chains() -> list[list[bytes]]:
    real = [[base64.b64decode(c) for c in _strings(v["chain_b64"])] for v in _vectors("android-key")]
    emulated = [
        list(_KEYSTORE.generate_key(challenge="c", package_name=PACKAGE, signing_digests=["ab" * 32]).chain_der),
        list(
            _KEYSTORE.generate_key(
                challenge="c", package_name=PACKAGE, signing_digests=["ab" * 32], attest_key=True
            ).chain_der
        ),
    ]
    return real + emulated


def split_der(data: bytes) -> list[bytes]:
    """Cut a concatenation of DER values into its parts (the chain harness's input format); a tail that is not
    a whole DER value is kept as the last part, so malformed certificates are fuzzed too."""
    parts: list[bytes] = []
    offset = 0
    while offset < len(data) and len(parts) < 16:
        start = offset
        if len(data) - offset < 2:
            parts.append(data[offset:])
            break
        first = data[offset + 1]
        offset += 2
        if first & 0x80:
            count = first & 0x7F
            length = int.from_bytes(data[offset : offset + count], "big") if count <= 4 else len(data)
            offset += count
        else:
            length = first
        offset = min(len(data), offset + length)
        parts.append(data[start:offset])
    return parts


def _key_descriptions() -> list[bytes]:
    from cryptography import x509

    found: list[bytes] = []
    for chain in _chains():
        try:
            leaf = x509.load_der_x509_certificate(chain[0])
            extension = leaf.extensions.get_extension_for_oid(x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.1.17"))
        except (ValueError, x509.ExtensionNotFound):
            continue
        if isinstance(extension.value, x509.UnrecognizedExtension):
            found.append(extension.value.value)
    return found


def _classic_tokens() -> list[bytes]:
    return [
        _PLAY.mint_classic(PACKAGE, nonce="bm9uY2UtMDEyMzQ1Njc4OQ", profile=profile, now=NOW).encode()
        for profile in PROFILES.values()
    ]


def _verdicts() -> list[bytes]:
    return [
        json.dumps(_PLAY.payload(PACKAGE, profile, request_hash="h" * 43, now=NOW)).encode()
        for profile in PROFILES.values()
    ]


def _headers() -> list[bytes]:
    device = EmulatedAndroidDevice(_PLAY, PACKAGE)
    device.prepare_integrity_token_provider("1")
    return [
        ios_header(_DEVICE, _DEVICE_KEY, challenge="c-1", method="POST", path="/a?b=c", body=b"{}").encode(),
        android_header(device, challenge="c-2", method="GET", path="/").encode(),
        b'v=1, session="eyJhbGciOiJFUzI1NiJ9.e30.c2ln"',
    ]


def _configs() -> list[bytes]:
    return [
        b'[server]\ndata_dir = "d"\n[apple]\nteam_id = "ABCDE12345"\nbundle_ids = ["a.b"]\n'
        b'[policy.default]\nmode = "enforce"\nallow = "device"\nlimit = "basic"\n'
        b'[policy.actions.redeem]\nallow = {ios = "strong", android = "device"}\nrequire = ["app"]\n'
    ]


def _sessions() -> list[bytes]:
    issued = _KEYRING.issue(
        subject="s", platform=Platform.IOS, key_id=b"\x01" * 32, tier=Tier.STRONG, now=NOW, ttl=timedelta(minutes=5)
    )
    return [issued.token.encode()]


# --- the targets ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    run: Callable[[bytes], object]
    seeds: Callable[[], list[bytes]]
    allowed: type[AppIntegrityError] = VerificationError

    def test_one_input(self, data: bytes) -> None:
        try:
            self.run(data)
        except self.allowed:
            return


def _text(data: bytes) -> str:
    # What arrives over HTTP or from a file is text already: undecodable bytes become U+FFFD, as a server's would.
    return data.decode("utf-8", "replace")


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target(
            "apple_attestation",
            lambda d: verify_attestation(d, key_id=KEY_ID, app=APPLE_APP, challenge="c", now=NOW),
            lambda: _field("apple", "attestation_object_b64") + _emulated_attestations(),
        ),
        Target(
            "apple_assertion",
            lambda d: verify_assertion(d, app=APPLE_APP, public_key=POINT, previous_counter=0, client_data="c"),
            lambda: _field("apple", "assertion_b64") + _emulated_assertions(),
        ),
        Target(
            "apple_authdata",
            lambda d: (parse_attestation_auth_data(d), parse_assertion_auth_data(d)),
            _auth_data_seeds,
        ),
        Target(
            "apple_receipt",
            lambda d: (parse_receipt(d), verify_receipt(d, app=APPLE_APP, public_key=POINT, now=NOW)),
            _receipt_seeds,
        ),
        Target("play_token", lambda d: _DECODER.decode_sync(d, package_name=PACKAGE), _classic_tokens),
        Target("play_verdict", parse_verdict, _verdicts),
        Target("key_description", parse_key_description, _key_descriptions),
        Target(
            "key_attestation_chain",
            lambda d: verify_key_attestation(
                split_der(d), challenge="c", app=_ANDROID_APP, now=NOW, trust_roots=[_KEYSTORE.root_certificate]
            ),
            lambda: [b"".join(chain) for chain in _chains()],
        ),
        Target("header", parse_header, _headers),
        Target("session", lambda d: _KEYRING.verify(_text(d), NOW), _sessions),
        Target(
            "config",
            lambda d: parse_config(_text(d), base_dir=Path("/nonexistent-fuzz-dir"), environ={}),
            _configs,
            ConfigError,
        ),
    )
}
