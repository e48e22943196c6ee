"""Fuzz the key attestation chain parser: `python -m fuzz.fuzz_key_attestation_chain CORPUS_DIR [libFuzzer flags]`."""

from fuzz.harness import fuzz

if __name__ == "__main__":
    fuzz("key_attestation_chain")
