"""Routing files for test servers: the bundled model answering the given tasks, with small limits."""

from __future__ import annotations


def bundled_routing(
    tasks: tuple[str, ...] = ("natural_language",), max_tokens: int = 6, timeout_s: int = 300
) -> str:
    """YAML: one ``local`` provider (the bundled SmolLM2) as the whole chain of each task."""
    lines = ["providers:", '  local: {kind: local, model: "bundled:SmolLM2-135M-Instruct"}', "tasks:"]
    for task in tasks:
        lines += [
            f"  {task}:",
            "    chain: [{provider: local, model: SmolLM2-135M-Instruct}]",
            f"    limits: {{timeout_s: {timeout_s}, max_tokens: {max_tokens}}}",
        ]
    return "\n".join(lines) + "\n"
