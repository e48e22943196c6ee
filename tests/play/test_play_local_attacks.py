"""The local decoder against malformed, truncated, oversized, re-algorithmed and wrongly keyed tokens."""

from __future__ import annotations

import base64
import json
import secrets

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from joserfc import jwe, jws
from joserfc.jwk import ECKey, OctKey

from app_integrity.android import LocalKeyDecoder
from app_integrity.errors import ConfigError, InputError, PlayIntegrityError
from app_integrity.testing.android.play import PROFILES, EmulatedApp, EmulatedPlayIntegrity

PACKAGE = "com.example.app"
NONCE = "bm9uY2Utb2YtdGhpcy1yZXF1ZXN0"


def _decoder(app: EmulatedApp) -> LocalKeyDecoder:
    return LocalKeyDecoder(decryption_key=app.decryption_key, verification_key=app.verification_key)


def _payload(play: EmulatedPlayIntegrity) -> bytes:
    return json.dumps(play.payload(PACKAGE, PROFILES["genuine"], nonce=NONCE)).encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _code(decoder: LocalKeyDecoder, token: str) -> str:
    with pytest.raises((PlayIntegrityError, InputError)) as caught:
        decoder.decode_sync(token, package_name=PACKAGE)
    return caught.value.code


@pytest.fixture
def token(play: EmulatedPlayIntegrity) -> str:
    return play.mint_classic(PACKAGE, nonce=NONCE, profile=PROFILES["genuine"])


def test_valid_token_decodes(token: str, emulated_app: EmulatedApp) -> None:
    verdict = _decoder(emulated_app).decode_sync(token, package_name=PACKAGE)
    assert verdict.request_details.nonce == NONCE


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda t: t.rsplit(".", 1)[0], "play.token_malformed"),  # a part missing
        (lambda t: t + ".AAAA", "play.token_malformed"),  # a part too many
        (lambda t: t[: len(t) // 2], "play.token_malformed"),  # truncated
        (lambda t: "", "play.token_malformed"),
        (lambda t: "not a token at all", "play.token_malformed"),
        (lambda t: t.replace(".", ".*", 1), "play.token_malformed"),  # not base64url
        (lambda t: "e30" + t[t.index(".") :], "play.algorithm_not_allowed"),  # header {}
        (lambda t: "W10" + t[t.index(".") :], "play.token_malformed"),  # header []
        (lambda t: "x" * 40_000, "input.too_large"),
    ],
)
def test_malformed_tokens(token: str, emulated_app: EmulatedApp, mutate: object, code: str) -> None:
    assert callable(mutate)
    assert _code(_decoder(emulated_app), mutate(token)) == code


def test_tampered_ciphertext_and_tag(token: str, emulated_app: EmulatedApp) -> None:
    parts = token.split(".")
    for index in (1, 2, 3, 4):
        raw = bytearray(base64.urlsafe_b64decode(parts[index] + "=" * (-len(parts[index]) % 4)))
        raw[0] ^= 1
        mutated = [*parts]
        mutated[index] = _b64(bytes(raw))
        expected = "play.token_malformed" if index == 2 and len(raw) != 12 else "play.decryption_failed"
        assert _code(_decoder(emulated_app), ".".join(mutated)) == expected


def test_header_changed_breaks_aad(token: str, emulated_app: EmulatedApp) -> None:
    header = _b64(json.dumps({"enc": "A256GCM", "alg": "A256KW"}).encode())
    assert _code(_decoder(emulated_app), header + token[token.index(".") :]) == "play.decryption_failed"


def test_alg_dir_refused(play: EmulatedPlayIntegrity, emulated_app: EmulatedApp) -> None:
    signed = jws.serialize_compact({"alg": "ES256"}, _payload(play), ECKey.import_key(emulated_app.signing_key))
    token = jwe.encrypt_compact(
        {"alg": "dir", "enc": "A256GCM"}, signed, OctKey.import_key(emulated_app.decryption_key_bytes)
    )
    assert _code(_decoder(emulated_app), token) == "play.algorithm_not_allowed"


def test_zip_deflate_refused(play: EmulatedPlayIntegrity, emulated_app: EmulatedApp) -> None:
    signed = jws.serialize_compact({"alg": "ES256"}, _payload(play), ECKey.import_key(emulated_app.signing_key))
    token = jwe.encrypt_compact(
        {"alg": "A256KW", "enc": "A256GCM", "zip": "DEF"}, signed, OctKey.import_key(emulated_app.decryption_key_bytes)
    )
    assert _code(_decoder(emulated_app), token) == "play.algorithm_not_allowed"


def test_crit_refused(token: str, emulated_app: EmulatedApp) -> None:
    # The header is checked before any decryption, so a valid token's other parts are enough.
    header = _b64(json.dumps({"alg": "A256KW", "enc": "A256GCM", "crit": ["exp"], "exp": 1}).encode())
    assert _code(_decoder(emulated_app), header + token[token.index(".") :]) == "play.algorithm_not_allowed"


def test_duplicate_header_member_refused(token: str, emulated_app: EmulatedApp) -> None:
    header = _b64(b'{"alg":"A256KW","enc":"A256GCM","enc":"A128GCM"}')
    assert _code(_decoder(emulated_app), header + token[token.index(".") :]) == "play.token_malformed"


