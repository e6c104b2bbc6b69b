"""NEXUS and the Model Context Protocol, both ways: ``server`` serves the agent's notebook tools to
outside MCP clients (``/nexus/mcp``, routed by ``http``), and ``client`` adds the tools of the MCP
servers an administrator lists to NEXUS's own agent. The ``mcp`` SDK is imported on first use, never
when the server starts (``http`` is light: it only routes)."""
