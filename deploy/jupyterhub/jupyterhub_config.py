# JupyterHub for a team on one machine, with NEXUS in every user server and one shared
# model gateway run by the Hub as the service "nexus-gateway" (/services/nexus-gateway/).
#
#   python -m jupyterhub -f deploy/jupyterhub/jupyterhub_config.py
#
# Everything is set from environment variables so the same file serves a laptop demo,
# a team server and the tests (defaults in brackets):
#
#   NEXUS_HUB_IP [127.0.0.1], NEXUS_HUB_PORT [8000]   public address of the proxy
#   NEXUS_HUB_API_PORT [8081], NEXUS_PROXY_API_PORT [8001]   hub and proxy API (loopback)
#   NEXUS_HUB_AUTHENTICATOR [pam]   "dummy" for a demo or tests (any password!)
#   NEXUS_HUB_ADMINS                comma-separated Hub admins (full Hub admin, incl. opening
#                                   users' servers, and the usage ledger)
#   NEXUS_USAGE_ADMINS              comma-separated users who may read the usage ledger only
#   NEXUS_HUB_ADMIN_SERVICE_TOKEN   token of a "nexus-admin" service for automation (optional)
#   NEXUS_HUB_STATE_DIR [.]         where jupyterhub.sqlite and the cookie secret live
#   NEXUS_GATEWAY_PORT [8800]       the gateway service's loopback port
#   NEXUS_GATEWAY_PRELOAD [1]       load the gateway's model when the Hub starts it
#   NEXUS_GATEWAY_ROUTING_FILE      the gateway's routing file (default: the shipped one;
#                                   point it at a vLLM server here)
#   NEXUS_GATEWAY_CONFIG            a Python file of gateway settings, e.g. c.LlamaServer.parallel = 4
#                                   (GGUF models run on llama-server's parallel slots when
#                                   `make install` built it; c.LlamaServer.enabled = False: in-process)
#   NEXUS_REDIS_URL                 share quotas between gateway replicas (optional)
#   NEXUS_GATEWAY_RATE_PER_MINUTE [60], NEXUS_GATEWAY_BURST [10],
#   NEXUS_GATEWAY_TOKEN_QUOTA [0 = none], NEXUS_GATEWAY_QUOTA_WINDOW_S [86400]
#   NEXUS_DATABASE_URL              one store for every user server (PostgreSQL for a team);
#                                   migrated once here, at Hub start-up
from __future__ import annotations

import os
import sys
from pathlib import Path

c = get_config()  # type: ignore[name-defined]  # noqa: F821  (provided by JupyterHub)

HERE = Path(__file__).resolve().parent
env = os.environ.get
GATEWAY = "nexus-gateway"
GATEWAY_ACCESS = f"access:services!service={GATEWAY}"
USAGE_SCOPE = "custom:nexus-gateway:usage"
gateway_port = int(env("NEXUS_GATEWAY_PORT", "8800"))
state_dir = Path(env("NEXUS_HUB_STATE_DIR", "."))

# -- the Hub and its proxy (configurable-http-proxy, started by the Hub) ----------------------------
c.JupyterHub.ip = env("NEXUS_HUB_IP", "127.0.0.1")
c.JupyterHub.port = int(env("NEXUS_HUB_PORT", "8000"))
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(env("NEXUS_HUB_API_PORT", "8081"))
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{int(env('NEXUS_PROXY_API_PORT', '8001'))}"
c.JupyterHub.db_url = f"sqlite:///{state_dir / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state_dir / "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.pid_file = str(state_dir / "jupyterhub-proxy.pid")

# -- who logs in ------------------------------------------------------------------------------------
if env("NEXUS_HUB_AUTHENTICATOR", "pam") == "dummy":
    c.JupyterHub.authenticator_class = "dummy"
    c.Authenticator.allow_all = True


def names(variable: str) -> set[str]:
    return {name.strip() for name in env(variable, "").split(",") if name.strip()}


admins = names("NEXUS_HUB_ADMINS")
c.Authenticator.admin_users = admins

