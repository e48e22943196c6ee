"""Fuzz the key description parser: `python -m fuzz.fuzz_key_description CORPUS_DIR [libFuzzer flags]`."""

from fuzz.harness import fuzz

if __name__ == "__main__":
    fuzz("key_description")
