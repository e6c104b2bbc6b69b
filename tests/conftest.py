"""Shared fixtures: a real Jupyter server with NEXUS (pytest-jupyter), and real databases."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["pytest_jupyter.jupyter_server"]

POSTGRES_URL = os.environ.get("NEXUS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def postgres_required() -> bool:
    """In CI (or when asked) a missing PostgreSQL fails the run instead of skipping its tests."""
    return bool(os.environ.get("CI") or os.environ.get("NEXUS_REQUIRE_POSTGRES"))


@pytest.fixture(autouse=True)
def _no_cloud_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never reach a paid API because a developer's shell happens to hold a key."""
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "NEXUS_GATEWAY_URL", "NEXUS_GATEWAY_TOKEN"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def nexus_data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "nexus-data"
    path.mkdir()
    return path


@pytest.fixture
def nexus_config(nexus_data_dir: Path) -> Any:
    """Build a ``jp_server_config``: a server with NEXUS (and ``extensions``), its data in
    ``nexus_data_dir``, ``routing`` (YAML text) as its routing file, ``server`` for ``ServerApp`` traits,
    ``other`` for other classes' traits, and the rest as ``NexusApp`` traits."""

    def make(
        *,
        routing: str | None = None,
        server: dict[str, Any] | None = None,
        extensions: dict[str, bool] | None = None,
        other: dict[str, Any] | None = None,
        **nexus: Any,
    ) -> dict[str, Any]:
        app: dict[str, Any] = {"data_dir": str(nexus_data_dir), **nexus}
        if routing is not None:
            path = nexus_data_dir / "routing.yaml"
            path.write_text(routing)
            app["routing_file"] = str(path)
        return {
            "ServerApp": {
                "jpserver_extensions": {"nexus_server_ext": True, **(extensions or {})},
                **(server or {}),
            },
            "NexusApp": app,
            **(other or {}),
        }

    return make


@pytest.fixture
def jp_server_config(nexus_config: Any) -> dict[str, Any]:
    return nexus_config()


@pytest.fixture
def nexus_services(jp_serverapp: Any) -> Any:
    return jp_serverapp.web_app.settings["nexus"]


def _postgres_schema_url() -> Iterator[str]:
    """A throw-away schema in the test database, so runs never see each other's rows."""
    from sqlalchemy import create_engine, text

    schema = f"nexus_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 5})
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        admin.dispose()
        message = (
            f"PostgreSQL is not reachable at {POSTGRES_URL} ({type(exc).__name__}); "
            "start it or set NEXUS_TEST_POSTGRES_URL"
        )
        if postgres_required():
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL to a fresh schema in the local PostgreSQL (fails in CI, skips elsewhere, when absent)."""
    yield from _postgres_schema_url()


@pytest.fixture(scope="module")
def module_postgres_url() -> Iterator[str]:
    """Like ``postgres_url``, shared by a module's tests (e.g. one JupyterHub for the module)."""
    yield from _postgres_schema_url()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'nexus.db'}"
    else:
        yield from _postgres_schema_url()


@pytest.fixture
def database(database_url: str) -> Iterator[Any]:
    from nexus_server_ext.store import Database

    db = Database(database_url)
    db.migrate()
    yield db
    db.dispose()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run browser tests last: Playwright's sync API leaves its event loop marked as running in this
    thread for as long as the browser is open, which pytest-jupyter's in-process servers cannot share."""
    items.sort(key=lambda item: "tests/browser/" in item.nodeid.replace("\\", "/"))


# -- AI engine -------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def local_engine() -> Any:
    """The process-wide engine on the bundled SmolLM2, loaded once for the whole test session."""
    from nexus_server_ext.ai.engines import get_engine

    engine = get_engine()
    engine.load()
    return engine


def routing(providers: dict[str, Any], chain: list[tuple[str, str]], **limits: Any) -> Any:
    from nexus_server_ext.ai.routing import parse_routing

    task: dict[str, Any] = {"chain": [{"provider": p, "model": m} for p, m in chain]}
    if limits:
        task["limits"] = limits
    raw = {
        "providers": {"local": {"kind": "local"}, **providers},
        "tasks": {t: task for t in ("natural_language", "code_generation", "completion")},
    }
    return parse_routing(raw, Path("test-routing.yaml"))


def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return int(port)


@pytest.fixture
def make_routing() -> Any:
    """``make_routing(providers, [(provider, model), ...], **limits)``: a validated routing config."""
    return routing


@pytest.fixture
def unused_port() -> int:
    """A port nothing listens on (a model server that is down)."""
    return closed_port()


@pytest.fixture(scope="session")
def head_revision() -> str:
    """The newest migration's revision id (so tests need no edit when a migration is added)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    import nexus_server_ext.store.database as database_module

    config = Config()
    config.set_main_option("script_location", str(Path(database_module.__file__).parent / "migrations"))
    return str(ScriptDirectory.from_config(config).get_current_head())
