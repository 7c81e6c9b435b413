"""The ready backend: ``create_app()`` builds it; ``wixapp serve`` runs it under uvicorn."""

from wixapp.server.app import create_app
from wixapp.server.routes import current_caller
from wixapp.server.state import ServerState

__all__ = ["ServerState", "create_app", "current_caller"]
