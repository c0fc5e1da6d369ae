"""Liveness, readiness and Prometheus metrics (CONTRACT.md)."""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bridge.errors import StoreUnavailable
from bridge.instance import Instance
from bridge.metrics import CONTENT_TYPE
from bridge.web.offload import in_thread


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def readiness(instance: Instance) -> tuple[int, dict[str, object]]:
    """503 when the store does not answer or no key signs; 200 "degraded" when the active cert expires soon."""
    checks: dict[str, object] = {}
    status = "ok"
    try:
        instance.store.ping()
        checks["store"] = "ok"
    except StoreUnavailable as exc:
        checks["store"] = f"unavailable: {exc.detail}"
        status = "unavailable"
    active = instance.keyring.current.active
    if active is None:
        checks["signing_key"] = "no active signing key"
        status = "unavailable"
    else:
        now = instance.clock()
        expires = active.certificate.not_after
        checks["signing_key"] = {"kid": active.kid, "expires": expires.isoformat()}
        if expires <= now:
            checks["signing_key"] = f"active certificate {active.kid} has expired"
            status = "unavailable"
        elif status == "ok" and expires - now < timedelta(days=instance.settings.keys.expiry_warning_days):
            status = "degraded"
            checks["expiry_warning"] = f"active certificate {active.kid} expires in {(expires - now).days} days"
    for name, problem in instance.extras.get("readiness_problems", {}).items():
        checks[name] = problem
        if status == "ok":
            status = "degraded"
    return (503 if status == "unavailable" else 200), {"status": status, "checks": checks}


async def readyz(request: Request) -> Response:
    code, body = await in_thread(request, readiness, request.app.state.instance)
    return JSONResponse(body, status_code=code)


async def metrics(request: Request) -> Response:
    instance: Instance = request.app.state.instance
    now = instance.clock()
    keys = instance.keyring.current  # one snapshot: states and certificates agree
    states = {record.kid: record.state for record in keys.records}
    instance.metrics.key_expiry.clear()  # a key that left the metadata leaves the gauge too
    for certificate in keys.published:
        instance.metrics.key_expiry.labels(certificate.kid, states[certificate.kid]).set(
            (certificate.not_after - now).total_seconds()
        )
    instance.metrics.biller_key_expiry.clear()
    for ring in instance.keyring.rings():
        own = instance.keyring.own(ring)
        if not ring or not own.published:
            continue
        own_states = {record.kid: record.state for record in own.records}
        for certificate in own.published:
            instance.metrics.biller_key_expiry.labels(ring, certificate.kid, own_states[certificate.kid]).set(
                (certificate.not_after - now).total_seconds()
            )
    return Response(instance.metrics.render(), media_type=CONTENT_TYPE)


async def bench_steps(request: Request) -> Response:
    """Per-step CPU totals (bridge.steps); routed only when the bench-only switch is on."""
    instance: Instance = request.app.state.instance
    return JSONResponse(instance.steps.totals())


def step_routes(instance: Instance) -> list[Route]:
    return [Route("/bench/steps", bench_steps, methods=["GET"])] if instance.steps.enabled else []


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
