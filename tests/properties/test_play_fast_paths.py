"""The Play Integrity hot path against step-by-step references of the same checks, under generated input.

``decrypt_jwe`` and ``verify_jws`` are written out in one function each, ``parse_verdict`` reads fields inline
when they have JSON's exact type, ``_load_json`` hands common payloads to json's scanner and ``_der_signature``
builds the DER signature from bytes. Each reference below is the plain composition of the module's own steps
(``_b64url``, ``aes_kw_unwrap``, ``aes256_gcm_decrypt``, the field helpers, ``json.loads``,
``encode_dss_signature``); the fast path must return the same value or raise the same error with the same message.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from hypothesis import example, given
from hypothesis import strategies as st

from app_integrity.android import parse_verdict
from app_integrity.android.play import jose
from app_integrity.android.play import verdict as module
from app_integrity.android.play.jose import decrypt_jwe, verify_jws
from app_integrity.android.play.verdict import (
    AccountDetails,
    AppIntegrity,
    DeviceIntegrity,
    EnvironmentDetails,
    IntegrityVerdict,
    RequestDetails,
)
from app_integrity.errors import AppIntegrityError, InputError, PlayIntegrityError
from tests.properties.test_play_properties import (
    BASE64URL,
    OURS,
    PAYLOAD,
    TOKEN,
    json_values,
    mutated_token,
    verdict_shaped,
)

KEK = OURS.decryption_key_bytes
KEY = OURS.signing_key.public_key()
SIGNED = decrypt_jwe(TOKEN, KEK)


def _same(fast: Callable[[], object], reference: Callable[[], object]) -> None:
    """Both return equal values, or both raise the same exception type with the same code and message."""
    results: list[tuple[str, object]] = []
    for call in (fast, reference):
        try:
            results.append(("value", call()))
        except AppIntegrityError as error:
            results.append((type(error).__name__, (error.code, str(error))))
        except ValueError as error:  # json.loads and its fast path raise these themselves
            results.append((type(error).__name__, str(error)))
    assert results[0] == results[1]


def _split(token: bytes | str, parts: int, what: str) -> tuple[bytes, list[bytes]]:
    if len(token) > jose.MAX_TOKEN_CHARS:
        raise InputError("input.too_large", f"the {what} is {len(token)} characters, over {jose.MAX_TOKEN_CHARS}")
    raw = token.encode("ascii", "replace") if isinstance(token, str) else bytes(token)
    segments = raw.split(b".")
    if len(segments) != parts:
        raise PlayIntegrityError(
            "play.token_malformed", f"the {what} has {len(segments)} parts, not {parts} (compact serialization)"
        )
    return raw, segments


def reference_decrypt(token: bytes | str, decryption_key: bytes) -> bytes:
    _, (protected, encrypted_key, iv, ciphertext, tag) = _split(token, 5, "integrity token")
    if len(protected) > jose._MAX_HEADER:
        raise PlayIntegrityError("play.token_malformed", "the JWE header is implausibly long")
    jose._check_jwe_header(protected)
    wrapped = jose._b64url(encrypted_key, "JWE encrypted key")
    if len(wrapped) != 40:
        raise PlayIntegrityError("play.token_malformed", "the JWE encrypted key is not a wrapped 256-bit key")
    cek = jose.aes_kw_unwrap(decryption_key, wrapped)
    return jose.aes256_gcm_decrypt(
        cek,
        jose._b64url(iv, "JWE IV"),
        jose._b64url(ciphertext, "JWE ciphertext"),
        jose._b64url(tag, "JWE tag"),
        protected,
    )


def reference_verify(token: bytes | str, verification_key: ec.EllipticCurvePublicKey) -> bytes:
    _, (protected, payload, signature) = _split(token, 3, "signed verdict")
    if len(protected) > jose._MAX_HEADER:
        raise PlayIntegrityError("play.token_malformed", "the JWS header is implausibly long")
    jose._check_jws_header(protected)
    raw_signature = jose._b64url(signature, "JWS signature")
    if len(raw_signature) != 64:
        raise PlayIntegrityError("play.signature_invalid", "the ES256 signature is not 64 bytes (R || S)")
    r, s = int.from_bytes(raw_signature[:32], "big"), int.from_bytes(raw_signature[32:], "big")
    try:
        verification_key.verify(encode_dss_signature(r, s), protected + b"." + payload, jose._ECDSA_SHA256)
    except InvalidSignature as exc:
        raise PlayIntegrityError(
            "play.signature_invalid",
            "the verdict is not signed by the verification key (a key of another app, or an altered verdict)",
        ) from exc
    return jose._b64url(payload, "JWS payload")


@st.composite
def mutated(draw: st.DrawFn, original: str) -> str:
    text = list(original)
    for _ in range(draw(st.integers(1, 3))):
        position = draw(st.integers(0, max(len(text) - 1, 0)))
        character = draw(st.sampled_from(BASE64URL + ".=+/ !\xe9"))
        edit = draw(st.sampled_from(["replace", "insert", "delete"]))
        if edit == "insert" or not text:
            text.insert(position, character)
        elif edit == "replace":
            text[position] = character
        else:
            del text[position]
    return "".join(text)


@given(mutated_token() | st.text(alphabet=BASE64URL + ".", max_size=200) | st.binary(max_size=100))
@example(TOKEN)
@example(TOKEN + "x")  # a segment of 4n + 1 characters
@example("x" * (jose.MAX_TOKEN_CHARS + 1))
def test_decrypt_jwe_is_its_steps(token: str | bytes) -> None:
    _same(lambda: decrypt_jwe(token, KEK), lambda: reference_decrypt(token, KEK))


@given(mutated(SIGNED.decode()) | st.text(alphabet=BASE64URL + ".", max_size=200))
@example(SIGNED.decode())
def test_verify_jws_is_its_steps(signed: str) -> None:
    _same(lambda: verify_jws(signed, KEY), lambda: reference_verify(signed, KEY))
    _same(lambda: verify_jws(signed.encode(), KEY), lambda: reference_verify(signed.encode(), KEY))


@given(st.binary(min_size=64, max_size=64))
@example(bytes(64))
@example(b"\x80" * 64)
@example(b"\x00\x80" + bytes(30) + b"\x00\x00\x7f" + bytes(29))
@example(b"\x7f" + bytes(31) + b"\xff" + bytes(31))
def test_der_signature_is_encode_dss_signature(raw: bytes) -> None:
    expected = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    assert jose._der_signature(raw) == expected


@given(
    json_values.map(json.dumps)
    | st.text(max_size=40)
    | st.tuples(st.sampled_from(["", " ", "\n"]), json_values.map(json.dumps), st.sampled_from(["", " ", "x"])).map(
        "".join
    )
)
@example('{"a":1}')
@example('{"a":1} ')
@example('{"a":1}}')
@example('{"a"')
@example('{"\\ud800":1}')
@example('{"a": x')  # the C scanner's StopIteration for a missing value (found by fuzzing parse_verdict)
def test_load_json_is_json_loads(text: str) -> None:
    _same(lambda: module._load_json(text), lambda: json.loads(text))
    for encoding in ("utf-8", "utf-16", "utf-8-sig"):
        raw = text.encode(encoding, "surrogatepass")
        _same(partial(module._load_json, raw), partial(json.loads, raw))


def _strings(parent: Mapping[str, Any], key: str, path: str) -> tuple[str, ...] | None:
    value = parent.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise module._fail(f"{path}.{key}", "is not a list of strings")
    return tuple(value)


def reference_parse(payload: Mapping[str, Any]) -> IntegrityVerdict:
    """Every field through the generic helpers, in parse_verdict's order."""
    obj, text, int64, flag = module._obj, module._str, module._int64, module._bool
    request = obj(payload, "requestDetails", "payload", required=True) or {}
    request_details = RequestDetails(
        text(request, "requestPackageName", "requestDetails", required=True) or "",
        int64(request, "timestampMillis", "requestDetails", required=True) or 0,
        text(request, "requestHash", "requestDetails"),
        text(request, "nonce", "requestDetails"),
    )
    app_integrity = None
    app = obj(payload, "appIntegrity", "payload")
    if app is not None:
        app_integrity = AppIntegrity(
            text(app, "appRecognitionVerdict", "appIntegrity") or "",
            text(app, "packageName", "appIntegrity"),
            _strings(app, "certificateSha256Digest", "appIntegrity") or (),
            int64(app, "versionCode", "appIntegrity"),
        )
    device_integrity = None
    device = obj(payload, "deviceIntegrity", "payload")
    if device is not None:
        attributes = obj(device, "deviceAttributes", "deviceIntegrity")
        activity = obj(device, "recentDeviceActivity", "deviceIntegrity")
        labels = _strings(device, "deviceRecognitionVerdict", "deviceIntegrity") or ()
        legacy = _strings(device, "legacyDeviceRecognitionVerdict", "deviceIntegrity")
        device_integrity = DeviceIntegrity(
            labels,
            legacy,
            None if attributes is None else int64(attributes, "sdkVersion", "deviceIntegrity.deviceAttributes"),
            None if activity is None else text(activity, "deviceActivityLevel", "deviceIntegrity.recentDeviceActivity"),
            module._device_recall(obj(device, "deviceRecall", "deviceIntegrity")),
        )
    account_details = None
    account = obj(payload, "accountDetails", "payload")
    if account is not None:
        account_activity = obj(account, "accountActivity", "accountDetails")
        licensing = text(account, "appLicensingVerdict", "accountDetails") or ""
        account_details = AccountDetails(
            licensing,
            None
            if account_activity is None
            else text(account_activity, "activityLevel", "accountDetails.accountActivity"),
        )
    environment_details = None
    environment = obj(payload, "environmentDetails", "payload")
    if environment is not None:
        risk = obj(environment, "appAccessRiskVerdict", "environmentDetails")
        play_protect = text(environment, "playProtectVerdict", "environmentDetails")
        environment_details = EnvironmentDetails(
            play_protect, None if risk is None else (_strings(risk, "appsDetected", "appAccessRiskVerdict") or ())
        )
    testing = obj(payload, "testingDetails", "payload")
    is_testing = bool(flag(testing, "isTestingResponse", "testingDetails")) if testing is not None else False
    return IntegrityVerdict(
        request_details, app_integrity, device_integrity, account_details, environment_details, is_testing
    )


INT64_SPELLINGS = ["0", "42", "-1", "007", "9" * 19, "9" * 20, "", " 1", "+1", "1_000", "1.0", "\uff11\uff12", "\u0661"]


@given(verdict_shaped())
def test_parse_verdict_is_its_helpers(payload: dict[str, Any]) -> None:
    _same(lambda: parse_verdict(payload), lambda: reference_parse(payload))


@given(
    st.sampled_from(
        [("requestDetails", "timestampMillis"), ("appIntegrity", "versionCode"), ("deviceAttributes", "sdkVersion")]
    ),
    st.sampled_from(INT64_SPELLINGS) | st.text(alphabet="0123456789-+ \u0660\u0661\uff10", max_size=21),
)
def test_int64_spellings(field: tuple[str, str], value: str) -> None:
    payload: dict[str, Any] = json.loads(json.dumps(PAYLOAD))
    section, key = field
    if section == "deviceAttributes":
        payload["deviceIntegrity"]["deviceAttributes"] = {key: value}
    else:
        payload[section][key] = value
    _same(lambda: parse_verdict(payload), lambda: reference_parse(payload))
    _same(lambda: parse_verdict(json.dumps(payload).encode()), lambda: reference_parse(payload))
