"""The body every ``fuzz_<target>.py`` shares: instrument the package, then fuzz one target with libFuzzer."""

from __future__ import annotations

import sys

import atheris


def fuzz(name: str) -> None:
    with atheris.instrument_imports(include=["app_integrity", "cbor2", "asn1crypto"]):
        from fuzz.targets import TARGETS

    target = TARGETS[name]
    atheris.Setup(sys.argv, target.test_one_input)
    atheris.Fuzz()
