"""The ASN.1 structures App Attest uses beyond X.509 and CMS, declared for asn1crypto.

- the credential certificate's nonce extension (OID 1.2.840.113635.100.8.2):
  ``SEQUENCE { [1] EXPLICIT OCTET STRING }``;
- a receipt attribute (the emulator writes receipts with it):
  ``ReceiptAttribute ::= SEQUENCE { type INTEGER, version INTEGER, value OCTET STRING }``.
"""

from __future__ import annotations

from typing import ClassVar

from asn1crypto import core


class NonceExtension(core.Sequence):
    # Apple: "a DER-encoded ASN.1 sequence. Decode the sequence and extract the single octet string".
    _fields: ClassVar[list[tuple[str, type, dict[str, int]]]] = [("nonce", core.OctetString, {"explicit": 1})]


class ReceiptAttribute(core.Sequence):
    _fields: ClassVar[list[tuple[str, type]]] = [
        ("type", core.Integer),
        ("version", core.Integer),
        ("value", core.OctetString),
    ]
