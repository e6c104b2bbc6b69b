"""``python -m nexus_server_ext.gateway --port 8800``: serve the OpenAI-compatible model gateway.

Two ways to let callers in:

* ``--token`` (or ``NEXUS_GATEWAY_TOKEN``): one shared bearer token; without it a
  random one is generated and printed once, so a gateway is never open.
* ``--hub`` (automatic when run as a JupyterHub service, i.e. when
  ``JUPYTERHUB_API_TOKEN`` and ``JUPYTERHUB_SERVICE_NAME`` are set): each
  caller's own Hub token, checked with the Hub; quotas and the ledger are per user.

Quotas: ``--rate-per-minute``/``--burst`` (requests) and ``--token-quota`` per
``--quota-window-s`` (prompt + completion tokens), kept in Redis when
``--redis-url`` (``NEXUS_REDIS_URL``) is given so that replicas share them.

GGUF models on the CPU are served by llama.cpp's own server, several users at once
(``gateway/llama_server.py``), when ``make install`` has built it: set its traits as
``--LlamaServer.parallel=4`` (``--LlamaServer.enabled=False``: in-process, one at a time)
or as ``c.LlamaServer.parallel = 4`` in a Python file given to ``--config``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import signal
from pathlib import Path

from traitlets.config import Config

from ..ai.router import ModelRouter
from ..ai.routing import RoutingError, load_routing
from .app import make_app
from .auth import GatewayAuth, SharedTokenAuth
from .llama_server import LlamaServer
from .quotas import QuotaPolicy, make_usage_store


def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m nexus_server_ext.gateway",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    on_hub = bool(os.environ.get("JUPYTERHUB_API_TOKEN") and os.environ.get("JUPYTERHUB_SERVICE_NAME"))
    add = parser.add_argument
    add("--port", type=int, default=int(_env("NEXUS_GATEWAY_PORT", "8800")))
    add("--host", default=_env("NEXUS_GATEWAY_HOST", "127.0.0.1"))
    add("--routing-file", default=_env("NEXUS_ROUTING_FILE", ""))
    add("--token", default=_env("NEXUS_GATEWAY_TOKEN", ""), help="shared bearer token (not with --hub)")
    add("--hub", action=argparse.BooleanOptionalAction, default=on_hub, help="auth via JupyterHub")
    add("--prefix", default=_env("JUPYTERHUB_SERVICE_PREFIX", "/"), help="extra URL prefix to serve under")
    add("--redis-url", default=_env("NEXUS_REDIS_URL", ""), help="share quotas and the ledger via Redis")
    add("--redis-prefix", default=_env("NEXUS_REDIS_PREFIX", "nexus-gateway"))
    add("--rate-per-minute", type=float, default=float(_env("NEXUS_GATEWAY_RATE_PER_MINUTE", "60")))
    add("--burst", type=int, default=int(_env("NEXUS_GATEWAY_BURST", "10")))
    add("--token-quota", type=int, default=int(_env("NEXUS_GATEWAY_TOKEN_QUOTA", "0")), help="0: none")
    add("--quota-window-s", type=int, default=int(_env("NEXUS_GATEWAY_QUOTA_WINDOW_S", "86400")))
    add(
        "--preload",
        action=argparse.BooleanOptionalAction,
        default=_env("NEXUS_PRELOAD_MODEL", "") in ("1", "true", "yes"),
        help="load the local model at start-up (in the background) instead of on first use",
    )
    add("--config", default=_env("NEXUS_GATEWAY_CONFIG", ""), help="traitlets config (c.LlamaServer...)")
    args, traits = parser.parse_known_args(argv)
    unknown = [a for a in traits if not a.startswith("--LlamaServer.")]
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    args.traits = traits
    return args


def load_config(args: argparse.Namespace) -> Config:
    """``--config FILE`` then ``--LlamaServer.<name>=value`` arguments, as traitlets config."""
    from traitlets.config.loader import KVArgParseConfigLoader, PyFileConfigLoader

    config = Config()
    if args.config:
        path = Path(args.config).expanduser().resolve()
        config.merge(PyFileConfigLoader(path.name, str(path.parent)).load_config())
    if args.traits:
        config.merge(KVArgParseConfigLoader(args.traits, classes=[LlamaServer]).load_config())
    return config


def build_auth(args: argparse.Namespace) -> GatewayAuth:
    if args.hub:
        from .hub import HubGatewayAuth

        return HubGatewayAuth()
    token = args.token
    if not token:
        token = secrets.token_urlsafe(24)
        print(f"nexus gateway: no token given; use this one: {token}", flush=True)
    return SharedTokenAuth(token)


async def serve(args: argparse.Namespace) -> None:
    log = logging.getLogger("nexus.gateway")
    try:
        routing = load_routing(args.routing_file or None)
    except RoutingError as exc:
        raise SystemExit(f"nexus gateway: {exc}") from None
    if args.quota_window_s < 1 or args.burst < 1:
        raise SystemExit("nexus gateway: --quota-window-s and --burst must be at least 1")
    try:
        auth = build_auth(args)
    except ValueError as exc:
        raise SystemExit(f"nexus gateway: {exc}") from None
    policy = QuotaPolicy(args.rate_per_minute, args.burst, args.token_quota, args.quota_window_s)
    usage = make_usage_store(policy, args.redis_url, args.redis_prefix)
    router = ModelRouter(routing)
    try:
        llama = LlamaServer(config=load_config(args))
    except Exception as exc:  # a bad config file or value
        raise SystemExit(f"nexus gateway: {exc}") from None
    app = make_app(router, auth=auth, usage=usage, prefix=args.prefix, llama_server=llama)
    server = app.listen(args.port, args.host, max_body_size=2 * 1024 * 1024)
    if args.preload:  # in the background: /v1/status answers (engine "loading") meanwhile
        from ..ai.engine_status import preload

        preload(router)
    log.info("NEXUS gateway: auth %s, quotas in %s", auth.mode, usage.backend)
    print(f"nexus gateway listening on http://{args.host}:{args.port}/v1", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.stop()
    await llama.aclose()
    await router.aclose()
    await usage.aclose()


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    main()
