"""The consciousness core: intent -> context -> memory -> AI pipeline -> learning.

Every submodule imports its heavy dependencies (torch, transformers, chromadb)
lazily, so ``import nexus_server_ext`` stays fast.
"""
