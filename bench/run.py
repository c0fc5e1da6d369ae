"""The bridge benchmark: server CPU per SP-initiated login, next to one raw RSA signature and peer IdPs.

Usage: ``.venv/bin/python -m bench.run [--phase-seconds 3.5] [--max-requests 8000]``

What runs (docs/benchmark.md):
1. in-process references, per CPU-second of the measuring process: RSA-2048
   PKCS#1 v1.5/SHA-256 signatures with ``cryptography`` (the floor),
   ``build_response`` alone, and the peers signing an assertion with the same
   key: pysaml2's IdP, samlify (Node) and SimpleSAMLphp's SAML2 library (PHP);
2. a fresh ``icbridge init`` instance under ``icbridge serve`` (1 worker, then 2)
   on 127.0.0.1, default logging: complete SP-initiated logins (a fresh signed
   AuthnRequest with a valid session cookie in, the signed auto-POST page out)
   at concurrency 1, 8 and 32, and metadata GETs; the load generator is a
   separate process;
3. a breakdown phase (1 worker, c8, its own server with BRIDGE_BENCH_STEPS=1):
   the per-step CPU timers of bridge/steps.py next to the /proc total;
4. a PostgreSQL phase (1 worker, c8) with the PostgreSQL backends' CPU counted
   separately;
5. the headline (server CPU per login and cpu_ratio = raw RSA ms ÷ login CPU ms,
   per phase), issue 21's targets, printed and written to
   ``bench/results/<timestamp>.json``.

Headline figures are CPU times read from /proc (all threads, user + system), so the load client sharing
the machine's CPUs barely moves them; logins/s and latency are shared-CPU figures and labelled so. It
never fails because the machine is slow: every phase is bounded in time and count, and a missed target is
reported, not raised.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import multiprocessing
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from bench import peers, reference
from bench.loadgen import raw_get, run_load
from bench.server import (
    HOST,
    SP_ACS,
    SP_ENTITY,
    BenchInstance,
    RequestPool,
    Server,
    _cpu_seconds,
    authn_request_query,
    bench_sp,
    create_instance,
    free_port,
    load_average,
    session_cookie,
    sp_metadata,
)

RESULTS = Path(__file__).parent / "results"
POST_PAGE_MARK = b'name="SAMLResponse"'
SHARED_CPU = "shared-CPU (client and server on {cpus} cores)"
POSTGRES_URL = os.environ.get("BRIDGE_BENCH_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
PEER_NAMES = {"pysaml2_idp": "pysaml2", "samlify": "samlify", "simplesamlphp": "SimpleSAMLphp"}


def _machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent, timeout=5).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        commit = ""
    return {"cpus": os.cpu_count(), "cpu_model": model, "python": platform.python_version(), "commit": commit}


def _signing_key(instance: BenchInstance):  # type: ignore[no-untyped-def]
    """The instance's active key, loaded once, as the server loads it."""
    from bridge.config import load_settings
    from bridge.keys.ring import KeyRing
    from bridge.store import open_store

    settings = load_settings(instance.config)
    store = open_store(settings)
    try:
        ring = KeyRing(store, settings)
        ring.refresh()
        key = ring.active
        record = next(r for r in store.list_keys() if r.kid == key.kid)
        key_pem = settings.path(record.key_path).read_bytes()
    finally:
        store.close()
    return key, key_pem


def references(instance: BenchInstance, *, seconds: float, max_count: int, with_peers: bool = True
               ) -> dict[str, Any]:
    key, key_pem = _signing_key(instance)
    refs: dict[str, Any] = {
        "raw_rsa": reference.raw_rsa(key, seconds=seconds, max_count=max_count * 10),
        "ours_build_sign": reference.ours_in_process(key, seconds=seconds, max_count=max_count * 5,
                                                     sp=SP_ENTITY, acs=SP_ACS),
        "pysaml2_idp": reference.pysaml2_idp(key_pem, key.certificate.pem, sp_metadata(), sp=SP_ENTITY,
                                             acs=SP_ACS, seconds=seconds, max_count=max_count),
    }
    for name in peers.PEERS:
        refs[name] = (peers.measure(name, key_pem, key.certificate.pem, sp=SP_ENTITY, acs=SP_ACS, seconds=seconds,
                                    max_count=max_count * 50)
                      if with_peers else {"skipped": "peers not requested"})
    return refs


