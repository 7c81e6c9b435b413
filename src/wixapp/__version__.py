"""The version of the wixapp package (one place; pyproject reads it)."""

__version__ = "0.1.0"
