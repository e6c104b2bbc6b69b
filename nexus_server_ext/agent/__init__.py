"""The notebook agent: NEXUS plans, edits and runs cells with the user's approval, and can undo a turn.

- ``tools``: the one tool registry (name, JSON schema, what it changes), served to
  the agent's model and, later, over MCP;
- ``notebook``: reads and edits one notebook through its shared document (or the
  file when nobody has it open), refusing edits to cells a person changed since
  the agent read them, and snapshots / restores the agent's changes;
- ``kernel``: runs code in the notebook's own kernel, collecting outputs, and
  checkpoints / restores the kernel's variables;
- ``run``: one turn: the model loop, approvals, limits, stop and undo;
- ``service``: every turn of the server, its settings, and who may see what.
"""
