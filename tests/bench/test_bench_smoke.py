"""The benchmark script still runs end to end with tiny counts: kept from rotting, its figures are not checked."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.run import render, run_benchmark, write_results


@pytest.mark.slow
def test_benchmark_runs_with_tiny_counts_and_writes_its_json(tmp_path):
    report = run_benchmark(phase_seconds=0.3, max_requests=15, reference_seconds=0.05, concurrencies=(1, 2),
                           workers=(1,), max_peer=2)
    logins = report["http"][0]["logins"]
    assert [p["concurrency"] for p in logins] == [1, 2]
    assert all(p["completed"] > 0 and p["failed"] == 0 for p in logins), logins
    assert report["http"][0]["metadata"]["completed"] > 0
    assert report["references"]["raw_rsa"]["per_second"] > 0
    assert "targets (issue #7)" in render(report)
    assert write_results(report, tmp_path).exists()
