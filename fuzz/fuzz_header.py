"""Fuzz the header parser: `python -m fuzz.fuzz_header CORPUS_DIR [libFuzzer flags]`."""

from fuzz.harness import fuzz

if __name__ == "__main__":
    fuzz("header")
