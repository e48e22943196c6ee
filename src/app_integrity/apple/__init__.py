"""Apple App Attest: attestations, assertions and receipts.

```python
from app_integrity.apple import AppleApp, verify_attestation, verify_assertion, verify_receipt
```
"""

from app_integrity.apple.app import AppleApp
from app_integrity.apple.assertion import AssertionResult, verify_assertion
from app_integrity.apple.attestation import AttestedKey, verify_attestation
from app_integrity.apple.receipt import Receipt, ReceiptType, verify_receipt

__all__ = [
    "AppleApp",
    "AssertionResult",
    "AttestedKey",
    "Receipt",
    "ReceiptType",
    "verify_assertion",
    "verify_attestation",
    "verify_receipt",
]
