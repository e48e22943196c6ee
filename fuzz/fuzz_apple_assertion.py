"""Fuzz the apple assertion parser: `python -m fuzz.fuzz_apple_assertion CORPUS_DIR [libFuzzer flags]`."""

from fuzz.harness import fuzz

if __name__ == "__main__":
    fuzz("apple_assertion")
