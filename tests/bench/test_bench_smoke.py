"""The benchmark script still runs end to end with tiny counts: kept from rotting, its figures are not checked.

Every part must work or say why it could not: a peer may be skipped only because it is not installed
(bench/peers/install.sh), the PostgreSQL phase only because no server answers; a failure is a failure.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import peers
from bench.run import POSTGRES_URL, _postgres_problem, render, run_benchmark, write_results


@pytest.mark.slow
def test_benchmark_runs_with_tiny_counts_and_writes_its_json(tmp_path):
    report = run_benchmark(phase_seconds=0.3, max_requests=15, reference_seconds=0.05, concurrencies=(1, 2),
                           workers=(1,), max_peer=2)
    http = report["http"][0]
    logins = http["logins"]
    assert [p["concurrency"] for p in logins] == [1, 2]
    # The bench SP signs its requests and the bridge verifies them: none may fail.
    assert all(p["completed"] > 0 and p["failed"] == 0 for p in logins), logins
    check = http["signature_check"]
    assert (check["signed_accepted"], check["forged_refused"], check["unsigned_refused"]) == (True, True, True)
    assert http["metadata"]["completed"] > 0
    # /proc counts CPU in clock ticks (10 ms): a tiny phase may read 0, never less; the ratio follows.
    assert all(p["server_cpu_ms_per_request"] >= 0 for p in logins), logins
    assert all(p["cpu_ratio"] > 0 for p in logins if p["server_cpu_ms_per_request"] > 0), logins

    refs = report["references"]
    assert refs["raw_rsa"]["per_second"] > 0
    for name, (_, missing) in peers.PEERS.items():
        problem = missing()
        assert ("skipped" in refs[name]) == bool(problem), (name, refs[name])
        if not problem:
            assert refs[name]["count"] > 0, refs[name]

    steps = report["breakdown"]
    assert steps["completed"] > 0 and steps["failed"] == 0, steps
    assert steps["rest_us_per_login"] == pytest.approx(steps["total_us_per_login"] - steps["steps_sum_us_per_login"],
                                                       abs=0.2)

    floor = report["floor"]
    assert floor["completed"] > 0 and floor["failed"] == 0 and floor["server_cpu_ms_per_request"] >= 0, floor
    assert http["signature_check"]["page_bytes"] > 0 and floor["page_bytes"] == http["signature_check"]["page_bytes"]

    pg = report["postgres"]
    if _postgres_problem(POSTGRES_URL) is None:
        assert pg["completed"] > 0 and pg["failed"] == 0, pg
        assert pg["postgres_backends"] > 0 and pg["postgres_backends_cpu_ms_per_request"] >= 0, pg
    else:
        assert "not reachable" in pg["skipped"]

    phases = [row["phase"] for row in report["headline"]]
    assert phases[:2] == ["SQLite, 1 worker, c1", "SQLite, 1 worker, c2"], phases
    assert "SQLite, 1 worker, c8, step timers on" in phases and "bare-Starlette floor, 1 worker, c8" in phases
    text = render(report)
    assert "HEADLINE: server CPU per complete SP-initiated login" in text
    assert "targets (issue 21)" in text and "shared-CPU (client and server" in text
    assert write_results(report, tmp_path).exists()
