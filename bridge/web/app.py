"""The ASGI application: routes, edge middleware, error mapping and the background housekeeping loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import timedelta
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from bridge.config import Settings, default_config_path, load_settings
from bridge.errors import BridgeError, StoreUnavailable
from bridge.instance import Instance, open_instance
from bridge.web import api_routes, assets, health_routes, launch_routes, saml_routes
from bridge.web.errors import bridge_error_handler, http_error_handler, unexpected_error_handler
from bridge.web.offload import Offload
from bridge.web.proxy import proxy_middleware
from bridge.web.security import EdgeMiddleware

log = logging.getLogger("bridge.web")
KEY_REFRESH_SECONDS = 5  # how soon a node sees another node's key transition (docs/deployment.md)

# Feature modules add their routes and background jobs here (admin console, simulator, SP refresh).
RouteFactory = Callable[[Instance], Iterable[BaseRoute]]
Job = Callable[[], None]  # bound at the composition root (open_instance) to the services it uses


def _purge(instance: Instance, last_purge: list[float]) -> None:
    now = instance.clock()
    if now.timestamp() - last_purge[0] >= instance.settings.store.purge_interval:
        last_purge[0] = now.timestamp()
        audit_before = now - timedelta(seconds=instance.settings.store.audit_retention)
        instance.store.purge_expired(now, audit_before=audit_before)


def housekeeping(instance: Instance, *, last_purge: list[float]) -> None:
    """One pass of the background loop: key states, fetch log, expired rows, feature jobs.

    Each step runs on its own: a key file that will not load must not stop the
    fetch log or the metadata refresh (the node keeps signing with the key it has).
    """
    steps: list[tuple[str, Callable[[], object]]] = [
        ("key refresh", instance.keyring.refresh),
        ("fetch log", instance.fetch_log.flush),
        ("rate limits", instance.limiter.flush),
        ("purge", lambda: _purge(instance, last_purge)),
    ]
    steps += [(getattr(job, "__name__", repr(job)), job) for job in instance.extras.get("jobs", ())]
    for name, step in steps:
        try:
            step()
        except StoreUnavailable as exc:
            log.warning("housekeeping: %s: store unavailable: %s", name, exc.detail)
        except BridgeError as exc:
            log.error("housekeeping: %s: %s", name, exc.detail)
        except Exception:
            log.exception("housekeeping: %s failed", name)


async def _background(instance: Instance) -> None:
    last_purge = [0.0]
    while True:
        await asyncio.sleep(KEY_REFRESH_SECONDS)
        # The loop's default executor, not the request threads: a slow metadata fetch or a long purge
        # must not take one of the few threads logins run on.
        await asyncio.to_thread(housekeeping, instance, last_purge=last_purge)


async def _refresh_store_cache(instance: Instance) -> None:
    """The store cache's own, faster cadence (``store.cache_refresh``, 1 s): one small read per poll, off the
    event loop; a slow key refresh or purge in the housekeeping pass never delays it. poll() never raises."""
    cache = instance.store_cache
    while True:
        await asyncio.sleep(cache.refresh)
        await asyncio.to_thread(cache.poll)


def _reload_on_sighup(instance: Instance) -> None:
    """SIGHUP makes the next background pass re-read the SP metadata files (``icbridge sp reload`` does the same
    from another process). Only the main thread can take signals: under a test client there is nothing to do,
    and with ``--workers N`` uvicorn's supervisor restarts the workers on SIGHUP instead."""
    sources = instance.extras.get("metadata_sources")
    if sources is None or threading.current_thread() is not threading.main_thread():
        return
    with contextlib.suppress(NotImplementedError, RuntimeError):  # no signals on this platform/loop
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, sources.request_reload)


def create_app(instance: Instance, *, extra_routes: Iterable[RouteFactory] = (), background: bool = True) -> Starlette:
    settings = instance.settings

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if not settings.idp.is_https:
            log.warning("base_url is plain http: cookies are SameSite=Lax without Secure (development only)")
        tasks = [asyncio.create_task(_background(instance)),
                 asyncio.create_task(_refresh_store_cache(instance))] if background else []
        _reload_on_sighup(instance)
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.to_thread(instance.fetch_log.flush)
            await asyncio.to_thread(instance.limiter.flush)
            app.state.offload.close()

    routes: list[BaseRoute] = [
        *saml_routes.routes, *api_routes.routes, *launch_routes.routes, *health_routes.routes, *assets.routes,
    ]
    routes.extend(health_routes.step_routes(instance))
    for factory in (*_feature_routes(), *extra_routes):
        routes.extend(factory(instance))
    app = Starlette(
        routes=routes,
        middleware=[
            *proxy_middleware(settings),
            Middleware(
                EdgeMiddleware, max_body=settings.limits.max_body, max_query=settings.limits.max_saml_message * 2,
                https=settings.idp.is_https, access=settings.logging.access,
            )
        ],
        exception_handlers={
            BridgeError: bridge_error_handler, StarletteHTTPException: http_error_handler,
            Exception: unexpected_error_handler,
        },
        lifespan=lifespan,
    )
    app.state.instance = instance
    app.state.offload = Offload(settings.server.threads)
    return app


def _feature_routes() -> list[RouteFactory]:
    """Optional features register themselves in bridge.web.features (admin console, simulator, …).

    Imported here, not at the top: the features import the web layer. An ImportError is a bug to surface,
    never a reason to serve without the console, the simulator and the payments API."""
    from bridge.web.features import ROUTE_FACTORIES

    return list(ROUTE_FACTORIES)


def app_from_settings(settings: Settings) -> Starlette:
    return create_app(open_instance(settings))


def app_from_env() -> Starlette:
    """uvicorn factory for ``icbridge serve`` (each worker process builds its own instance and logging)."""
    from bridge.logs import configure_logging

    settings = load_settings(default_config_path(os.environ.get("BRIDGE_CONFIG")))
    configure_logging(os.environ.get("BRIDGE_LOG_LEVEL") or settings.logging.level, settings.logging.format)
    return app_from_settings(settings)


def config_path_for_workers(path: Path) -> str:
    return str(path.resolve())
