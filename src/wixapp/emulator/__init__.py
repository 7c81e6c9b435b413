"""An offline emulator of the Wix APIs wixapp talks to (see docs: spec §2 to §8).

It shares with the library only Wix's wire conventions (``wixapp.protocol``, the models and
the error tree), never its behaviour: it signs legacy ``instance`` values and webhooks with
its own code, and identification, caching, elevation and the server stay out (an
import-linter contract says so), so the emulator judges the library as an oracle.

A real ASGI app: use it in-process through ``httpx.ASGITransport`` or serve it on a port.
Set it up and steer it through ``EmulatorState`` (in-process) or ``EmulatorControl`` (HTTP,
under ``/_emulator/``). Module map: ``world`` holds ``EmulatorState``, composed of
``registry`` (apps, sites, installations), ``tokens`` (access tokens and legacy values, with
``instance_param``), ``traffic`` (call counts, ``faults``, ``ratelimit``, behaviours) and
``event_log`` + ``delivery`` (lifecycle webhooks, signed by ``webhook_signing``);
``timekeeping`` is its clock. ``routes_wix`` plays Wix; ``operations`` declares the control
API once (``control_api``: how an operation travels, ``requests``: its bodies), which
``routes_control`` serves and ``control`` calls; ``protojson`` reads request field names as
Wix's gateway does, ``guard`` keeps the control API and pages to this machine and puts
``x-wix-request-id`` on every answer, ``hostpages`` and ``index`` serve the pages that play
the Wix site and editor, ``wix_errors`` the errors, ``service`` the entry points.
"""

from wixapp.emulator.control import EMULATOR_BASE_URL, EmulatorControl
from wixapp.emulator.delivery import DeliveryAttempt, WebhookDeliverer, WebhookDelivery
from wixapp.emulator.records import (
    Behaviour,
    Endpoint,
    FaultSpec,
    Installation,
    LifecycleEvent,
    MintedToken,
    RegisteredApp,
    Site,
)
from wixapp.emulator.service import DashboardServer, EmulatorServer, create_emulator, serve
from wixapp.emulator.wix_errors import EmulatorConflictError, EmulatorError, EmulatorNotFoundError
from wixapp.emulator.world import EmulatorState

__all__ = [
    "EMULATOR_BASE_URL",
    "Behaviour",
    "DashboardServer",
    "DeliveryAttempt",
    "EmulatorConflictError",
    "EmulatorControl",
    "EmulatorError",
    "EmulatorNotFoundError",
    "EmulatorServer",
    "EmulatorState",
    "Endpoint",
    "FaultSpec",
    "Installation",
    "LifecycleEvent",
    "MintedToken",
    "RegisteredApp",
    "Site",
    "WebhookDeliverer",
    "WebhookDelivery",
    "create_emulator",
    "serve",
]
