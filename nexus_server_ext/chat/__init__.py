"""Chat: one request from the user's words to the answer's frames.

The consciousness core (``consciousness.py``) classifies the intent (``intent.py``,
slash commands from ``slash.py``), gathers context (``..context``) and memories
(``..memory``), builds the prompt (``prompts.py``) and streams the pipeline's
answer; commands, ``/learn`` and plugins are answered without a model
(``local_answers.py``, ``plugin_answers.py``).
"""
