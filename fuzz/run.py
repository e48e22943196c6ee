"""Run the atheris harnesses, each for a bounded time, from a seed corpus built now; print executions per harness.

    python -m fuzz.run --seconds 3              # the CI-sized run (.ci/run)
    python -m fuzz.run --seconds 55 --keep fuzz/corpus   # the long run (fuzz/README.md)
    python -m fuzz.run header config            # some harnesses only

A harness that finds an input raising anything but the allowed typed error stops, libFuzzer writes the input
(``crash-<sha1>``) into the working directory, and this exits non-zero.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from hashlib import sha1
from pathlib import Path

from fuzz.targets import TARGETS, shared_dir

_RUNS = re.compile(rb"(?:Done (\d+) runs|#(\d+)\s+DONE)")


def _write_seeds(name: str, folder: Path) -> int:
    seeds = TARGETS[name].seeds()
    for seed in seeds:
        (folder / sha1(seed, usedforsecurity=False).hexdigest()).write_bytes(seed)
    return len(seeds)


def run_one(name: str, seconds: int, corpus: Path, artifacts: Path) -> dict[str, object]:
    corpus.mkdir(parents=True, exist_ok=True)
    seeds = _write_seeds(name, corpus)
    command = [
        sys.executable,
        "-m",
        f"fuzz.fuzz_{name}",
        str(corpus),
        f"-max_total_time={seconds}",
        "-timeout=10",
        "-rss_limit_mb=2048",
        "-max_len=65536",
        f"-artifact_prefix={artifacts}/",
        "-print_final_stats=1",
    ]
    started = time.monotonic()
    completed = subprocess.run(command, capture_output=True, check=False, timeout=seconds + 120)
    elapsed = time.monotonic() - started
    match = _RUNS.search(completed.stderr)
    runs = int(next(g for g in match.groups() if g)) if match else 0
    result: dict[str, object] = {
        "harness": name,
        "seeds": seeds,
        "executions": runs,
        "seconds": round(elapsed, 1),
        "per_second": round(runs / elapsed) if elapsed else 0,
        "corpus": len(list(corpus.iterdir())),
        "ok": completed.returncode == 0,
    }
    if completed.returncode != 0:
        sys.stderr.write(completed.stderr.decode("utf-8", "replace")[-6000:])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help=f"harnesses to run (default all: {', '.join(TARGETS)})")
    parser.add_argument("--seconds", type=int, default=3, help="time per harness (default 3)")
    parser.add_argument("--keep", type=Path, help="keep the corpora in this folder (one sub-folder per harness)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    options = parser.parse_args(argv)
    unknown = sorted(set(options.names) - set(TARGETS))
    if unknown:
        parser.error(f"unknown harnesses {unknown}")
    if shared_dir() is None:
        print("note: ../shared is absent: seeds come from the emulators only", file=sys.stderr)
    results = []
    with tempfile.TemporaryDirectory(prefix="app-integrity-fuzz-") as temporary:
        root = options.keep or Path(temporary)
        artifacts = Path.cwd()
        for name in options.names or list(TARGETS):
            result = run_one(name, options.seconds, root / name, artifacts)
            results.append(result)
            status = "ok" if result["ok"] else "FAILED"
            print(
                f"{name:24} {result['executions']:>10} runs  {result['per_second']:>7}/s  "
                f"seeds {result['seeds']:>3}  corpus {result['corpus']:>5}  {status}",
                flush=True,
            )
    total = sum(int(str(r["executions"])) for r in results)
    print(f"{'total':24} {total:>10} runs")
    if options.json:
        options.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
