"""Fuzz the play verdict parser: `python -m fuzz.fuzz_play_verdict CORPUS_DIR [libFuzzer flags]`."""

from fuzz.harness import fuzz

if __name__ == "__main__":
    fuzz("play_verdict")
