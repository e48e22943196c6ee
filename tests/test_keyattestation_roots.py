"""The shipped roots are the pinned keys, and only those."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from app_integrity.android.keyattestation.roots import (
    google_root_spki_sha256,
    google_roots,
    load_trust_roots,
    software_roots,
)
from app_integrity.errors import ConfigError

GOOGLE_SPKI_SHA256 = {
    "google_rsa_root": "feb2ea7551ee316ed4bb443c8293b884dbfdea40b603ee3e4f4a897e4580fbae",
    "google_ec_p384_key_attestation_ca1": "3ee44512a1af2beb39c889490c60ea3f82e43f5d5a5532f5ab9419f676cd07ec",
}
SOFTWARE_SPKI_SHA256 = {
    "d5100c7942ef2e8310dc30ef82729680cf48d690735c3f68179a33c7c370f286",
    "f2c4746f545946c100e72297f8f946344d7052f03a2f694221f9c893b0e6f711",
}


def test_google_roots_are_two_pinned_keys() -> None:
    assert google_root_spki_sha256() == GOOGLE_SPKI_SHA256


def test_software_roots_are_recognised_separately() -> None:
    assert {hashlib.sha256(a.spki).hexdigest() for a in software_roots().anchors} == SOFTWARE_SPKI_SHA256
    google = {a.spki for a in google_roots().anchors}
    assert not google & {a.spki for a in software_roots().anchors}


@pytest.mark.parametrize("value", [[], [b"not a certificate"], ["-----BEGIN CERTIFICATE-----\nAAAA\n"], [42]])
def test_bad_trust_roots_are_configuration_errors(value: Any) -> None:
    with pytest.raises(ConfigError):
        load_trust_roots(value)
