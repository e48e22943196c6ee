"""Apple App Attest: attestations, assertions and receipts."""
