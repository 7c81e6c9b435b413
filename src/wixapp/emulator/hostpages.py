"""The emulator's Wix host pages: a local "Wix site" and "Wix editor" for one app.

Development and tests only: the emulator mounts these routes, the production server never
does. The pages run the app's unchanged production bundles (``/static/widget.js``,
``/panel``) from its backend and do everything Wix would do around them (see
``wix-platform.md`` §9): inject a token getter into the widget, and connect to the settings
panel in an iframe through ``@wix/editor-platform-transport``. They mint tokens with the
emulator's control API (``POST /_emulator/tokens``) on their own origin.

``GET /site?instanceId=…&backend=…&appId=…[&subject=VISITOR|MEMBER][&token=…][&kind=react]``
    the widget on a site page, as a visitor (default) or member; ``token`` injects a fixed
    token instead (for example a revoked one); ``kind=react`` hosts the React form.
``GET /editor?instanceId=…&backend=…&appId=…[&siteId=…]``
    the settings panel in an iframe, with USER tokens, and the widget on a canvas.
``GET /_host/{script}``
    the pages' scripts; ``editor-host.js`` is built from ``frontend/`` (``make frontend``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

__all__ = ["PAGES_DIR", "host_pages_routes"]

PAGES_DIR = Path(__file__).resolve().parent / "pages"

_PAGES = {"/site": "site.html", "/editor": "editor.html"}
_SCRIPTS = frozenset({"site-host.js", "editor-host.js"})
_NO_STORE = {"Cache-Control": "no-store"}

_Endpoint = Callable[[Request], Awaitable[Response]]


def host_pages_routes(pages_dir: Path = PAGES_DIR) -> list[BaseRoute]:
    """The routes to mount at the root of the emulator app (they use absolute paths)."""
    routes: list[BaseRoute] = [
        Route(path, _page_endpoint(pages_dir / name), methods=["GET", "HEAD"], name=name)
        for path, name in _PAGES.items()
    ]
    routes.append(
        Route(
            "/_host/{script}",
            _script_endpoint(pages_dir),
            methods=["GET", "HEAD"],
            name="host-script",
        )
    )
    return routes


def _page_endpoint(page: Path) -> _Endpoint:
    async def endpoint(request: Request) -> Response:
        return FileResponse(page, media_type="text/html; charset=utf-8", headers=_NO_STORE)

    return endpoint


def _script_endpoint(pages_dir: Path) -> _Endpoint:
    async def endpoint(request: Request) -> Response:
        name = request.path_params["script"]
        if name not in _SCRIPTS:
            return PlainTextResponse("No such host script.\n", status_code=404)
        path = pages_dir / name
        if not path.is_file():
            return PlainTextResponse(
                f"{name} is not built: run `make frontend` (needs node and npm).\n",
                status_code=404,
            )
        return FileResponse(path, media_type="text/javascript; charset=utf-8", headers=_NO_STORE)

    return endpoint
