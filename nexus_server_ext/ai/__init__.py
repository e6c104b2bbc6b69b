"""The AI engine: routing configuration, providers, router and pipeline."""
