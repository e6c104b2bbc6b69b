"""What a request is told about where the user is: cells, files, the kernel and its language.

``manager.py`` gathers and fits the context to a token budget; ``kernel_state.py``
reads the kernel without touching its history; ``lsp.py`` / ``lsp_connection.py`` /
``diagnostics.py`` ask the language server jupyter-lsp runs for the code's language, and
``lsp_specs.py`` tells jupyter-lsp about clangd, gopls and rust-analyzer.
"""
