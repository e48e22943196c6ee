"""Fuzz the session parser: `python -m fuzz.fuzz_session CORPUS_DIR [libFuzzer flags]`."""

from fuzz.harness import fuzz

if __name__ == "__main__":
    fuzz("session")
