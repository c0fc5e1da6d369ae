"""Optional features' route factories, mounted by bridge.web.app (admin console, IC simulator)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from starlette.routing import BaseRoute

from bridge.instance import Instance
from bridge.simulator.cpv2 import routes as simulator_cpv2_routes
from bridge.simulator.routes import routes as simulator_routes
from bridge.web.admin import routes as admin_routes
from bridge.web.payment_routes import routes as payment_routes

ROUTE_FACTORIES: list[Callable[[Instance], Iterable[BaseRoute]]] = [
    admin_routes, simulator_routes, simulator_cpv2_routes, payment_routes,
]
