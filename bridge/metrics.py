"""Prometheus metrics (prometheus-client), one registry per instance: no process-global state."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.logins = Counter(
            "bridge_logins_total", "Sign-ins by biller, flow and outcome", ["biller", "flow", "outcome"],
            registry=self.registry,
        )
        self.sso_latency = Histogram(
            "bridge_sso_seconds", "Time to answer an AuthnRequest", registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
        )
        self.saml_errors = Counter(
            "bridge_saml_errors_total", "Refused SAML messages by error code", ["code"], registry=self.registry
        )
        self.tickets = Counter(
            "bridge_tickets_total", "Launch tickets by outcome", ["outcome"], registry=self.registry
        )
        self.store_errors = Counter(
            "bridge_store_errors_total", "Store operations that failed (requests failed closed)",
            registry=self.registry,
        )
        self.key_expiry = Gauge(
            "bridge_key_expiry_seconds", "Seconds until each published certificate expires", ["kid", "state"],
            registry=self.registry,
        )
        self.biller_key_expiry = Gauge(
            "bridge_biller_key_expiry_seconds",
            "Seconds until each certificate published by a biller's own key ring expires", ["biller", "kid", "state"],
            registry=self.registry,
        )
        self.metadata_fetches = Counter(
            "bridge_metadata_fetches_total", "GETs of the IdP metadata, by endpoints (shared, or the biller's own)",
            ["endpoints"], registry=self.registry
        )
        self.signature_failures = Counter(
            "bridge_signature_failures_total", "Signed SAML messages refused: missing, bad or weak signature",
            registry=self.registry,
        )
        self.replay_rejections = Counter(
            "bridge_replay_rejections_total", "Messages refused because they were already used, by kind",
            ["kind"], registry=self.registry,
        )
        self.sp_metadata_refreshes = Counter(
            "bridge_sp_metadata_refreshes_total", "SP metadata refreshes by source and outcome (ok, failed)",
            ["source", "outcome"], registry=self.registry,
        )

        # Invoice Cloud's web services (bridge.invoicecloud): every call, timed, by outcome.
        self.ic_calls = Counter(
            "bridge_ic_calls_total", "Calls to Invoice Cloud's web services by service and outcome "
            "(ok, rejected, timeout, unreachable, server_error, bad_answer)", ["service", "outcome"],
            registry=self.registry,
        )
        self.ic_latency = Histogram(
            "bridge_ic_call_seconds", "Time of a call to Invoice Cloud's web services", ["service"],
            registry=self.registry, buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0),
        )
        self.postbacks = Counter(
            "bridge_postbacks_total", "IC PostBacks received by outcome (accepted, duplicate, refused, unknown)",
            ["outcome"], registry=self.registry,
        )
        self.webhook_deliveries = Counter(
            "bridge_webhook_deliveries_total",
            "Payment webhook delivery attempts by outcome (delivered, failed, gave_up)",
            ["outcome"], registry=self.registry,
        )

    def observe_ic_call(self, service: str, outcome: str, seconds: float) -> None:
        self.ic_calls.labels(service, outcome).inc()
        self.ic_latency.labels(service).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
