"""``/extensions`` and ``/commands``: installed plugins, and the command registry (list and execute)."""

from __future__ import annotations

import logging

from jupyter_server.auth.decorator import authorized
from tornado import web

from .. import metrics
from ..api_models import CommandList, CommandOut, CommandResult, CommandRun, PluginList, PluginOut
from ..commands import Command
from ..errors import NexusError
from ..events import PLUGIN
from .base import NexusHandler, Operation

log = logging.getLogger(__name__)


def command_out(c: Command) -> CommandOut:
    return CommandOut(
        name=c.name,
        title=c.title,
        phrases=list(c.phrases),
        target=c.target,
        lab_command=c.lab_command,
        intent=c.intent,
        destructive=c.destructive,
        takes_text=c.takes_text,
        source=c.source,
    )


def plugin_error(command: Command, exc: Exception, username: str) -> dict[str, object]:
    """The ``plugins/v1`` event for a plugin command that raised (one line, no traceback)."""
    message = str(exc).splitlines()[0][:300] if str(exc) else ""
    return {
        "plugin": command.source,
        "group": "nexus.commands",
        "stage": "run",
        "command": command.name,
        "error": f"{type(exc).__name__}: {message}" if message else type(exc).__name__,
        "username": username,
    }


class ExtensionsHandler(NexusHandler):
    auth_resource = "nexus:extensions"
    operations = {
        "get": Operation(
            "Plugins found in the `nexus.commands`, `nexus.intents` and `nexus.providers` entry-point "
            "groups, loaded or broken (with the reason).",
            response=PluginList,
        )
    }

    @web.authenticated
    @authorized
    async def get(self) -> None:
        plugins = [PluginOut(**r.__dict__) for r in self.nexus.plugins.records]
        self.write_model(PluginList(plugins=plugins))


class CommandsHandler(NexusHandler):
    auth_resource = "nexus:commands"
    operations = {
        "get": Operation(
            "Every command (built-in and from plugins) that voice, slash commands and the API share.",
            response=CommandList,
        )
    }

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.write_model(CommandList(commands=[command_out(c) for c in self.nexus.commands]))


class CommandHandler(NexusHandler):
    auth_resource = "nexus:commands"
    operations = {
        "post": Operation(
            "Execute a command: server commands run here and return their result; frontend and intent "
            "commands come back for the client to run (`executed: false`).",
            request=CommandRun,
            response=CommandResult,
            max_body_bytes=64 * 1024,
            rate_class="default",
        )
    }

    @web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        body = self.read_model(CommandRun)
        command = self.nexus.commands.get(name)
        if command is None:
            raise NexusError(404, "not_found", f"There is no command named {name!r}.")
        if command.takes_text and not (body.text or "").strip() and command.target != "frontend":
            raise NexusError(400, "invalid_request", f"The command {name!r} needs text.")
        reply = CommandResult(
            command=name,
            target=command.target,
            executed=False,
            lab_command=command.lab_command,
            intent=command.intent,
        )
        outcome = "delegated"
        if command.run is not None and command.target == "server":
            try:
                reply.result = await command.run(
                    {"args": body.args, "text": body.text, "username": self.username}
                )
            except Exception as exc:
                log.warning("command %s failed: %s", name, exc, exc_info=True)
                metrics.record_command(name, "failed")
                if command.source != "nexus":  # a plugin's command: plugins/v1 on the event bus
                    self.nexus.events.emit(PLUGIN, plugin_error(command, exc, self.username))
                await self.nexus.audit.record_command(
                    username=self.username, command=name, outcome="failed", source=command.source
                )
                raise NexusError(
                    500, "command_failed", f"The command {name!r} failed ({type(exc).__name__})."
                ) from None
            reply.executed = True
            outcome = "ok"
        metrics.record_command(name, outcome)
        await self.nexus.audit.record_command(
            username=self.username, command=name, outcome=outcome, source=command.source
        )
        self.write_model(reply)


default_handlers = [
    (r"/nexus/api/v1/extensions", ExtensionsHandler),
    (r"/nexus/api/v1/commands", CommandsHandler),
    (r"/nexus/api/v1/commands/(?P<name>[A-Za-z0-9][A-Za-z0-9_.:-]{0,99})", CommandHandler),
]