ADJACENT_RSA_SECONDS = 0.4  # the raw RSA rate sampled next to each login phase
WARM_UP_REQUESTS = 200


class Rig:
    """One running server and what its phases share: the load client, the session cookie, signed requests."""

    def __init__(self, instance: BenchInstance, server: Server, client: ProcessPoolExecutor, pool: RequestPool,
                 *, key: Any, max_requests: int, cookie: str | None = None) -> None:
        self.instance, self.server, self.client, self.pool = instance, server, client, pool
        self.key, self.max_requests = key, max_requests
        self.cookie = cookie if cookie is not None else session_cookie(instance)
        self.rate_hint = 0.0  # best logins/s seen on this server: how many signed requests the next phase needs

    def warm_up(self, seconds: float) -> None:
        # First requests pay for imports, XSD compilation, key load, connection setup.
        self.logins(8, min(1.0, seconds), count=min(WARM_UP_REQUESTS, self.max_requests))

    def logins(self, concurrency: int, seconds: float, *, count: int | None = None,
               probe: Callable[[], Any] | None = None) -> dict[str, Any]:
        if count is None:
            # Enough for the phase at twice the best rate seen on this server (signing one costs the bench an
            # RSA signature); a phase that runs out ends early and says so; the ones not sent go back to the pool.
            count = min(self.max_requests, math.ceil(self.rate_hint * seconds * 2) + 100)
        targets = self.pool.take(count)
        result = self.load(targets, concurrency, seconds, POST_PAGE_MARK, probe=probe)
        sent = int(result["completed"]) + int(result["failed"])
        self.pool.give_back(targets[sent:])
        result["ran_out"] = sent >= len(targets) and result["seconds"] < seconds * 0.95
        if result["seconds"]:
            self.rate_hint = max(result["completed"] / result["seconds"], self.rate_hint, 1.0)
        return result

    def load(self, targets: list[str], concurrency: int, phase_seconds: float, expect: bytes,
             probe: Callable[[], Any] | None = None) -> dict[str, Any]:
        requests = [raw_get(HOST, self.instance.port, t, self.cookie) for t in targets]
        # This machine class drifts (±20 % in an hour): the floor is sampled again right before the
        # phase, with the server idle, so each ratio compares figures taken seconds apart.
        rsa = reference.raw_rsa(self.key, seconds=ADJACENT_RSA_SECONDS, max_count=5000)
        load_before = load_average()
        before = probe() if probe else None
        cpu_before = self.server.cpu_seconds()
        result: dict[str, Any] = self.client.submit(
            run_load, HOST, self.instance.port, requests, concurrency=concurrency, seconds=phase_seconds,
            expect=expect).result(timeout=phase_seconds + 60)
        cpu = self.server.cpu_seconds() - cpu_before
        after = probe() if probe else None
        done = max(int(result["completed"]), 1)
        # CPU per request (all threads, user + system, /proc) is what a login costs the server, whatever
        # else the machine is doing; the wall figures measure the client as much as the server.
        result["server_cpu_seconds"] = round(cpu, 3)
        result["server_cpu_ms_per_request"] = round(cpu / done * 1000, 3)
        result["raw_rsa_adjacent"] = rsa["per_second"]
        result["raw_rsa_ms_adjacent"] = rsa["mean_ms"]
        result["cpu_ratio"] = _ratio(rsa["mean_ms"], result["server_cpu_ms_per_request"])
        result["load_average_before"] = load_before
        if probe:
            result["probe"] = {"before": before, "after": after}
        return result


def http_phases(
    instance: BenchInstance, client: ProcessPoolExecutor, pool: RequestPool, *, workers: int,
    concurrencies: tuple[int, ...], seconds: float, max_requests: int, metadata: bool, deadline: float, key: Any,
    check_signature: bool = False,
) -> dict[str, Any]:
    """Every phase on one server; phases that would end past ``deadline`` (perf_counter) are skipped."""
    results: dict[str, Any] = {"workers": workers, "store": "sqlite", "logins": [], "skipped": []}
    with Server(instance, workers=workers) as server:
        rig = Rig(instance, server, client, pool, key=key, max_requests=max_requests)
        if check_signature:
            results["signature_check"] = signature_check(rig)
        rig.warm_up(seconds)
        for concurrency in concurrencies:
            if time.perf_counter() + seconds > deadline:
                results["skipped"].append(f"logins at concurrency {concurrency}: over the time budget")
                continue
            results["logins"].append(rig.logins(concurrency, seconds))
        if metadata and time.perf_counter() + seconds / 2 <= deadline:
            targets = ["/saml/metadata"] * max_requests
            results["metadata"] = rig.load(targets, 8, seconds / 2, b"EntityDescriptor")
        results["peak_rss_mb"] = server.peak_rss_mb()
        results["_cookie"] = rig.cookie  # for the floor phase; not written to the JSON
    return results


