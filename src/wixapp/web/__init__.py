"""What every front door shares, with no web framework in it (Starlette's primitives only).

The FastAPI backend (``wixapp.server``) and the adapters (``wixapp.adapters``: ASGI, Flask,
Django) translate their framework's requests into :class:`Credentials` and answers out of
:mod:`wixapp.web.answers`; the :class:`Edge` decides who is identified and how, renders
errors, applies CORS and receives webhooks through the one lifecycle.
"""

from wixapp.web.answers import (
    Answer,
    error_answer,
    error_response,
    response_for,
    unexpected_answer,
)
from wixapp.web.cors import CorsPolicy
from wixapp.web.credentials import Credentials, scope_client, scope_header
from wixapp.web.edge import Edge, Guard, open_store
from wixapp.web.lifecycle import Lifecycle, running_lifecycle
from wixapp.web.receiver import WebhookReceiver, WebhooksNotConfiguredError

__all__ = [
    "Answer",
    "CorsPolicy",
    "Credentials",
    "Edge",
    "Guard",
    "Lifecycle",
    "WebhookReceiver",
    "WebhooksNotConfiguredError",
    "error_answer",
    "error_response",
    "open_store",
    "response_for",
    "running_lifecycle",
    "scope_client",
    "scope_header",
    "unexpected_answer",
]
