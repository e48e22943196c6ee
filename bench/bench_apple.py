"""App Attest verification against its cryptographic floor, measured in the same run.

- assertion: ``verify_assertion`` on a real device's assertion vs one ECDSA P-256/SHA-256 verify;
- attestation: ``verify_attestation`` on a real device's attestation vs the leaf certificate's signature check by
  the P-384 intermediate (the intermediate-to-root check is the same for every device and is cached).

Each operation and its floor run in alternating batches timed in process CPU time, and the fastest batch of each
counts, so that load from other processes on the machine disturbs both alike. Targets: assertion <= 1.3x its
floor, attestation <= 1.5x.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from app_integrity.apple import verify_assertion, verify_attestation
from app_integrity.samples import load_apple_sample

ASSERTION_TARGET = 1.3
ATTESTATION_TARGET = 1.5


def paired(
    operation: Callable[[], object], floor: Callable[[], object], *, runs: int, repeats: int
) -> tuple[float, float]:
    """Best per-call CPU time (seconds) of ``operation`` and of ``floor``, measured in alternating batches."""
    operation()
    floor()
    best = [float("inf"), float("inf")]
    for _ in range(repeats):
        for index, function in enumerate((operation, floor)):
            start = time.process_time()
            for _ in range(runs):
                function()
            best[index] = min(best[index], (time.process_time() - start) / runs)
    return best[0], best[1]


def main() -> None:
    sample = load_apple_sample()
    attestation = base64.b64decode(sample.attestation)
    assertion = base64.b64decode(sample.assertion)
    key = verify_attestation(
        attestation, key_id=sample.key_id, app=sample.app, challenge=sample.challenge, now=sample.attestation_valid_at
    )

    # The floors: exactly the public-key operations nothing can avoid.
    decoded = cbor2.loads(assertion)
    client_data_hash = hashlib.sha256(sample.client_data.encode()).digest()
    nonce = hashlib.sha256(decoded["authenticatorData"] + client_data_hash).digest()
    public_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), key.public_key)
    signature = decoded["signature"]
    x5c = cbor2.loads(attestation)["attStmt"]["x5c"]
    leaf = x509.load_der_x509_certificate(x5c[0])
    intermediate_key = x509.load_der_x509_certificate(x5c[1]).public_key()
    if not isinstance(intermediate_key, ec.EllipticCurvePublicKey):
        raise SystemExit("the sample's intermediate does not hold an EC key")
    leaf_signature, leaf_tbs = leaf.signature, leaf.tbs_certificate_bytes
    ecdsa_sha256 = ec.ECDSA(hashes.SHA256())

    def assertion_floor() -> None:
        public_key.verify(signature, nonce, ecdsa_sha256)

    def assertion_op() -> None:
        verify_assertion(
            assertion,
            app=sample.app,
            public_key=key.public_key,
            previous_counter=sample.previous_counter,
            client_data=sample.client_data,
        )

    def attestation_floor() -> None:
        intermediate_key.verify(leaf_signature, leaf_tbs, ecdsa_sha256)

    def attestation_op() -> None:
        verify_attestation(
            attestation,
            key_id=sample.key_id,
            app=sample.app,
            challenge=sample.challenge,
            now=sample.attestation_valid_at,
        )

    rows = [
        (
            "assertion",
            *paired(assertion_op, assertion_floor, runs=200, repeats=80),
            ASSERTION_TARGET,
            "one ECDSA P-256 verify",
        ),
        (
            "attestation",
            *paired(attestation_op, attestation_floor, runs=20, repeats=80),
            ATTESTATION_TARGET,
            "leaf signature check by the P-384 intermediate",
        ),
    ]
    print("App Attest verification (real iOS 14.4 capture, bytes in)")
    for label, op_time, floor_time, target, floor_name in rows:
        ratio = op_time / floor_time
        verdict = "meets" if ratio <= target else "MISSES"
        print(
            f"  {label:<12} {op_time * 1e6:8.1f} us/op   floor {floor_time * 1e6:8.1f} us ({floor_name})   "
            f"ratio {ratio:4.2f}x  ({verdict} target {target}x; {(op_time - floor_time) * 1e6:.0f} us above the floor)"
        )


if __name__ == "__main__":
    main()