def signature_check(rig: Rig) -> dict[str, Any]:
    """The bridge verifies the SP's request signature: a good one gets the POST page, a forged one does not."""
    instance = rig.instance
    now = datetime.now(UTC)
    run = uuid.uuid4().hex[:8]
    good = authn_request_query(f"_sig{run}a", sso_url=instance.sso_url, now=now, sp=bench_sp())
    forged = authn_request_query(f"_sig{run}b", sso_url=instance.sso_url, now=now, sp=bench_sp())
    forged = forged.replace("RelayState=bench", "RelayState=other")  # the signature no longer covers the octets
    unsigned = authn_request_query(f"_sig{run}c", sso_url=instance.sso_url, now=now)
    outcome, page_bytes = {}, 0
    with httpx.Client(base_url=instance.base_url, timeout=10, headers={"Cookie": rig.cookie}) as http:
        for name, query in (("signed", good), ("forged", forged), ("unsigned", unsigned)):
            answer = http.get(f"/saml/sso?{query}")
            outcome[name] = answer.status_code == 200 and POST_PAGE_MARK in answer.content
            page_bytes = page_bytes or (len(answer.content) if outcome[name] else 0)
    return {"signed_accepted": outcome["signed"], "forged_refused": not outcome["forged"],
            "unsigned_refused": not outcome["unsigned"], "page_bytes": page_bytes}


def breakdown_phase(instance: BenchInstance, client: ProcessPoolExecutor, pool: RequestPool, *, seconds: float,
                    max_requests: int, key: Any) -> dict[str, Any]:
    """1 worker, c8, its own server with the bench-only step timers on: per-step CPU next to the /proc total."""
    env = {"BRIDGE_BENCH_STEPS": "1"}
    with Server(instance, workers=1, env=env, name="-steps") as server, \
            httpx.Client(base_url=instance.base_url, timeout=10) as http:
        rig = Rig(instance, server, client, pool, key=key, max_requests=max_requests)

        def steps() -> dict[str, dict[str, int]]:
            answer = http.get("/bench/steps")
            answer.raise_for_status()
            return dict(answer.json())

        steps()  # 404 here means the server did not take the switch
        rig.warm_up(seconds)
        phase = rig.logins(8, seconds, probe=steps)
    before, after = phase.pop("probe").values()
    done = max(int(phase["completed"]), 1)
    table = {}
    for name, totals in after.items():
        ns = totals["ns"] - before.get(name, {}).get("ns", 0)
        count = totals["count"] - before.get(name, {}).get("count", 0)
        if count or ns:
            table[name] = {"us_per_login": round(ns / done / 1000, 1), "per_login": round(count / done, 3)}
    total_us = phase["server_cpu_ms_per_request"] * 1000
    steps_us = round(sum(row["us_per_login"] for row in table.values()), 1)
    phase.update({"workers": 1, "store": "sqlite", "env": env, "steps": table, "steps_sum_us_per_login": steps_us,
                  "total_us_per_login": round(total_us, 1), "rest_us_per_login": round(total_us - steps_us, 1)})
    return phase