def test_other_enc_refused(play: EmulatedPlayIntegrity, emulated_app: EmulatedApp) -> None:
    signed = jws.serialize_compact({"alg": "ES256"}, _payload(play), ECKey.import_key(emulated_app.signing_key))
    token = jwe.encrypt_compact(
        {"alg": "A256KW", "enc": "A128GCM"}, signed, OctKey.import_key(emulated_app.decryption_key_bytes)
    )
    assert _code(_decoder(emulated_app), token) == "play.algorithm_not_allowed"


def test_inner_jws_other_alg_refused(play: EmulatedPlayIntegrity, emulated_app: EmulatedApp) -> None:
    # An HS256 JWS keyed with the (secret) decryption key: the classic alg-confusion attempt.
    signed = jws.serialize_compact(
        {"alg": "HS256"}, _payload(play), OctKey.import_key(emulated_app.decryption_key_bytes)
    )
    token = jwe.encrypt_compact(
        {"alg": "A256KW", "enc": "A256GCM"}, signed, OctKey.import_key(emulated_app.decryption_key_bytes)
    )
    assert _code(_decoder(emulated_app), token) == "play.algorithm_not_allowed"


def test_wrong_signing_key(play: EmulatedPlayIntegrity, emulated_app: EmulatedApp) -> None:
    token = EmulatedPlayIntegrity.seal(
        _payload(play),
        encryption_key=emulated_app.decryption_key_bytes,
        signing_key=ec.generate_private_key(ec.SECP256R1()),
    )
    assert _code(_decoder(emulated_app), token) == "play.signature_invalid"


def test_token_of_another_app(play: EmulatedPlayIntegrity, emulated_app: EmulatedApp) -> None:
    other = play.mint_classic("com.example.other", nonce=NONCE, profile=PROFILES["genuine"])
    assert _code(_decoder(emulated_app), other) == "play.decryption_failed"


def test_keys_of_another_app(token: str, other_app: EmulatedApp) -> None:
    assert _code(_decoder(other_app), token) == "play.decryption_failed"


def test_right_decryption_key_wrong_verification_key(
    token: str, emulated_app: EmulatedApp, other_app: EmulatedApp
) -> None:
    decoder = LocalKeyDecoder(decryption_key=emulated_app.decryption_key, verification_key=other_app.verification_key)
    assert _code(decoder, token) == "play.signature_invalid"


def test_standard_token_cannot_be_decoded_locally(play: EmulatedPlayIntegrity, emulated_app: EmulatedApp) -> None:
    standard = play.mint_standard(PACKAGE, request_hash="abc", profile=PROFILES["genuine"])
    assert _code(_decoder(emulated_app), standard) == "play.decryption_failed"


def test_package_checked_by_decoder(token: str, emulated_app: EmulatedApp) -> None:
    with pytest.raises(PlayIntegrityError) as caught:
        _decoder(emulated_app).decode_sync(token, package_name="com.example.else")
    assert caught.value.code == "play.package_mismatch"


def test_swapped_keys_named(emulated_app: EmulatedApp) -> None:
    with pytest.raises(ConfigError, match="swapped"):
        LocalKeyDecoder(decryption_key=emulated_app.verification_key, verification_key=emulated_app.decryption_key)


def test_verification_key_that_is_the_aes_key(emulated_app: EmulatedApp) -> None:
    with pytest.raises(ConfigError, match="swapped"):
        LocalKeyDecoder(decryption_key=emulated_app.decryption_key, verification_key=emulated_app.decryption_key)


def test_base64url_keys_accepted(token: str, emulated_app: EmulatedApp) -> None:
    decryption = _b64(emulated_app.decryption_key_bytes)
    der = emulated_app.signing_key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    decoder = LocalKeyDecoder(decryption_key=decryption, verification_key=_b64(der))
    assert decoder.decode_sync(token, package_name=PACKAGE).request_details.nonce == NONCE


def test_wrapped_key_text_accepted(token: str, emulated_app: EmulatedApp) -> None:
    wrapped = "\n".join(
        emulated_app.verification_key[i : i + 64] for i in range(0, len(emulated_app.verification_key), 64)
    )
    decoder = LocalKeyDecoder(decryption_key=emulated_app.decryption_key, verification_key=wrapped)
    assert decoder.decode_sync(token, package_name=PACKAGE).request_details.nonce == NONCE


@pytest.mark.parametrize(
    ("decryption", "verification", "message"),
    [
        ("not base64!", None, "not base64"),
        (base64.b64encode(secrets.token_bytes(16)).decode(), None, "32"),
        (None, "not base64!", "not base64"),
        (None, base64.b64encode(b"\x30\x03\x02\x01\x01").decode(), "SubjectPublicKeyInfo"),
    ],
)
def test_key_format_mistakes(
    emulated_app: EmulatedApp, decryption: str | None, verification: str | None, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        LocalKeyDecoder(
            decryption_key=decryption or emulated_app.decryption_key,
            verification_key=verification or emulated_app.verification_key,
        )


def test_rsa_verification_key_refused(emulated_app: EmulatedApp) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    der = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .public_key()
        .public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(ConfigError, match="P-256"):
        LocalKeyDecoder(decryption_key=emulated_app.decryption_key, verification_key=base64.b64encode(der).decode())


@pytest.mark.parametrize(
    "payload",
    [b"[]", b"not json", b'{"requestDetails": 1}', b'{"requestDetails": {"requestPackageName": "com.example.app"}}'],
)
def test_malformed_payload(payload: bytes, emulated_app: EmulatedApp) -> None:
    token = EmulatedPlayIntegrity.seal(
        payload, encryption_key=emulated_app.decryption_key_bytes, signing_key=emulated_app.signing_key
    )
    assert _code(_decoder(emulated_app), token) == "play.payload_invalid"
