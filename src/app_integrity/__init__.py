"""Server-side verification of mobile app attestation.

- ``app_integrity.apple``: Apple App Attest attestations, assertions and receipts.
- ``app_integrity.android``: Google Play Integrity verdicts and Android hardware key attestation.
- ``app_integrity.errors``: the exception hierarchy and its stable codes.
- ``app_integrity.testing``: emulated devices and services for tests without a phone.
"""

from app_integrity.errors import AppIntegrityError, ConfigError, UnavailableError, VerificationError

__version__ = "0.1.0"

__all__ = ["AppIntegrityError", "ConfigError", "UnavailableError", "VerificationError", "__version__"]
