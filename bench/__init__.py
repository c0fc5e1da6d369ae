"""Benchmarks of the bridge's hot path (docs/benchmark.md); not part of the test suite."""
