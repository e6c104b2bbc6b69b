"""Writes the demo notebooks (run it after changing them here; the test executes the files it writes)."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).parent / "notebooks"
KERNEL = {"name": "nexus-python3", "display_name": "Python 3 (NEXUS)", "language": "python"}


def notebook(cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    nb = new_notebook(metadata={"kernelspec": KERNEL, "language_info": {"name": "python"}})
    nb.cells = [
        new_markdown_cell(src)
        if kind == "md"
        # "raises-exception": the cell fails on purpose; Jupyter's runners carry on after it
        else new_code_cell(src, metadata={"tags": ["raises-exception"]} if kind == "raises" else {})
        for kind, src in cells
    ]
    return nb


LOAD = "%load_ext nexus_kernel"

NOTEBOOKS = {
    "01-getting-started.ipynb": [
        (
            "md",
            "# Getting started with the `%nexus` magics\n\nThe *Python 3 (NEXUS)* kernel loads the "
            "magics at start-up; in any other kernel run `%load_ext nexus_kernel`. On CPU the bundled model "
            "takes a few seconds to load the first time.",
        ),
        ("code", LOAD),
        ("code", "%nexus status"),
        ("code", "%nexus help"),
        (
            "md",
            "Ask a question. `{name}` inserts a variable from the notebook. The answer streams in, and "
            "its provenance (model, provider, time, prompt hash) is stored in the output's metadata.",
        ),
        ("code", 'library = "pandas"\n%nexus ask --max-tokens 48 "In one sentence: what is {library}?"'),
        ("md", "`%%nexus generate` writes code into a new cell below and never runs it."),
        (
            "code",
            "%%nexus generate --max-tokens 64\n"
            "A Python function is_even(n) that returns True when n is even.",
        ),
        ("md", "When a cell fails, `%nexus fix` looks at the exception, the failing line and its variables."),
        ("raises", "total, count = 10, 0\nmean = total / count"),
        ("code", "%nexus fix --max-tokens 48"),
        ("code", "%nexus models"),
        ("code", "%nexus history"),
    ],
    "02-widgets.ipynb": [
        (
            "md",
            "# NEXUS widgets\n\nA chat in the output area, a model dashboard and a voice recorder. "
            "Type into the chat box, or call `chat.ask(...)` from code.",
        ),
        ("code", LOAD + "\nfrom nexus_widgets import ChatWidget, ModelDashboard, VoiceRecorder"),
        ("code", "chat = ChatWidget(max_tokens=32)\nchat"),
        (
            "code",
            'answer = chat.ask("Say hello in three words.")\n'
            'print(chat.messages[-1]["model"], "answered:", answer)',
        ),
        ("code", "dashboard = ModelDashboard(refresh_s=10)\ndashboard"),
        (
            "code",
            '[(t["task"], [s["provider"] + ": " + s["state"] for s in t["chain"]]) for t in dashboard.tasks]',
        ),
        (
            "md",
            "The recorder asks the browser for the microphone; the transcript and the recognised command "
            "appear as traits.",
        ),
        ("code", "recorder = VoiceRecorder()\nrecorder"),
    ],
    "03-voice-from-a-file.ipynb": [
        (
            "md",
            "# Voice from an audio file\n\n`VoiceRecorder.transcribe_file` treats a file like a "
            "recording: Whisper (the bundled `tiny.en`) writes the transcript "
            "and NEXUS maps it to a command.",
        ),
        (
            "code",
            "from nexus_widgets import VoiceRecorder\n\nrecorder = VoiceRecorder()\n"
            'recorder.transcribe_file("data/run-this-cell.wav")',
        ),
        ("code", "recorder.command"),
    ],
    "04-learn-a-folder.ipynb": [
        (
            "md",
            "# Learn a folder, then ask about it\n\n`%nexus learn` indexes the files by meaning; "
            "`%nexus search` finds the closest passages, and `%nexus ask` quotes them to the model.",
        ),
        ("code", LOAD),
        ("code", "%nexus learn data/project"),
        ("code", 'hits = %nexus search "when are the tide predictions computed?"'),
        ("code", "hits[0]"),
        ("code", '%nexus ask --max-tokens 48 "At what time does the tides.predict job run?"'),
    ],
}


def main() -> None:
    for name, cells in NOTEBOOKS.items():
        nbformat.write(notebook(cells), HERE / name)


if __name__ == "__main__":
    main()
