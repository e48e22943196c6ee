"""Classic Play Integrity tokens decrypted and verified on this server with the app's own keys."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec

from app_integrity.android.play.jose import decrypt_jwe, verify_jws
from app_integrity.android.play.keys import parse_decryption_key, parse_verification_key
from app_integrity.android.play.verdict import IntegrityVerdict, parse_verdict
from app_integrity.errors import PlayIntegrityError


class LocalKeyDecoder:
    """Decode classic tokens: JWE (A256KW, A256GCM) with ``decryption_key``, then JWS (ES256) with
    ``verification_key``. Standard tokens cannot be decoded this way: only Google holds their keys.
    """

    def __init__(self, *, decryption_key: str | bytes, verification_key: str | bytes) -> None:
        self._decryption_key: bytes = parse_decryption_key(decryption_key)
        self._verification_key: ec.EllipticCurvePublicKey = parse_verification_key(verification_key)

    def decode_sync(self, token: str | bytes, *, package_name: str) -> IntegrityVerdict:
        """The same as ``decode``, for callers without an event loop (it does no I/O)."""
        signed = decrypt_jwe(token, self._decryption_key)
        verdict = parse_verdict(verify_jws(signed, self._verification_key))
        if verdict.request_details.request_package_name != package_name:
            raise PlayIntegrityError(
                "play.package_mismatch",
                f"the token was requested for {verdict.request_details.request_package_name!r}, not {package_name!r}",
            )
        return verdict

    async def decode(self, token: str | bytes, *, package_name: str) -> IntegrityVerdict:
        return self.decode_sync(token, package_name=package_name)

    async def aclose(self) -> None:
        """Nothing to release; present so both decoders can be closed the same way."""
