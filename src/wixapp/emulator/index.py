"""``GET /``: the emulator's index page, for a person who opens the emulator in a browser.

It lists the registered apps, the sites, and each installation with links to its "Wix site"
and "Wix editor" pages. The links need the app's backend URL: ``?backend=…`` (http or https
only), and ``tag``, ``script`` and ``panel`` for an app's own widget, are passed through to
them; without ``backend`` the page asks for it. Everything echoed is HTML-escaped.
"""

from __future__ import annotations

from html import escape
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from wixapp.emulator.world import EmulatorState

__all__ = ["index_route"]

_PASSED_THROUGH = ("tag", "script", "panel")
_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; color: #162d3d; margin: 24px auto; max-width: 920px; }
table { border-collapse: collapse; width: 100%; margin-bottom: 20px; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid #dfe5eb; }
code { font: 12px ui-monospace, monospace; }
"""


def index_route() -> Route:
    return Route("/", _index, methods=["GET", "HEAD"], name="index")


async def _index(request: Request) -> HTMLResponse:
    state: EmulatorState = request.app.state.emulator
    backend = _http_url(request.query_params.get("backend", ""))
    extra = {k: v for k in _PASSED_THROUGH if (v := request.query_params.get(k))}
    body = [
        "<h1>wixapp emulator</h1>",
        "<p>The Wix APIs, played offline. Control API under <code>/_emulator/</code>.</p>",
        _backend_form(backend),
        _apps(state),
        _installations(state, backend, extra),
    ]
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>wixapp emulator</title><style>{_STYLE}</style></head>"
        f"<body>{''.join(body)}</body></html>"
    )
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    return value.rstrip("/") if parts.scheme in ("http", "https") and parts.netloc else ""


def _backend_form(backend: str) -> str:
    shown = f"<code>{escape(backend)}</code>" if backend else "not set: the links need it"
    return (
        f"<p>App backend: {shown}</p>"
        '<form method="get"><label>Backend URL <input name="backend" size="40" '
        f'value="{escape(backend, quote=True)}" placeholder="http://127.0.0.1:8000"></label> '
        "<button>Use</button></form>"
    )


def _apps(state: EmulatorState) -> str:
    rows = "".join(
        f"<tr><td><code>{escape(app.app_id)}</code></td></tr>" for app in state.all_apps()
    )
    return f"<h2>Apps</h2><table><tr><th>App ID</th></tr>{rows or _none(1)}</table>"


def _installations(state: EmulatorState, backend: str, extra: dict[str, str]) -> str:
    sites = {site.site_id: site for site in state.all_sites()}
    rows = []
    for installation in state.all_installations():
        site = sites.get(installation.site_id)
        name = site.display_name if site else installation.site_id
        links = _links(installation.instance_id, installation.app_id, backend, extra)
        status = "installed" if installation.installed else "removed"
        rows.append(
            f"<tr><td>{escape(name)}</td><td><code>{escape(installation.instance_id)}</code>"
            f"</td><td>{status}</td><td>{links}</td></tr>"
        )
    header = "<tr><th>Site</th><th>Instance</th><th>Status</th><th>Pages</th></tr>"
    return f"<h2>Sites</h2><table>{header}{''.join(rows) or _none(4)}</table>"


def _links(instance_id: str, app_id: str, backend: str, extra: dict[str, str]) -> str:
    if not backend:
        return "(set the backend above)"
    query = urlencode({"instanceId": instance_id, "backend": backend, "appId": app_id, **extra})
    return " · ".join(
        f'<a href="/{page}?{escape(query, quote=True)}">{page}</a>' for page in ("site", "editor")
    )


def _none(columns: int) -> str:
    return f'<tr><td colspan="{columns}">none yet</td></tr>'