# -- user servers: JupyterLab + NEXUS, models through the gateway -----------------------------------
# A local process per user, no system accounts needed (swap for SystemdSpawner / DockerSpawner /
# KubeSpawner later; nothing below depends on the spawner).
c.JupyterHub.spawner_class = "simple"
c.Spawner.cmd = [sys.executable, "-m", "jupyterhub.singleuser"]
c.Spawner.default_url = "/lab"
c.Spawner.args = ["--allow-root"] if os.geteuid() == 0 else []
c.Spawner.start_timeout = 60
c.Spawner.http_timeout = 60
# The server's own Hub token may call the gateway (and nothing more than the defaults).
c.Spawner.server_token_scopes = ["users:activity!user", "access:servers!server", GATEWAY_ACCESS]
c.Spawner.environment = {
    "NEXUS_ROUTING_FILE": str(HERE / "routing-user.yaml"),
    "NEXUS_GATEWAY_URL": f"http://127.0.0.1:{gateway_port}/v1",
    # Each user's own token: the gateway checks it with the Hub and keeps that user's quota.
    "NEXUS_GATEWAY_TOKEN": lambda spawner: spawner.api_token,
    # The agent's "auto" mode (nothing asks before editing or running) is forbidden for every user;
    # "1" allows it. A user's own config file cannot override this.
    "NEXUS_AGENT_ALLOW_AUTO": env("NEXUS_AGENT_ALLOW_AUTO", "0"),
}
database_url = env("NEXUS_DATABASE_URL", "")
if database_url:
    from nexus_server_ext.store.database import Database

    # Migrate once here, not in every user server racing the others at start-up.
    store = Database(database_url)
    store.migrate()
    store.dispose()
    c.Spawner.environment["NEXUS_DATABASE_URL"] = database_url
    c.Spawner.args = [*c.Spawner.args, "--NexusApp.migrate_on_start=False"]

# -- the shared model gateway, a Hub-managed service ------------------------------------------------
gateway_env = {
    key: value
    for key in (
        "NEXUS_REDIS_URL",
        "NEXUS_REDIS_PREFIX",
        "NEXUS_GATEWAY_RATE_PER_MINUTE",
        "NEXUS_GATEWAY_BURST",
        "NEXUS_GATEWAY_TOKEN_QUOTA",
        "NEXUS_GATEWAY_QUOTA_WINDOW_S",
        "NEXUS_GATEWAY_CONFIG",
        "HOME",
        "HF_HOME",
        "CUDA_VISIBLE_DEVICES",
    )
    if (value := env(key))
}
gateway_command = [sys.executable, "-m", "nexus_server_ext.gateway", "--hub", "--port", str(gateway_port)]
if env("NEXUS_GATEWAY_PRELOAD", "1") == "1":  # the first user should not wait for the model to load
    gateway_command.append("--preload")
if env("NEXUS_GATEWAY_ROUTING_FILE"):
    gateway_command += ["--routing-file", env("NEXUS_GATEWAY_ROUTING_FILE", "")]
services = [
    {
        "name": GATEWAY,
        "url": f"http://127.0.0.1:{gateway_port}",
        "command": gateway_command,
        "environment": gateway_env,
        "display": False,
    }
]
if env("NEXUS_HUB_ADMIN_SERVICE_TOKEN"):
    services.append({"name": "nexus-admin", "api_token": env("NEXUS_HUB_ADMIN_SERVICE_TOKEN")})
c.JupyterHub.services = services

# -- permissions ------------------------------------------------------------------------------------
c.JupyterHub.custom_scopes = {
    USAGE_SCOPE: {"description": "Read the NEXUS gateway's usage ledger (counts only, never content)."}
}
roles = [
    # Every user may call the gateway; their servers' tokens inherit it (server_token_scopes above).
    {"name": "user", "scopes": ["self", GATEWAY_ACCESS]},
    {
        "name": "nexus-usage-admin",
        "description": "Read the NEXUS gateway usage ledger",
        "scopes": [USAGE_SCOPE, GATEWAY_ACCESS],
        "users": sorted(admins | names("NEXUS_USAGE_ADMINS")),
    },
]
if env("NEXUS_HUB_ADMIN_SERVICE_TOKEN"):
    roles.append(
        {
            "name": "nexus-admin",
            "description": "Automation: manage users, servers and tokens; read the usage ledger",
            "scopes": ["admin:users", "admin:servers", "tokens", USAGE_SCOPE, GATEWAY_ACCESS],
            "services": ["nexus-admin"],
        }
    )
c.JupyterHub.load_roles = roles
