"""The app side of the protocol: sign a request the way an app using ``@expo/app-integrity`` does.

The app builds the canonical binding of the request it is about to send (``app_integrity.binding``), has the
platform sign it, and puts the proof in one ``App-Integrity`` header:

- iOS: ``generateAssertionAsync(keyId, binding)`` (the module hashes the string as clientData);
- Android: ``requestIntegrityCheckAsync(b64url(sha256(binding)))``.
"""

from __future__ import annotations

import base64

from app_integrity.binding import build_binding, request_hash
from app_integrity.header import AndroidProof, IosProof, SessionProof, format_header
from app_integrity.testing.android.play import EmulatedAndroidDevice
from app_integrity.testing.apple import EmulatedAppAttestService


def ios_header(
    device: EmulatedAppAttestService,
    key_id: str,
    *,
    challenge: str,
    method: str,
    path: str,
    body: bytes = b"",
) -> str:
    """The ``App-Integrity`` value for an iOS request: an assertion over the request's binding."""
    binding = build_binding(challenge, method, path, body)
    assertion = device.generate_assertion_async(key_id, binding)
    return format_header(
        IosProof(key_id=base64.b64decode(key_id), challenge=challenge, assertion=base64.b64decode(assertion))
    )


def android_header(device: EmulatedAndroidDevice, *, challenge: str, method: str, path: str, body: bytes = b"") -> str:
    """The ``App-Integrity`` value for an Android request: a Standard token whose requestHash is the binding's."""
    token = device.request_integrity_check(request_hash(build_binding(challenge, method, path, body)))
    return format_header(AndroidProof(challenge=challenge, token=token))


def session_header(session: str) -> str:
    """The ``App-Integrity`` value after an exchange: the session JWT."""
    return format_header(SessionProof(token=session))
