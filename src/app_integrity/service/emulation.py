"""Emulated mode: the same service, trusting the project's emulated devices and fake Google API instead of Apple's
and Google's roots (never in addition to them).

Nothing else differs from production: the Apple verifier gets the emulated CA as its only trust roots, the key
attestation verifier the emulated KeyStore root, and Play Integrity tokens go through the real Google API client,
with a service account, to a fake Google API this process runs on a local port.
"""

from __future__ import annotations

import logging

from app_integrity.android import GoogleApiDecoder, KeyAttestationPolicy
from app_integrity.android.keyattestation import load_trust_roots
from app_integrity.config import Settings
from app_integrity.service.verifiers import AndroidVerifier, AppleVerifier
from app_integrity.testing.android.fake_google import FakeGoogleApi, FakeGoogleServer, write_service_account_file
from app_integrity.testing.emulator import EmulatorState

logger = logging.getLogger("app_integrity.service")


def emulated_verifiers(settings: Settings) -> tuple[AppleVerifier, AndroidVerifier]:
    state = EmulatorState.load_or_create(settings.server.data_dir)
    roots = tuple(state.apple_ca.trust_roots)
    apple = AppleVerifier(apps=(state.apple_app(),), trust_roots=roots, receipt_trust_roots=roots)

    google = FakeGoogleServer(FakeGoogleApi(play=state.play)).start()
    account = write_service_account_file(
        state.folder / "service-account.json", api=google.api, token_uri=google.token_uri
    )
    decoder = GoogleApiDecoder.from_service_account_file(account, endpoint=google.url)
    android = AndroidVerifier(
        app=state.android_app(),
        decoder=decoder,
        max_token_age_seconds=300,
        key_policy=KeyAttestationPolicy(),
        key_trust_roots=load_trust_roots([state.keystore.root_certificate]),
        revocation_fetcher=None,
        on_close=(google.stop,),
    )
    logger.warning(
        "EMULATED MODE: App Attest, Play Integrity and key attestation are checked against the emulator in %s, "
        "NOT against Apple or Google. The fake Google API listens on %s.",
        state.folder,
        google.url,
    )
    return apple, android
