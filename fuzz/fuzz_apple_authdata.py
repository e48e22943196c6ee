"""Fuzz the apple authdata parser: `python -m fuzz.fuzz_apple_authdata CORPUS_DIR [libFuzzer flags]`."""

from fuzz.harness import fuzz

if __name__ == "__main__":
    fuzz("apple_authdata")
