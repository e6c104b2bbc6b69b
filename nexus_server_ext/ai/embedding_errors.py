"""The one error every embedding source raises, so callers need not know which source failed."""


class EmbeddingsUnavailable(RuntimeError):
    """The embedding model, its libraries or its remote source are missing; the message says what to do."""
