"""Fuzz the apple attestation parser: `python -m fuzz.fuzz_apple_attestation CORPUS_DIR [libFuzzer flags]`."""

from fuzz.harness import fuzz

if __name__ == "__main__":
    fuzz("apple_attestation")
