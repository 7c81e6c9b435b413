"""Alembic entry point; the logic lives, typed and tested, in wixapp.store._migrate."""

from wixapp.store._migrate import run_environment

run_environment()
