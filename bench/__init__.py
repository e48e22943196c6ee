"""Benchmarks: each module measures one verifier against the cryptographic floor measured in the same run."""