def floor_phase(instance: BenchInstance, client: ProcessPoolExecutor, pool: RequestPool, *, seconds: float,
                max_requests: int, key: Any, key_pem: bytes, cookie: str, page_bytes: int) -> dict[str, Any]:
    """1 worker, c8: bench.floor (uvicorn + Starlette + one RSA signature, the bridge's page size) on its own port.

    The same signed requests and cookie go on the wire as to the bridge; the floor marks nothing used, so
    every request goes back to the pool afterwards.
    """
    key_path = instance.directory / "floor-key.pem"
    key_path.touch(mode=0o600)
    key_path.write_bytes(key_pem)
    floor = dataclasses.replace(instance, port=free_port())
    command = [sys.executable, "-m", "bench.floor", "--port", str(floor.port), "--key", str(key_path),
               "--page-bytes", str(page_bytes or 6000)]
    with Server(floor, workers=1, name="-floor", command=command) as server:
        rig = Rig(floor, server, client, pool, key=key, max_requests=max_requests, cookie=cookie)
        distinct = pool.take(min(max_requests, 500))
        targets = (distinct * (max_requests // len(distinct) + 1))[:max_requests]  # the floor keeps no replay marks
        rig.load(targets[:min(WARM_UP_REQUESTS, max_requests)], 8, min(1.0, seconds), POST_PAGE_MARK)
        phase = rig.load(targets, 8, seconds, POST_PAGE_MARK)
        pool.give_back(distinct)
    phase.update({"workers": 1, "store": "none (floor)", "page_bytes": page_bytes,
                  "what": "uvicorn + Starlette, GET with the same request and cookie, one RSA-2048 signature "
                          "inline, an auto-POST page of the bridge's size; nothing else"})
    return phase


def _postgres_problem(url: str) -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed"
    try:
        psycopg.connect(url, connect_timeout=3, autocommit=True).close()
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None


def _with_params(url: str, **params: str) -> str:
    separator = "&" if "?" in url else "?"
    return url + separator + "&".join(f"{name}={quote(value, safe='')}" for name, value in params.items())


def postgres_phase(directory: Path, client: ProcessPoolExecutor, *, seconds: float, max_requests: int, key: Any,
                   url: str = POSTGRES_URL) -> dict[str, Any]:
    """1 worker, c8, on PostgreSQL: the server's CPU per login and, apart, its PostgreSQL backends' CPU.

    The instance lives in a schema made for the run (dropped after it). Its backends are the rows of
    pg_stat_activity with the run's own application_name (set in the store URL); their utime + stime come
    from /proc/PID/stat, read before and after the phase. PostgreSQL's background processes (WAL writer,
    checkpointer, ...) are reported on their own line: they serve everything else on that server too.
    """
    problem = _postgres_problem(url)
    if problem:
        return {"skipped": f"PostgreSQL not reachable at {url.split('@')[-1]}: {problem}"}
    import psycopg

    run = uuid.uuid4().hex[:12]
    schema, application = f"bench_{run}", f"icbridge-bench-{run}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        try:
            store_url = _with_params(url, options=f"-c search_path={schema}", application_name=application)
            instance = create_instance(directory, store_url=store_url)
            pool = RequestPool(instance.sso_url)

            def backends() -> dict[str, dict[int, float]]:
                rows = admin.execute("SELECT pid, application_name = %s, backend_type FROM pg_stat_activity",
                                     (application,)).fetchall()
                ours = {int(pid): _cpu_seconds(int(pid)) for pid, mine, _ in rows if mine}
                background = {int(pid): _cpu_seconds(int(pid)) for pid, _, kind in rows
                              if kind and kind != "client backend"}
                return {"ours": ours, "background": background}

            with Server(instance, workers=1, name="-pg") as server:
                rig = Rig(instance, server, client, pool, key=key, max_requests=max_requests)
                rig.warm_up(seconds)
                phase = rig.logins(8, seconds, probe=backends)
        finally:
            admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    before, after = phase.pop("probe").values()
    done = max(int(phase["completed"]), 1)

    def spent(kind: str) -> float:
        return sum(cpu - before[kind].get(pid, 0.0) for pid, cpu in after[kind].items())

    pg_ms = spent("ours") / done * 1000
    server_ms = phase["server_cpu_ms_per_request"]
    phase.update({
        "workers": 1, "store": "postgresql",
        "postgres_backends": len(after["ours"]),
        "postgres_backends_cpu_ms_per_request": round(pg_ms, 3),
        "postgres_background_cpu_ms_per_request": round(spent("background") / done * 1000, 3),
        "server_and_backends_cpu_ms_per_request": round(server_ms + pg_ms, 3),
        "cpu_ratio_with_backends": _ratio(phase["raw_rsa_ms_adjacent"], server_ms + pg_ms),
        "backends_identified_by": "pg_stat_activity.application_name set in the instance's store URL",
    })
    return phase


HTTP_BUDGET = 60.0  # seconds for the SQLite HTTP phases together (issue #7); breakdown and PostgreSQL come after


def _at(phases: dict[str, Any], concurrency: int) -> dict[str, Any] | None:
    return next((p for p in phases["logins"] if p["concurrency"] == concurrency), None)


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def headline(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per login phase: server CPU ms per login and cpu_ratio (adjacent raw RSA ms ÷ login CPU ms)."""
    rows = []
    for phases in report["http"]:
        for p in phases["logins"]:
            rows.append(_row(f"SQLite, {phases['workers']} worker{'s' if phases['workers'] > 1 else ''}, "
                             f"c{p['concurrency']}", p))
    pg = report.get("postgres", {})
    if "completed" in pg:
        rows.append(_row("PostgreSQL, 1 worker, c8 (server only)", pg)
                    | {"postgres_backends_cpu_ms": pg["postgres_backends_cpu_ms_per_request"],
                       "cpu_ratio_with_backends": pg["cpu_ratio_with_backends"]})
    steps = report.get("breakdown", {})
    if "completed" in steps:
        rows.append(_row("SQLite, 1 worker, c8, step timers on", steps))
    floor = report.get("floor", {})
    if "completed" in floor:
        rows.append(_row("bare-Starlette floor, 1 worker, c8", floor))
    return rows


def _row(phase: str, p: dict[str, Any]) -> dict[str, Any]:
    return {"phase": phase, "login_cpu_ms": p["server_cpu_ms_per_request"], "rsa_ms": p["raw_rsa_ms_adjacent"],
            "cpu_ratio": p["cpu_ratio"], "completed": p["completed"], "failed": p["failed"],
            "load_average_before": p.get("load_average_before")}


CPU_TARGET, CPU_STRETCH = 0.4, 0.5


def assess(report: dict[str, Any]) -> dict[str, Any]:
    """The headline, the ratios and issue 21's targets (met / missed); nothing here raises."""
    refs = report["references"]
    raw = refs["raw_rsa"]["per_second"]
    one = report["http"][0]
    two = report["http"][1] if len(report["http"]) > 1 else None
    c8 = _at(one, 8) or (one["logins"][-1] if one["logins"] else {"per_second": None})
    rss = max(one["peak_rss_mb"] + (two["peak_rss_mb"] if two else []), default=None)
    login_ms = c8.get("server_cpu_ms_per_request")
    ratios: dict[str, float | None] = {
        "cpu_ratio_c8_1w": c8.get("cpu_ratio"),
        "ours_build_sign_over_raw_rsa": _ratio(refs["ours_build_sign"]["per_second"], raw),
        "wall_c8_over_adjacent_raw_rsa": _ratio(c8["per_second"], c8.get("raw_rsa_adjacent")),
        "wall_two_workers_over_one": _ratio(_best(two) if two else None, _best(one)),
    }
    for name, label in PEER_NAMES.items():
        # How many of our logins cost the CPU of one peer response.
        ratios[f"{label}_cpu_over_ours"] = _ratio(refs.get(name, {}).get("mean_ms"), login_ms)
    metadata_rate = one.get("metadata", {}).get("per_second")
    targets: dict[str, bool | None] = {
        f"cpu_ratio >= {CPU_TARGET} (SQLite, 1 worker, c8, default logging)": _met(c8.get("cpu_ratio"), CPU_TARGET),
        f"stretch: cpu_ratio >= {CPU_STRETCH} (same phase)": _met(c8.get("cpu_ratio"), CPU_STRETCH),
    }
    notes: dict[str, str] = {}
    for name, label in PEER_NAMES.items():
        target = f"login CPU below {label}'s CPU per signed response"
        peer_ms = refs.get(name, {}).get("mean_ms")
        targets[target] = None if peer_ms is None or login_ms is None else login_ms < peer_ms
        if peer_ms is None:
            notes[target] = refs.get(name, {}).get("skipped") or refs.get(name, {}).get("failed") or "not measured"
    targets["peak RSS <= 150 MB per worker"] = None if rss is None else rss <= 150
    targets[f"metadata >= 5000 GET/s (1 worker, c8; {SHARED_CPU.format(cpus=os.cpu_count())})"] = \
        _met(metadata_rate, 5000)
    return {"headline": headline(report), "ratios": ratios, "targets": targets, "target_notes": notes}


def _best(phases: dict[str, Any]) -> float | None:
    """The best login rate of one server, in units of the raw RSA rate sampled next to it (drift-free)."""
    rates = [p["per_second"] / p["raw_rsa_adjacent"] for p in phases["logins"] if p.get("raw_rsa_adjacent")]
    return max(rates, default=None)


def _met(value: float | None, floor: float) -> bool | None:
    return None if value is None else value >= floor


def run_benchmark(
    *, phase_seconds: float = 3.5, max_requests: int = 8000, reference_seconds: float = 2.0,
    concurrencies: tuple[int, ...] = (1, 8, 32), workers: tuple[int, ...] = (1, 2), max_peer: int = 200,
    breakdown: bool = True, postgres: bool = True, with_peers: bool = True, floor: bool = True,
) -> dict[str, Any]:
    report: dict[str, Any] = {"started": datetime.now(UTC).isoformat(timespec="seconds"), "machine": _machine()}
    context = multiprocessing.get_context("spawn")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bridge-bench-") as tmp, \
            ProcessPoolExecutor(max_workers=1, mp_context=context) as client:
        bench_sp()  # the SP's request-signing key, made at bench start
        instance = create_instance(Path(tmp) / "instance")
        report["instance"] = {"store": "sqlite", "logging": "default (the server's log goes to its log file)",
                              "authn_requests": "HTTP-Redirect, signed RSA-SHA256 by the bench SP "
                                                "(AuthnRequestsSigned=\"true\" in its metadata)"}
        report["references"] = references(instance, seconds=reference_seconds, max_count=max_peer,
                                          with_peers=with_peers)
        key, key_pem = _signing_key(instance)
        client.submit(int, 0).result()  # start the client process before the clock runs
        report["client"] = {"process": "separate (spawned), raw asyncio HTTP/1.1 keep-alive",
                            "note": f"{os.cpu_count()} CPUs shared by the client and the server"}
        pool = RequestPool(instance.sso_url)
        http_started = time.perf_counter()
        report["http"] = [
            http_phases(instance, client, pool, workers=n, concurrencies=concurrencies, seconds=phase_seconds,
                        max_requests=max_requests, metadata=(n == workers[0]),
                        deadline=http_started + HTTP_BUDGET - 3, key=key, check_signature=(n == workers[0]))
            for n in workers
        ]
        report["http_seconds"] = round(time.perf_counter() - http_started, 1)
        cookie = report["http"][0].pop("_cookie")
        for phases in report["http"][1:]:
            phases.pop("_cookie", None)
        if floor:
            report["floor"] = floor_phase(instance, client, pool, seconds=phase_seconds, max_requests=max_requests,
                                          key=key, key_pem=key_pem, cookie=cookie,
                                          page_bytes=report["http"][0].get("signature_check", {}).get("page_bytes", 0))
        if breakdown:
            report["breakdown"] = breakdown_phase(instance, client, pool, seconds=phase_seconds,
                                                  max_requests=max_requests, key=key)
        if postgres:
            report["postgres"] = postgres_phase(Path(tmp) / "instance-pg", client, seconds=phase_seconds,
                                                max_requests=max_requests, key=key)
        report["signed_requests_made"] = pool.made
        # Again after the HTTP phases: a different figure means the machine's load changed during the run.
        report["references"]["raw_rsa_after"] = reference.raw_rsa(
            key, seconds=reference_seconds, max_count=max_peer * 10)
    report["total_seconds"] = round(time.perf_counter() - started, 1)
    report.update(assess(report))
    return report


def _fmt(value: Any, spec: str = "") -> str:
    return "-" if value is None else format(value, spec)


def _reference_line(label: str, figure: dict[str, Any], login_ms: float | None = None) -> str:
    if "per_second" not in figure:
        return f"  {label:<44} skipped: {figure.get('skipped') or figure.get('failed')}"
    versus = ""
    if login_ms:
        versus = f"   {figure['mean_ms'] / login_ms:6.2f} x our login CPU"
    return f"  {label:<44} {figure['per_second']:>9,.0f}  {figure['mean_ms']:>8.3f}{versus}"


def render(report: dict[str, Any]) -> str:
    refs = report["references"]
    machine = report["machine"]
    shared = SHARED_CPU.format(cpus=machine["cpus"])
    lines = [
        f"bridge benchmark  {report['started']}  commit {machine['commit'] or '?'}",
        f"machine: {machine['cpus']} CPUs ({machine['cpu_model']}), Python {machine['python']}; "
        f"load client: {report['client']['process']}; {report['client']['note']}",
        f"instance: {report['instance']['store']}, logging {report['instance']['logging']}; "
        f"AuthnRequests {report['instance']['authn_requests']}",
        "",
        "HEADLINE: server CPU per complete SP-initiated login (/proc, all threads, user + system)",
        "          cpu_ratio = one raw RSA-2048 signature's CPU ms (sampled right before the phase) / login CPU ms",
        "  phase                                       login CPU ms   RSA ms   cpu_ratio   ok/failed   load",
    ]
    for row in report["headline"]:
        lines.append(f"  {row['phase']:<44} {row['login_cpu_ms']:>10.3f}  {_fmt(row['rsa_ms'], '7.3f')}   "
                     f"{_fmt(row['cpu_ratio'], '9.3f')}   {row['completed']:>4}/{row['failed']:<4}  "
                     f"{_fmt(row['load_average_before'])}")
        if "postgres_backends_cpu_ms" in row:
            pg = report["postgres"]
            label = f"+ its {pg['postgres_backends']} PostgreSQL backends"
            lines.append(f"    {label:<42} {row['postgres_backends_cpu_ms']:>10.3f}            "
                         f"{_fmt(row['cpu_ratio_with_backends'], '9.3f')}   (cpu_ratio counting them too)")
            lines.append(f"    (PostgreSQL's background processes, shared with other users of that server: "
                         f"{pg['postgres_background_cpu_ms_per_request']:.3f} ms/login)")
    for name in ("postgres", "breakdown"):
        if "skipped" in report.get(name, {}):
            lines.append(f"  {name} phase skipped: {report[name]['skipped']}")
    busiest = max((row["load_average_before"] or 0 for row in report["headline"]), default=0)
    if busiest > (machine["cpus"] or 1):
        lines.append(f"  note: the machine was busy (load average up to {busiest} on {machine['cpus']} CPUs): CPU per "
                     "login rises under contention (evicted caches, more wake-ups); compare runs taken at low load")

    one = report["http"][0]
    c8 = _at(one, 8)
    login_ms = c8["server_cpu_ms_per_request"] if c8 else None
    lines += ["", "in-process, one core, per CPU-second of the measuring process (children included), same key",
              "                                                per second   CPU ms/op",
              _reference_line("raw RSA-2048 PKCS#1 v1.5 SHA-256 sign", refs["raw_rsa"]),
              _reference_line("our build_response (write+digest+sign)", refs["ours_build_sign"])]
    lines.append("  peers, assertion signed RSA-SHA256 / SHA-256 digest (vs our login CPU at c8, 1 worker):")
    lines.append(_reference_line("pysaml2 IdP create_authn_response", refs["pysaml2_idp"], login_ms))
    lines.append(_reference_line("samlify IdP createLoginResponse (Node)", refs["samlify"], login_ms))
    lines.append(_reference_line("SimpleSAMLphp SAML2 Response+Assertion", refs["simplesamlphp"], login_ms))
    after = refs.get("raw_rsa_after")
    if after:
        lines.append(_reference_line("raw RSA again, after the HTTP phases", after))

    steps = report.get("breakdown", {})
    if "steps" in steps:
        lines += ["", f"per-step breakdown (1 worker, c8, SQLite, its own server with BRIDGE_BENCH_STEPS=1; "
                      f"{steps['completed']} logins)",
                  "  step                                        µs/login   laps/login"]
        for name, row in sorted(steps["steps"].items(), key=lambda item: -item[1]["us_per_login"]):
            lines.append(f"  {name:<44} {row['us_per_login']:>8.1f}   {row['per_login']:>9.2f}")
        if not steps["steps"]:
            lines.append("  (no step reported a lap: the login path has no StepTimer.lap() calls yet)")
        lines += [
            f"  {'sum of steps':<44} {steps['steps_sum_us_per_login']:>8.1f}",
            f"  {'rest (HTTP parsing, event loop, other threads,':<44}",
            f"  {' kernel outside steps) = /proc total - sum':<44} {steps['rest_us_per_login']:>8.1f}",
            f"  {'/proc total with the switch on':<44} {steps['total_us_per_login']:>8.1f}   "
            f"(headline c8 without it: {_fmt(login_ms and login_ms * 1000, '.1f')})",
        ]
    floor = report.get("floor", {})
    if "completed" in floor:
        floor_us = floor["server_cpu_ms_per_request"] * 1000
        lines.append(f"  {'bare-Starlette floor (bench/floor.py)':<44} {floor_us:>8.1f}   "
                     f"(the bridge at c8 adds {_fmt(login_ms and login_ms * 1000 - floor_us, '.1f')} on top of it)")

    lines += ["", f"{shared}: HTTP, icbridge serve on 127.0.0.1",
              "  store      workers  conc   logins/s    p50 ms   p95 ms   p99 ms   ok/failed  load  ran out"]
    for phases in [*report["http"], *(p for p in (report.get("postgres"), report.get("breakdown"),
                                                  report.get("floor")) if p and "completed" in p)]:
        rows = phases.get("logins", [phases])
        for p in rows:
            label = "floor" if p is report.get("floor") else \
                phases["store"] + (" (steps)" if p is report.get("breakdown") else "")
            lines.append(
                f"  {label:<16} {phases['workers']:>1}  {p['concurrency']:>4}  {p['per_second']:>9,.0f}  "
                f"{_fmt(p['p50_ms'], '8.2f')} {_fmt(p['p95_ms'], '8.2f')} {_fmt(p['p99_ms'], '8.2f')}   "
                f"{p['completed']}/{p['failed']}  {_fmt(p.get('load_average_before'))}  "
                f"{'yes' if p.get('ran_out') else 'no'}"
            )
            if p["first_failure"]:
                lines.append(f"           first failure: {p['first_failure']}")
        lines += [f"  skipped: {reason}" for reason in phases.get("skipped", [])]
        if "peak_rss_mb" in phases:
            lines.append(f"  {phases['workers']} worker(s): peak RSS per worker {phases['peak_rss_mb']} MB")
        if "metadata" in phases:
            m = phases["metadata"]
            lines.append(f"  metadata GET, {phases['workers']} worker, concurrency 8: {m['per_second']:,.0f}/s "
                         f"(p99 {_fmt(m['p99_ms'])} ms)")
    check = one.get("signature_check")
    if check:
        lines.append(f"  request signatures verified by the bridge: signed accepted {check['signed_accepted']}, "
                     f"forged refused {check['forged_refused']}, unsigned refused {check['unsigned_refused']}")

    lines += ["", "ratios"]
    lines += [f"  {name:<34} {_fmt(value)}" for name, value in report["ratios"].items()]
    lines += ["", "targets (issue 21)"]
    for name, met in report["targets"].items():
        note = report["target_notes"].get(name)
        lines.append(f"  {'met   ' if met else 'MISSED' if met is False else 'n/a   '} {name}"
                     + (f"  ({note})" if note else ""))
    lines.append(f"\nSQLite HTTP phases took {report['http_seconds']} s; the whole run {report['total_seconds']} s")
    return "\n".join(lines)


def write_results(report: dict[str, Any], directory: Path = RESULTS) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(report, indent=2))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--phase-seconds", type=float, default=3.5, help="length of each HTTP phase (default 3.5)")
    parser.add_argument("--max-requests", type=int, default=8000, help="AuthnRequests per phase at most (8000)")
    parser.add_argument("--reference-seconds", type=float, default=2.0, help="length of each in-process figure")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--no-breakdown", action="store_true", help="skip the per-step breakdown phase")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL phase")
    parser.add_argument("--no-peers", action="store_true", help="skip samlify and SimpleSAMLphp")
    parser.add_argument("--no-floor", action="store_true", help="skip the bare-Starlette floor phase")
    args = parser.parse_args(argv)
    report = run_benchmark(phase_seconds=args.phase_seconds, max_requests=args.max_requests,
                           reference_seconds=args.reference_seconds, workers=tuple(args.workers),
                           breakdown=not args.no_breakdown, postgres=not args.no_postgres,
                           with_peers=not args.no_peers, floor=not args.no_floor)
    print(render(report))
    print(f"\nJSON: {write_results(report)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
