"""Verify an App Attest assertion, step by step as Apple specifies.

Apple, "Validating apps that connect to your server" > "Verify the assertion". Step 6 (the embedded challenge)
is the caller's: the service consumes the challenge it issued, and the request binding puts it in clientData.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from app_integrity import _cbor
from app_integrity._ecdsa import P256Key, load_p256_public_key, verify_loaded_p256_sha256
from app_integrity._encoding import decode_base64
from app_integrity.apple import _plain
from app_integrity.apple._inputs import client_data_hash as resolve_client_data_hash
from app_integrity.apple.app import AppleApp
from app_integrity.apple.authdata import parse_assertion_auth_data
from app_integrity.errors import AppleError, InputError

MAX_ASSERTION_BYTES = 4096
_MEMBERS = frozenset(("signature", "authenticatorData"))


@dataclass(frozen=True, slots=True)
class AssertionResult:
    counter: int  # store it: the next assertion must carry a greater one
    bundle_version: str | None = None  # iOS 27+
    validation_category: int | None = None  # iOS 27+


def _decode(assertion: bytes | str) -> tuple[bytes, bytes]:
    raw = (
        assertion
        if type(assertion) is bytes and len(assertion) <= MAX_ASSERTION_BYTES
        else decode_base64(assertion, field="assertion", max_bytes=MAX_ASSERTION_BYTES)
    )
    plain = _plain.assertion_object(raw)
    if plain is not None:
        return plain
    decoded = _cbor.decode(raw, field="assertion", max_bytes=MAX_ASSERTION_BYTES)
    if type(decoded) is not dict or len(decoded) != 2 or decoded.keys() != _MEMBERS:
        raise InputError("input.malformed", "the assertion is not a CBOR map of signature and authenticatorData")
    signature, auth_data = decoded["signature"], decoded["authenticatorData"]
    if type(signature) is not bytes or type(auth_data) is not bytes:
        raise InputError("input.malformed", "signature and authenticatorData must be byte strings")
    return signature, auth_data


def verify_assertion(
    assertion: bytes | str,
    *,
    app: AppleApp,
    public_key: P256Key,
    previous_counter: int,
    client_data: str | bytes | None = None,
    client_data_hash: bytes | str | None = None,
) -> AssertionResult:
    """Verify ``assertion`` (CBOR, bytes or base64) made by the attested ``public_key`` for ``app``.

    ``client_data`` is hashed (SHA-256 of its UTF-8 bytes, as ``@expo/app-integrity`` does);
    ``client_data_hash`` is used as given. Returns the new counter, to store with compare-and-set.
    """
    if type(previous_counter) is not int or previous_counter < 0:
        raise InputError("input.invalid_argument", "previous_counter must be a non-negative integer")
    key = load_p256_public_key(public_key)
    signature, auth_data_raw = _decode(assertion)
    auth_data = parse_assertion_auth_data(auth_data_raw)

    # Step 1: "Compute clientDataHash as the SHA256 hash of clientData."
    client_hash = resolve_client_data_hash(client_data, client_data_hash, text_name="client_data")
    # Step 2: "Concatenate authenticatorData and clientDataHash, and apply a SHA256 hash over the result to form
    # nonce."
    nonce = hashlib.sha256(auth_data_raw + client_hash).digest()
    # Step 3: "Use the public key that you store from the attestation object to verify that the assertion's
    # signature is valid for nonce." Devices sign the nonce as the message (ECDSA-P256-SHA256 over it).
    if not verify_loaded_p256_sha256(key, signature, nonce):
        raise AppleError("apple.signature_invalid", "the assertion's signature does not verify with this key")
    # Step 4: "Compute the SHA256 hash of the client's App ID, and verify that it matches the RP ID in the
    # authenticator data."
    if not hmac.compare_digest(auth_data.rp_id_hash, app.rp_id_hash):
        raise AppleError("apple.app_id_mismatch", f"rpIdHash is not SHA-256({app.app_id!r})")
    # Step 5: "Verify that the authenticator data's counter value is greater than the value from the previous
    # assertion, or greater than 0 on the first assertion."
    if auth_data.sign_count <= previous_counter:
        raise AppleError(
            "apple.counter_not_increasing",
            f"the counter {auth_data.sign_count} is not greater than the stored {previous_counter}",
        )
    extensions = auth_data.extensions
    if extensions is None:
        return AssertionResult(auth_data.sign_count)
    return AssertionResult(auth_data.sign_count, extensions.bundle_version, extensions.validation_category)
