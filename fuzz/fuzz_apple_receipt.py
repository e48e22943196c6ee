"""Fuzz the apple receipt parser: `python -m fuzz.fuzz_apple_receipt CORPUS_DIR [libFuzzer flags]`."""

from fuzz.harness import fuzz

if __name__ == "__main__":
    fuzz("apple_receipt")
