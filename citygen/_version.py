"""The citygen version (one place, read by pyproject and manifests)."""

__version__ = "0.1.0"
