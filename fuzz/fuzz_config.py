"""Fuzz the config parser: `python -m fuzz.fuzz_config CORPUS_DIR [libFuzzer flags]`."""

from fuzz.harness import fuzz

if __name__ == "__main__":
    fuzz("config")
