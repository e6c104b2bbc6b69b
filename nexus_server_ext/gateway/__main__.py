"""``python -m nexus_server_ext.gateway --port 8800``: serve the OpenAI-compatible model gateway.

The bearer token comes from ``--token`` or ``NEXUS_GATEWAY_TOKEN``; without
either a random one is generated and printed once, so a gateway is never open.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import signal

from ..ai.router import ModelRouter
from ..ai.routing import RoutingError, load_routing
from .app import make_app


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m nexus_server_ext.gateway", description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("NEXUS_GATEWAY_PORT", "8800")))
    parser.add_argument("--host", default=os.environ.get("NEXUS_GATEWAY_HOST", "127.0.0.1"))
    parser.add_argument("--routing-file", default=os.environ.get("NEXUS_ROUTING_FILE", ""))
    parser.add_argument("--token", default=os.environ.get("NEXUS_GATEWAY_TOKEN", ""))
    parser.add_argument("--preload", action="store_true", help="load the local model before serving")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    log = logging.getLogger("nexus.gateway")
    try:
        routing = load_routing(args.routing_file or None)
    except RoutingError as exc:
        raise SystemExit(f"nexus gateway: {exc}") from None
    token = args.token
    if not token:
        token = secrets.token_urlsafe(24)
        print(f"nexus gateway: no token given; use this one: {token}", flush=True)
    router = ModelRouter(routing)
    if args.preload:
        from ..ai.health_status import _local_engines

        for engine in _local_engines(router):
            await engine.ensure_loaded()
    server = make_app(router, token).listen(args.port, args.host, max_body_size=2 * 1024 * 1024)
    log.info("NEXUS gateway on http://%s:%s/v1", args.host, args.port)
    print(f"nexus gateway listening on http://{args.host}:{args.port}/v1", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.stop()
    await router.aclose()


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    main()
