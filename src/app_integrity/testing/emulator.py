"""The emulated world a server in emulated mode trusts, kept in its data directory so it survives restarts.

``app-integrity serve --emulated`` loads (or creates) this state and trusts its roots *instead of* Apple's and
Google's. Any client on the same machine (``app-integrity demo``, a test using ``app_integrity.testing``) loads the
same state to make devices whose proofs that server accepts.

- ``apple-ca.pem``: the emulated App Attest and receipt authorities (``EmulatedAppleCA``);
- ``android-keystore.pem``: the emulated hardware key attestation root (``EmulatedKeyStore``);
- ``play.json``: the emulated Play Integrity service's keys and its registered app (``EmulatedPlayIntegrity``).

These files hold private keys of test authorities: they prove nothing outside emulated mode.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app_integrity.android import AndroidApp
from app_integrity.apple import AppleApp
from app_integrity.testing.android.keystore import EmulatedKeyStore
from app_integrity.testing.android.play import EmulatedApp, EmulatedPlayIntegrity
from app_integrity.testing.apple import EmulatedAppleCA

EMULATED_TEAM_ID = "EMULATED00"
EMULATED_BUNDLE_ID = "dev.appintegrity.emulated"
EMULATED_PACKAGE_NAME = "dev.appintegrity.emulated"
STATE_FOLDER = "emulator"


@dataclass(slots=True)
class EmulatorState:
    apple_ca: EmulatedAppleCA
    keystore: EmulatedKeyStore
    play: EmulatedPlayIntegrity
    folder: Path

    @classmethod
    def load_or_create(cls, data_dir: str | os.PathLike[str]) -> EmulatorState:
        """The state under ``data_dir/emulator``, created on first use with fresh test roots."""
        folder = Path(data_dir) / STATE_FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        apple_ca = EmulatedAppleCA.load_or_generate(folder / "apple-ca.pem")
        keystore_file = folder / "android-keystore.pem"
        if keystore_file.exists():
            keystore = EmulatedKeyStore.from_pem(keystore_file.read_bytes())
        else:
            keystore = EmulatedKeyStore()
            _write_private(keystore_file, keystore.export_pem())
        play_file = folder / "play.json"
        if play_file.exists():
            play = _load_play(json.loads(play_file.read_text(encoding="utf-8")))
        else:
            play = EmulatedPlayIntegrity()
            play.register_app(EMULATED_PACKAGE_NAME)
            _write_private(play_file, json.dumps(_dump_play(play), indent=2).encode("utf-8"))
        return cls(apple_ca=apple_ca, keystore=keystore, play=play, folder=folder)

    @property
    def play_app(self) -> EmulatedApp:
        return self.play.apps[EMULATED_PACKAGE_NAME]

    def apple_app(self, *, allow_development: bool = False) -> AppleApp:
        return AppleApp(team_id=EMULATED_TEAM_ID, bundle_id=EMULATED_BUNDLE_ID, allow_development=allow_development)

    def android_app(self, **options: Any) -> AndroidApp:
        return self.play_app.android_app(**options)


def _write_private(path: Path, data: bytes) -> None:
    """Write a file only its owner can read: it holds test authorities' private keys."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def _pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def _ec_key(pem: str) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("the emulator state holds an unexpected key type")
    return key


def _dump_play(play: EmulatedPlayIntegrity) -> dict[str, Any]:
    return {
        "googleDecryptionKey": base64.b64encode(play.google_decryption_key).decode("ascii"),
        "googleSigningKey": _pem(play.google_signing_key),
        "apps": {
            name: {
                "certificateSha256": base64.b64encode(app.certificate_sha256).decode("ascii"),
                "versionCode": app.version_code,
                "decryptionKey": app.decryption_key,
                "signingKey": _pem(app.signing_key),
            }
            for name, app in play.apps.items()
        },
    }


def _load_play(document: dict[str, Any]) -> EmulatedPlayIntegrity:
    play = EmulatedPlayIntegrity(
        google_decryption_key=base64.b64decode(document["googleDecryptionKey"]),
        google_signing_key=_ec_key(document["googleSigningKey"]),
    )
    for name, app in document["apps"].items():
        play.apps[name] = EmulatedApp(
            package_name=name,
            certificate_sha256=base64.b64decode(app["certificateSha256"]),
            version_code=int(app["versionCode"]),
            decryption_key_bytes=base64.b64decode(app["decryptionKey"]),
            signing_key=_ec_key(app["signingKey"]),
        )
    return play
