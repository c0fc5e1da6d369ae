"""Benchmarks of the bridge's hot path (README, "Benchmark"); not part of the test suite."""
