"""Key attestation: per-op verification time against the cryptographic floor measured in the same run.

The floor is the chain's own signature checks: every certificate verified with its issuer's key (RSA PKCS#1 v1.5
or ECDSA, as the chain says), with the certificates already decoded, nothing else (no decoding, no KeyDescription,
no policy). ``verify_key_attestation`` remembers the checks of certificates shared by many devices (roots,
intermediates), so its warm per-op cost can go below that floor: it still decodes the leaf, checks the leaf's
signature, parses the KeyDescription and judges the policy. The "leaf-only floor" (the one signature that cannot be
shared) is printed too, as the true lower bound of a warm verification.

Chains: real captures from ``../shared/vectors/android-key`` when present, and an emulated RKP chain always.
"""

from __future__ import annotations

import base64
import itertools
import json
import statistics
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from app_integrity.android import AndroidApp, verify_key_attestation
from app_integrity.android.keyattestation import load_trust_roots
from app_integrity.android.keyattestation.chain import clear_caches
from app_integrity.testing.android.keystore import EmulatedKeyStore

VECTORS = Path(__file__).resolve().parent.parent.parent / "shared" / "vectors" / "android-key"
REAL = (
    "ka_pixel9pro_caiman_rkp_tee_ec_v400",
    "ka_pixel3_blueline_factory_tee_ec",
    "ka_pixel9a_tegu_rkp_tee_ec_new_ec_root",
)


def _interleaved(functions: dict[str, tuple[Callable[[], object], int]], *, repeats: int = 7) -> dict[str, float]:
    """Median seconds per call of each function, measured in alternation so machine noise hits all alike."""
    for function, _ in functions.values():
        function()
    samples: dict[str, list[float]] = {label: [] for label in functions}
    for _ in range(repeats):
        for label, (function, iterations) in functions.items():
            start = time.perf_counter()
            for _ in range(iterations):
                function()
            samples[label].append((time.perf_counter() - start) / iterations)
    return {label: statistics.median(values) for label, values in samples.items()}


def _verify_link(child: x509.Certificate, parent: x509.Certificate) -> None:
    key = parent.public_key()
    algorithm = child.signature_hash_algorithm
    assert algorithm is not None
    if isinstance(key, rsa.RSAPublicKey):
        key.verify(child.signature, child.tbs_certificate_bytes, padding.PKCS1v15(), algorithm)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(child.signature, child.tbs_certificate_bytes, ec.ECDSA(algorithm))


def _floors(chain: list[bytes]) -> tuple[Callable[[], None], Callable[[], None]]:
    certificates = [x509.load_der_x509_certificate(der) for der in chain]

    def all_links() -> None:
        for child, parent in itertools.pairwise(certificates):
            _verify_link(child, parent)

    def leaf_only() -> None:
        _verify_link(certificates[0], certificates[1])

    return all_links, leaf_only


def _cases() -> list[tuple[str, list[bytes], dict[str, Any]]]:
    cases: list[tuple[str, list[bytes], dict[str, Any]]] = []
    for name in REAL:
        path = VECTORS / f"{name}.json"
        if not path.exists():
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        package = data["expected_package"]
        kwargs = {
            "challenge": bytes.fromhex(data["challenge"]["hex"]),
            "app": AndroidApp(package["name"], package["signature_digests_hex"]),
            "now": datetime.fromisoformat(data["valid_at"].replace("Z", "+00:00")),
        }
        cases.append((name, [base64.b64decode(c) for c in data["chain_b64"]], kwargs))
    keystore = EmulatedKeyStore()
    app = AndroidApp("com.example.bench", ["ab" * 32])
    key = keystore.generate_key(challenge="bench", package_name=app.package_name, signing_digests=["ab" * 32])
    # Anchors built once, as a server does at start-up (a list of certificates would be decoded per call).
    emulated_kwargs = {"challenge": "bench", "app": app, "trust_roots": load_trust_roots([keystore.root_certificate])}
    cases.append(("emulated RKP chain (P-384 CAs, P-256 leaf)", list(key.chain_der), emulated_kwargs))
    return cases


def main() -> None:
    print("key attestation: verify_key_attestation per op vs the chain's signature checks (same run)")
    print("  floor = every link's signature verified with its issuer's key, certificates pre-decoded")
    print("  leaf floor = the leaf's signature only (the one check no cache can share)")
    for name, chain, kwargs in _cases():
        all_links, leaf_only = _floors(chain)

        def warm(chain: list[bytes] = chain, kwargs: dict[str, Any] = kwargs) -> object:
            return verify_key_attestation(chain, **kwargs)

        def cold(chain: list[bytes] = chain, kwargs: dict[str, Any] = kwargs) -> object:
            clear_caches()
            return verify_key_attestation(chain, **kwargs)

        times = _interleaved(
            {"floor": (all_links, 20), "leaf": (leaf_only, 100), "warm": (warm, 100), "cold": (cold, 20)}
        )
        floor, leaf_floor, warm_time, cold_time = times["floor"], times["leaf"], times["warm"], times["cold"]
        print(f"- {name} ({len(chain)} certificates)")
        print(f"    floor (all signatures)  {floor * 1e6:9.1f} us")
        print(f"    leaf-only floor         {leaf_floor * 1e6:9.1f} us")
        print(f"    verify, caches warm     {warm_time * 1e6:9.1f} us   ratio to floor {warm_time / floor:5.2f}x")
        print(f"    verify, caches cleared  {cold_time * 1e6:9.1f} us   ratio to floor {cold_time / floor:5.2f}x")
    clear_caches()


if __name__ == "__main__":
    main()
