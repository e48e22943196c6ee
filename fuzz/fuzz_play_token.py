"""Fuzz the play token parser: `python -m fuzz.fuzz_play_token CORPUS_DIR [libFuzzer flags]`."""

from fuzz.harness import fuzz

if __name__ == "__main__":
    fuzz("play_token")
