"""The admin console at ``/admin``: server-rendered pages (Starlette + Jinja2), no client-side app.

``auth`` owns credentials, the admin session cookie and the page guard; ``csrf`` the form tokens;
``views`` the dashboard, audit and login pages; ``billers`` the biller pages and IC setup sheet;
``keys`` the signing-key lifecycle (through bridge.keys.lifecycle); ``payments`` the Cloud Payments V2
requests, PostBacks and webhook deliveries (through bridge.payments); ``sessions`` the admin's own
session and "sign out everywhere"; ``reauth`` the fresh credentials password-equivalent actions need.
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from bridge.instance import Instance


def routes(instance: Instance) -> list[BaseRoute]:
    from bridge.web.admin import billers, keys, payments, sessions, views

    return [*views.routes, *billers.routes, *keys.routes, *payments.routes, *sessions.routes]
