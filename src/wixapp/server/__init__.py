"""The ready backend: ``create_app()`` builds it; ``wixapp serve`` runs it under uvicorn.

An app's own routes use ``current_caller`` (who is calling) and ``InstanceDB`` (a database
connection bound to the caller's instance); its background work uses ``database_engine``.
Its hottest GETs can run on the lean path instead (``create_app(lean_routes=[lean_route(...)])``).
"""

from wixapp.server.database import InstanceConnection, InstanceDB, database_engine
from wixapp.server.factory import Lifespan, create_app
from wixapp.server.lean import AnswerCodec, Declaration, JSONAnswer, LeanRequest, lean_route
from wixapp.server.routes import current_caller
from wixapp.server.state import ServerState

__all__ = [
    "AnswerCodec",
    "Declaration",
    "InstanceConnection",
    "InstanceDB",
    "JSONAnswer",
    "LeanRequest",
    "Lifespan",
    "ServerState",
    "create_app",
    "current_caller",
    "database_engine",
    "lean_route",
]
