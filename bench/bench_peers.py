"""Side by side with the Python peers, on the same inputs, in one run: our per-op time, the cryptographic floor,
and ``pyattest`` (App Attest attestation and assertion), with the ratios ours / floor and peer / ours.

Run it in its own environment, where the peers are installed (``make bench-peers``): they are never dependencies
of the package. Play Integrity is compared on a classic token decoded locally (the only form pyattest handles).
Inputs come from the emulated App Attest service, made now (pyattest validates the chain at the
current time and takes a custom root), so both verifiers check the same bytes against the same root.

What the peer skips is printed next to its row: an assertion verifier that does not check the counter or the App
ID accepts replays and other apps' assertions (tests/attacks/ has both as attacks we refuse).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import platform
from importlib import import_module
from typing import Any

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap

from app_integrity.android import LocalKeyDecoder, evaluate_verdict
from app_integrity.android.play.jose import decrypt_jwe
from app_integrity.apple import AppleApp, verify_assertion, verify_attestation
from app_integrity.testing.android.play import PROFILES, EmulatedPlayIntegrity
from app_integrity.testing.apple import EmulatedAppAttestService, EmulatedAppleCA
from bench.bench_apple import paired

APP = AppleApp(team_id="TEAMID1234", bundle_id="com.example.app")
CHALLENGE = "bench-challenge"
CLIENT_DATA = "app-integrity:v1\nbench\nPOST\n/api\n47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"
ASSERTION_SKIPS = "skips: counter (replays pass), App ID (other apps' assertions pass)"
ATTESTATION_SKIPS = "skips: receipt, COSE key = certificate key, fmt; validates the whole chain each call"
PLAY_SKIPS = (
    "skips: timestamp (stale tokens pass), testing responses, JOSE alg pinning (python-jose reads alg from the token)"
)
PACKAGE = "com.example.app"
NONCE = b"nonce-of-this-request-0123456789"


def _b64url(segment: str | bytes) -> bytes:
    text = segment if isinstance(segment, bytes) else segment.encode()
    return base64.urlsafe_b64decode(text + b"=" * (-len(text) % 4))


def _pyattest() -> Any | None:
    try:
        return import_module("pyattest")
    except ImportError:
        return None


def main() -> None:
    ca = EmulatedAppleCA.generate()
    device = EmulatedAppAttestService(ca=ca, app=APP)
    key_id = device.generate_key()
    attestation = base64.b64decode(device.attest_key_async(key_id, CHALLENGE))
    assertion = base64.b64decode(device.generate_assertion_async(key_id, CLIENT_DATA))
    attested = verify_attestation(attestation, key_id=key_id, app=APP, challenge=CHALLENGE, trust_roots=ca.trust_roots)
    public_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), attested.public_key)
    ecdsa = ec.ECDSA(hashes.SHA256())

    decoded = cbor2.loads(assertion)
    client_hash = hashlib.sha256(CLIENT_DATA.encode()).digest()
    nonce = hashlib.sha256(decoded["authenticatorData"] + client_hash).digest()
    x5c = cbor2.loads(attestation)["attStmt"]["x5c"]
    leaf = x509.load_der_x509_certificate(x5c[0])
    intermediate_key = ca.attestation_intermediate.certificate.public_key()
    assert isinstance(intermediate_key, ec.EllipticCurvePublicKey)

    def assertion_floor() -> None:
        public_key.verify(decoded["signature"], nonce, ecdsa)

    def assertion_ours() -> None:
        verify_assertion(
            assertion, app=APP, public_key=attested.public_key, previous_counter=0, client_data=CLIENT_DATA
        )

    def attestation_floor() -> None:
        intermediate_key.verify(leaf.signature, leaf.tbs_certificate_bytes, ecdsa)

    def attestation_ours() -> None:
        verify_attestation(attestation, key_id=key_id, app=APP, challenge=CHALLENGE, trust_roots=ca.trust_roots)

    # Play Integrity, classic token decoded locally: JWE (A256KW, A256GCM) around a JWS (ES256), then the verdict.
    play = EmulatedPlayIntegrity()
    app = play.register_app(PACKAGE)
    nonce_text = base64.urlsafe_b64encode(NONCE).decode()
    token = play.mint_classic(PACKAGE, nonce=nonce_text, profile=PROFILES["genuine"])
    decoder = LocalKeyDecoder(decryption_key=app.decryption_key, verification_key=app.verification_key)
    android_app = app.android_app()
    kek = app.decryption_key_bytes
    verification_key = app.signing_key.public_key()
    protected, wrapped, iv, ciphertext, tag = (_b64url(part) for part in token.split("."))
    aad = token.split(".")[0].encode()
    signed = decrypt_jwe(token, kek)
    jws_header, jws_payload, jws_signature = signed.split(b".")
    r, s_ = int.from_bytes(_b64url(jws_signature)[:32], "big"), int.from_bytes(_b64url(jws_signature)[32:], "big")
    der_signature = encode_dss_signature(r, s_)
    del protected

    def play_floor() -> None:
        cek = aes_key_unwrap(kek, wrapped)
        AESGCM(cek).decrypt(iv, ciphertext + tag, aad)
        verification_key.verify(der_signature, jws_header + b"." + jws_payload, ecdsa)

    def play_ours() -> None:
        verdict = decoder.decode_sync(token, package_name=PACKAGE)
        evaluate_verdict(verdict, app=android_app, nonce=nonce_text)

    rows: list[dict[str, Any]] = []
    ours_assertion, floor_assertion = paired(assertion_ours, assertion_floor, runs=200, repeats=30)
    ours_attestation, floor_attestation = paired(attestation_ours, attestation_floor, runs=20, repeats=30)
    ours_play, floor_play = paired(play_ours, play_floor, runs=100, repeats=30)

    peer = _pyattest()
    peer_assertion = peer_attestation = peer_play = None
    version = "not installed"
    if peer is not None:
        from pyattest.assertion import Assertion
        from pyattest.attestation import Attestation
        from pyattest.configs.apple import AppleConfig

        version = getattr(import_module("pyattest.__version__"), "__version__", "?")
        root_pem = ca.attestation_root.certificate.public_bytes(serialization.Encoding.PEM)
        config = AppleConfig(key_id=base64.b64decode(key_id), app_id=APP.app_id, production=True, root_ca=root_pem)

        def assertion_peer() -> None:
            Assertion(assertion, client_hash, public_key, config).verify()

        loop = asyncio.new_event_loop()

        def attestation_peer() -> None:
            loop.run_until_complete(Attestation(attestation, CHALLENGE.encode(), config).verify())

        from pyattest.configs.google_play_integrity_api import GooglePlayIntegrityApiConfig

        play_config = GooglePlayIntegrityApiConfig(
            decryption_key=app.decryption_key,
            verification_key=app.verification_key,
            apk_package_name=PACKAGE,
            production=True,
            verify_code_signature_hex=[app.certificate_sha256.hex()],
        )

        def play_peer() -> None:
            loop.run_until_complete(Attestation(token, NONCE, play_config).verify())

        peer_assertion, _ = paired(assertion_peer, assertion_floor, runs=200, repeats=30)
        peer_attestation, _ = paired(attestation_peer, attestation_floor, runs=10, repeats=15)
        peer_play, _ = paired(play_peer, play_floor, runs=100, repeats=30)
        loop.close()

    for name, ours, floor, peer_time, skips in (
        ("App Attest assertion", ours_assertion, floor_assertion, peer_assertion, ASSERTION_SKIPS),
        ("App Attest attestation", ours_attestation, floor_attestation, peer_attestation, ATTESTATION_SKIPS),
        ("Play Integrity (classic)", ours_play, floor_play, peer_play, PLAY_SKIPS),
    ):
        rows.append(
            {
                "verifier": name,
                "ours_us": round(ours * 1e6, 1),
                "floor_us": round(floor * 1e6, 1),
                "ours_over_floor": round(ours / floor, 2),
                "pyattest_us": round(peer_time * 1e6, 1) if peer_time else None,
                "pyattest_over_ours": round(peer_time / ours, 2) if peer_time else None,
                "pyattest_skips": skips,
            }
        )

    print(
        f"Python peers, same inputs (pyattest {version}; "
        f"{platform.python_implementation()} {platform.python_version()})"
    )
    print(f"{'verifier':24} {'ours':>10} {'floor':>10} {'ours/floor':>10} {'pyattest':>10} {'peer/ours':>9}")
    for row in rows:
        peer_text = f"{row['pyattest_us']:>8} us" if row["pyattest_us"] else f"{'-':>10}"
        ratio = f"{row['pyattest_over_ours']:>8}x" if row["pyattest_over_ours"] else f"{'-':>9}"
        print(
            f"{row['verifier']:24} {row['ours_us']:>7} us {row['floor_us']:>7} us {row['ours_over_floor']:>9}x "
            f"{peer_text} {ratio}   pyattest {row['pyattest_skips']}"
        )
    if peer is None:
        print("pyattest is not installed here: run `make bench-peers` for the side-by-side figures")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
