"""Key attestation under generated input: DER trees shaped like a KeyDescription, and chains assembled from
genuine certificates in any order, count and combination."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app_integrity.android import AndroidApp, verify_key_attestation
from app_integrity.android.keyattestation import parse_key_description
from app_integrity.testing.android.keystore import EmulatedKeyStore
from tests.properties.typed import outcome

KEYSTORE = EmulatedKeyStore()
APP = AndroidApp("com.example.app", ["ab" * 32])
POOL = [
    *KEYSTORE.generate_key(challenge="c", package_name=APP.package_name, signing_digests=["ab" * 32]).chain_der,
    *KEYSTORE.generate_key(
        challenge="c", package_name=APP.package_name, signing_digests=["ab" * 32], attest_key=True
    ).chain_der,
    *EmulatedKeyStore().generate_key(challenge="c", package_name="com.other", signing_digests=["cd" * 32]).chain_der,
]


def _length(size: int) -> bytes:
    if size < 0x80:
        return bytes([size])
    raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _tlv(tag: int, content: bytes) -> bytes:
    if tag < 0x1F:
        return bytes([tag]) + _length(len(content)) + content
    # High tag numbers (context-specific, as KeyMint authorisation tags are): 0xBF then base-128.
    number = tag & 0xFFFF
    digits: list[int] = []
    while True:
        digits.insert(0, number & 0x7F)
        number >>= 7
        if not number:
            break
    encoded = bytes([d | 0x80 for d in digits[:-1]] + [digits[-1]])
    return b"\xbf" + encoded + _length(len(content)) + content


der_trees = st.recursive(
    st.tuples(st.sampled_from([0x01, 0x02, 0x04, 0x05, 0x0A, 0x0C]), st.binary(max_size=12)).map(
        lambda pair: _tlv(*pair)
    ),
    lambda children: st.tuples(
        st.sampled_from([0x30, 0x31, 0xA0, 0x1F + 1, 0x1F + 704, 0x1F + 709, 0x1F + 724]),
        st.lists(children, max_size=5).map(b"".join),
    ).map(lambda pair: _tlv(0x30 if pair[0] == 0x30 else pair[0], pair[1])),
    max_leaves=16,
)


@given(st.lists(der_trees, min_size=1, max_size=8).map(lambda items: _tlv(0x30, b"".join(items))))
def test_key_description_shaped_der(der: bytes) -> None:
    outcome(lambda: parse_key_description(der))


@given(st.lists(st.sampled_from(range(len(POOL))), min_size=0, max_size=7))
def test_chains_of_genuine_certificates(indexes: list[int]) -> None:
    chain = [POOL[i] for i in indexes]
    outcome(lambda: verify_key_attestation(chain, challenge="c", app=APP, trust_roots=[KEYSTORE.root_certificate]))
