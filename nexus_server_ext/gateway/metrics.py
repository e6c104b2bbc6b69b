"""The gateway's ``/metrics``: what a team's Prometheus scrapes and the shipped alerts watch.

The gateway serves prometheus_client's default registry, so next to its own two
counters (responses per handler and status, quota refusals per reason) it shows
what the router and the local engines report in this process
(``nexus_server_ext.metrics``: answers per outcome, time to first token, the
engines' queues, circuit breakers). ``/metrics`` needs no token: it holds counts
per handler, model and provider, never a user's name or text. It is served at
the root only, not under the Hub's service prefix, so the Hub's proxy does not
publish it; Prometheus scrapes the pods directly (``deploy/k8s/alerts.yaml``).
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, generate_latest
from tornado import web

REQUESTS = Counter(
    "nexus_gateway_requests",
    "Gateway responses by handler and HTTP status (a stream that failed mid-answer still counts as 200)",
    ["handler", "status"],
)
REFUSALS = Counter(
    "nexus_gateway_refusals",
    "Requests refused with 429 before reaching a model: rate (the per-user request rate) or quota "
    "(the per-user token quota is spent)",
    ["reason"],
)


def record_response(handler: str, status: int) -> None:
    REQUESTS.labels(handler, str(status)).inc()


def record_refusal(reason: str) -> None:
    REFUSALS.labels(reason).inc()


class MetricsHandler(web.RequestHandler):
    def get(self) -> None:
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(generate_latest(REGISTRY))
