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
``GET /dashboard?appId=…&instanceId=…&page=<URL>[&lifetime=…][&locale=…][&legacy=0]``
    the Wix dashboard around the app's dashboard page: ``page`` in an iframe with the query
    Wix adds (``origin``, ``locale``, ``siteInfo``, the signed legacy ``instance``), and the
    ``@wix/dashboard`` channel answered (USER tokens, toasts, navigation, height), each call
    recorded in ``window.wixHost``. @wix/dashboard runs only under ``https://manage.wix.com``:
    serve it with ``wixapp emulator --dashboard-port`` (``dashboard_tls``). ``page`` must be
    on loopback (or a host allowed with ``--allow-host``).
``&tag=…&script=…&panel=…`` (the site and editor pages)
    the user's own widget and panel: the custom element's tag (default ``wixapp-widget``),
    the widget script's URL (default ``{backend}/static/widget.js``) and the panel's URL
    (default ``{backend}/panel``); a path starting with ``/`` is on the backend.
``GET /_host/{script}``
    the pages' scripts, built from ``frontend/src/host/`` (``make frontend``).

The pages load code from these URLs on the emulator's origin, so only http(s) URLs on this
machine (loopback) are taken, or on a host allowed on purpose (``wixapp emulator
--allow-host``): a link to another host's backend must not run its script next to the
control API. Checked here (and again by the page scripts for the scheme); a refusal is a
400 page that names the parameter and shows the value escaped.
"""

from __future__ import annotations

import html
import re
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from wixapp.emulator.guard import is_loopback_host

__all__ = ["PAGES_DIR", "host_page_problems", "host_pages_routes"]

PAGES_DIR = Path(__file__).resolve().parent / "pages"

_PAGES = {"/site": "site.html", "/editor": "editor.html", "/dashboard": "dashboard.html"}
_SCRIPTS = frozenset({"site-host.js", "editor-host.js", "dashboard-host.js"})
_NO_STORE = {"Cache-Control": "no-store"}

_HTTP_URL = re.compile(r"https?://[^\s/?#]+[^\s]*", re.IGNORECASE)
_BACKEND_PATH = re.compile(r"/(?!/)[^\s]*")  # a path on the backend, not "//host"
_TAG = re.compile(r"[a-z][a-z0-9._]*-[a-z0-9._-]*")  # a custom element name
_RULES: dict[str, tuple[tuple[re.Pattern[str], ...], str]] = {
    "backend": ((_HTTP_URL,), "an http(s) URL"),
    "script": ((_HTTP_URL, _BACKEND_PATH), "an http(s) URL or a path on the backend"),
    "panel": ((_HTTP_URL, _BACKEND_PATH), "an http(s) URL or a path on the backend"),
    "tag": ((_TAG,), "a custom element name (lowercase, with a hyphen)"),
}

_Endpoint = Callable[[Request], Awaitable[Response]]


def host_pages_routes(
    pages_dir: Path = PAGES_DIR, *, allowed_hosts: Iterable[str] = ()
) -> list[BaseRoute]:
    """The routes to mount at the root of the emulator app (they use absolute paths);
    ``allowed_hosts``: hosts besides loopback whose backends and scripts pages may load."""
    allowed = tuple(allowed_hosts)
    routes: list[BaseRoute] = [
        Route(path, _page_endpoint(pages_dir / name, allowed), methods=["GET", "HEAD"], name=name)
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


def host_page_problems(
    query: list[tuple[str, str]], *, allowed_hosts: Iterable[str] = ()
) -> list[str]:
    """What is wrong with a host page's query, one sentence per bad value (none: fine).

    Every value of a repeated parameter is checked: the page reads the first, a proxy may
    read the last. The dashboard's ``page`` must be on loopback (or ``allowed_hosts``): the
    emulator frames it under a Wix origin and hands it the owner's tokens.
    """
    problems = []
    for name, value in query:
        if name == "page":
            if not (_HTTP_URL.fullmatch(value) and _on_allowed_host(value, allowed_hosts)):
                problems.append(f"page must be an http(s) URL on this machine, not {value!r}")
            continue
        rule = _RULES.get(name)
        if rule is None or value == "":
            continue
        patterns, expected = rule
        if not any(pattern.fullmatch(value) for pattern in patterns):
            problems.append(f"{name} must be {expected}, not {value!r}")
        elif _HTTP_URL.fullmatch(value) and not _on_allowed_host(value, allowed_hosts):
            host = urlsplit(value).hostname or ""
            problems.append(
                f"{name} must be on this machine (loopback), not on {host!r}: start the "
                f"emulator with --allow-host {host} to load it"
            )
    return problems


def _on_allowed_host(url: str, allowed_hosts: Iterable[str]) -> bool:
    try:
        host = urlsplit(url).hostname
    except ValueError:  # a malformed port or bracket
        return False
    return host is not None and is_loopback_host(host, allowed_hosts)


def _page_endpoint(page: Path, allowed_hosts: tuple[str, ...]) -> _Endpoint:
    async def endpoint(request: Request) -> Response:
        problems = host_page_problems(
            request.query_params.multi_items(), allowed_hosts=allowed_hosts
        )
        if problems:
            return _refusal(problems)
        return FileResponse(page, media_type="text/html; charset=utf-8", headers=_NO_STORE)

    return endpoint


def _refusal(problems: list[str]) -> HTMLResponse:
    items = "".join(f"<li><code>{html.escape(problem)}</code></li>" for problem in problems)
    body = (
        '<!doctype html><html lang="en"><meta charset="utf-8"><title>Bad query</title>'
        f"<h1>This host page cannot load</h1><ul>{items}</ul>"
        "<p>Fix the query parameters named above and reload.</p></html>"
    )
    return HTMLResponse(body, status_code=400, headers=_NO_STORE)


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
