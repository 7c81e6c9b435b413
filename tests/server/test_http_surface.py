"""What an outsider's browser or script reaches over HTTP: instance data by role, security
headers, redirects, readiness details, webhook refusal logging, CORS wildcards, the legacy
value's age and its redaction, and answers that are not Wix's."""

from __future__ import annotations

import logging
import socket

import httpx
import pytest

from dbutil import make_database_url
from wixapp.emulator import EmulatorState
from wixapp.emulator.records import Installation, RegisteredApp
from wixapp.logs import redact
from wixapp.testing import open_backend

from .conftest import AppFactory

PERSONAL = ("ownerEmail", "ownerInfo", "billing", "invoiceId")


def auth(token: str) -> dict[str, str]:
    return {"Authorization": token}


@pytest.fixture
def paid_instance(wix_emulator_state: EmulatorState, wix_registered_app: object) -> Installation:
    site = wix_emulator_state.create_site(display_name="Shop")
    return wix_emulator_state.install(
        wix_registered_app.app_id,  # type: ignore[attr-defined]
        site.site_id,
        is_free=False,
        package_name="premium",
        billing_cycle="YEARLY",
    )


# ---- item: instance data by role


@pytest.mark.parametrize("subject", ["VISITOR", "MEMBER"])
async def test_visitors_and_members_never_see_owner_or_billing_data(
    make_app: AppFactory,
    paid_instance: Installation,
    wix_emulator_state: EmulatorState,
    subject: str,
) -> None:
    token = wix_emulator_state.mint_token(paid_instance.instance_id, subject).token
    owner = wix_emulator_state.mint_token(paid_instance.instance_id, "USER").token
    async with open_backend(make_app()) as client:
        seen = await client.get("/get-instance?include=instance", headers=auth(token))
        whole = await client.get("/get-instance?include=instance", headers=auth(owner))
    assert seen.status_code == whole.status_code == 200
    shown = seen.text
    for field in PERSONAL:
        assert field not in shown
    assert "@" not in shown  # no e-mail address at all
    assert seen.json()["instance"]["instance"]["isFree"] is False
    assert set(seen.json()["instance"]["site"]) <= {
        "siteId",
        "siteDisplayName",
        "locale",
        "paymentCurrency",
        "multilingual",
        "url",
    }
    site = whole.json()["instance"]["site"]
    assert "ownerEmail" in site or "ownerInfo" in site  # the owner sees everything
    assert "billing" in whole.json()["instance"]["instance"]


async def test_the_visitor_allow_list_is_configurable_and_documented(
    make_app: AppFactory, paid_instance: Installation, wix_emulator_state: EmulatorState
) -> None:
    token = wix_emulator_state.mint_token(paid_instance.instance_id, "VISITOR").token
    app = make_app(
        WIXAPP_VISITOR_INSTANCE_FIELDS="instance.billing.packageName,site.siteDisplayName"
    )
    async with open_backend(app) as client:
        seen = await client.get("/get-instance?include=instance", headers=auth(token))
        schema = (await client.get("/openapi.json")).json()
    assert seen.json()["instance"] == {
        "instance": {"billing": {"packageName": "premium"}},
        "site": {"siteDisplayName": "Shop"},
    }
    described = schema["components"]["schemas"]["CallerBody"]["properties"]["instance"]
    assert "VISITOR and MEMBER" in described["description"]
    assert "WIXAPP_VISITOR_INSTANCE_FIELDS" in described["description"]


# ---- item: legacy values


async def test_an_old_legacy_value_is_refused_and_its_redaction_decodes_names(
    make_app: AppFactory, wix_instance: Installation, wix_emulator_state: EmulatorState
) -> None:
    from wixapp.identity.legacy import sign_instance_param

    secret = wix_emulator_state.find_app(wix_instance.app_id).app_secret  # type: ignore[union-attr]
    old = sign_instance_param(
        {
            "instanceId": wix_instance.instance_id,
            "signDate": "2015-01-01T00:00:00.000Z",
            "permissions": "OWNER",
        },
        secret,
    )
    fresh = wix_emulator_state.sign_legacy_instance(wix_instance.instance_id)
    async with open_backend(make_app()) as client:
        refused = await client.get(f"/get-instance?instance={old}")
        encoded_name = await client.get(f"/get-instance?%69nstance={fresh}")
        short = await client.get(f"/get-instance?instance={fresh}", headers={"x": "y"})
    assert (refused.status_code, refused.json()["error"]) == (401, "instance_expired")
    assert encoded_name.status_code == short.status_code == 200
    line = f'127.0.0.1:1 - "GET /get-instance?%69nstance={fresh} HTTP/1.1" 200'
    assert fresh not in redact(line)
    assert fresh not in redact(f"/x?a=1&%49NSTANCE={fresh}")
    assert "?other=keep" in redact("/x?other=keep")


# ---- item: HTTP surface


async def test_security_headers_everywhere_and_the_panel_framed_only_by_the_editor(
    make_app: AppFactory,
) -> None:
    app = make_app(
        WIXAPP_FRAME_ANCESTORS="https://studio.example.com", WIXAPP_GUARD_PATHS="/api/settings"
    )
    origin = {"Origin": "https://site.example"}
    preflight = {**origin, "Access-Control-Request-Method": "GET"}
    async with open_backend(app) as client:
        health = await client.get("/healthz")
        missing = await client.get("/nope")
        panel = await client.get("/panel")
        lean = await client.get("/get-instance/", headers=origin)  # a lean answer, refused
        guarded = await client.get("/api/settings", headers=origin)  # refused by the guard
        allowed = await client.options("/get-instance", headers=preflight)
        too_large = await client.post("/webhooks", content=b"x" * 1_100_000)
    answers = (health, missing, panel, lean, guarded, allowed, too_large)
    assert [answer.status_code for answer in answers] == [200, 404, 200, 401, 401, 200, 413]
    for answer in answers:
        assert answer.headers.get_list("x-content-type-options") == ["nosniff"]
    assert "content-security-policy" not in health.headers  # JSON: no page to protect
    policy = panel.headers["content-security-policy"]
    ancestors = policy.split("frame-ancestors ")[1].split(";")[0].split()
    assert "https://*.wix.com" in ancestors
    assert "https://studio.example.com" in ancestors
    assert "http://wix-emulator.invalid" in ancestors  # the configured Wix: the emulator
    assert "*" not in ancestors
    assert "script-src 'self'" in policy


def directive(policy: str, name: str) -> list[str]:
    found = [part.split()[1:] for part in policy.split(";") if part.split()[:1] == [name]]
    assert len(found) == 1, policy
    return found[0]


async def test_the_pages_allow_wix_design_system_styles_and_the_extra_sources(
    make_app: AppFactory,
) -> None:
    app = make_app(
        WIXAPP_CSP_EXTRA="style-src https://fonts.example.com; font-src https://fonts.example.com"
    )
    async with open_backend(app) as client:
        panel = await client.get("/panel")
        dashboard = await client.get("/dashboard")

    assert dashboard.status_code == 200
    for page in (panel, dashboard):
        policy = page.headers["content-security-policy"]
        styles = directive(policy, "style-src")
        assert "https://www.unpkg.com/@wix/design-system/dist/statics/" in styles
        assert "https://fonts.example.com" in styles
        assert "'self'" in styles  # extended, not replaced
        assert directive(policy, "font-src") == ["https://fonts.example.com"]
        assert directive(policy, "script-src") == ["'self'"]
        assert "https://*.wix.com" in directive(policy, "frame-ancestors")


async def test_a_trailing_slash_is_served_not_redirected_through_the_host_header(
    make_app: AppFactory,
) -> None:
    async with open_backend(make_app()) as client:
        answer = await client.get(
            "/healthz/", headers={"Host": "evil.example"}, follow_redirects=False
        )
    assert answer.status_code == 200
    assert "location" not in answer.headers
    assert "evil.example" not in answer.text


async def test_readyz_states_only_and_logs_the_reason(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there
    app = make_app(WIXAPP_REDIS_URL=f"redis://127.0.0.1:{port}/0")
    with caplog.at_level(logging.WARNING):
        async with open_backend(app) as client:
            ready = await client.get("/readyz")
            await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "redis": "degraded"}}
    assert str(port) not in ready.text
    logged = [r.getMessage() for r in caplog.records if "readiness: redis" in r.getMessage()]
    assert len(logged) == 1
    assert str(port) in logged[0]


async def test_refused_webhooks_are_logged_at_a_bounded_rate(
    make_app: AppFactory,
    wix_emulator_state: EmulatorState,
    wix_registered_app: RegisteredApp,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from wixapp.web import receiver

    receiver._refusals._last.clear()  # another test may have logged already
    app = make_app(
        WIX_APP_PUBLIC_KEY=wix_emulator_state.webhook_public_key(wix_registered_app.app_id)
    )
    with caplog.at_level(logging.WARNING, logger="wixapp.web"):
        async with open_backend(app) as client:
            answers = [await client.post("/webhooks", content=f"not.a.jwt{n}") for n in range(200)]
    assert {answer.status_code for answer in answers} <= {400, 401}
    lines = [r for r in caplog.records if "refused a webhook" in r.getMessage()]
    assert 1 <= len(lines) <= 2


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://shop.wixsite.com", True),
        ("https://a.b.wixsite.com", True),
        ("https://wixsite.com", False),
        ("https://wixsite.com.evil.example", False),
        ("https://evilwixsite.com", False),
        ("http://shop.wixsite.com", False),
        ("https://partner.example", True),
    ],
)
async def test_wildcard_cors_entries_match_subdomains_only(
    make_app: AppFactory, origin: str, allowed: bool
) -> None:
    app = make_app(WIXAPP_CORS_ORIGINS="https://*.wixsite.com, https://partner.example")
    async with open_backend(app) as client:
        answer = await client.options(
            "/get-instance",
            headers={"Origin": origin, "Access-Control-Request-Method": "GET"},
        )
    assert (answer.headers.get("access-control-allow-origin") == origin) is allowed


# ---- item: answers that are not Wix's, and pending migrations


@pytest.mark.parametrize(
    ("status", "content_type", "body"),
    [
        (404, "text/html", "<html><body>Not Found</body></html>"),
        (404, "application/json", '{"error": "no route"}'),
        (200, "text/html", "<html>a login page</html>"),
    ],
)
async def test_a_server_that_is_not_wix_is_a_502_logged_once(
    make_app: AppFactory,
    wix_instance: Installation,
    wix_emulator_state: EmulatorState,
    caplog: pytest.LogCaptureFixture,
    database_url: str,
    status: int,
    content_type: str,
    body: str,
) -> None:
    from wixapp.upstream import client as upstream

    upstream._not_wix_logged._last.clear()
    transport = httpx.MockTransport(
        lambda _: httpx.Response(status, headers={"content-type": content_type}, text=body)
    )
    from wixapp.server import create_app
    from wixapp.testing import settings_for_emulator

    app = create_app(
        settings_for_emulator(
            wix_emulator_state.find_app(wix_instance.app_id),  # type: ignore[arg-type]
            database_url=database_url,
            WIXAPP_HTTP_RETRIES=0,
        ),
        wix_transport=transport,
    )
    tokens = [wix_emulator_state.mint_token(wix_instance.instance_id).token for _ in range(5)]
    with caplog.at_level(logging.ERROR, logger="wixapp.client"):
        async with open_backend(app) as client:
            answers = [await client.get("/get-instance", headers=auth(t)) for t in tokens]
    assert {(a.status_code, a.json()["error"]) for a in answers} == {
        (502, "upstream_protocol_error")
    }
    assert "WIX_API_BASE_URL" in answers[0].json()["detail"]
    logged = [r for r in caplog.records if "not Wix's API" in r.getMessage()]
    assert len(logged) == 1


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_pending_migrations_make_readyz_503_and_requests_503_never_500(
    wix_registered_app: object,
    wix_instance: Installation,
    wix_emulator_state: EmulatorState,
    wix_transport: httpx.ASGITransport,
    kind: str,
) -> None:
    from wixapp.server import create_app
    from wixapp.testing import settings_for_emulator

    token = wix_emulator_state.mint_token(wix_instance.instance_id, "USER").token
    with make_database_url(kind) as url:  # never migrated
        settings = settings_for_emulator(
            wix_registered_app,  # type: ignore[arg-type]
            database_url=url,
            WIXAPP_MIGRATE_ON_START=False,
        )
        app = create_app(settings, wix_transport=wix_transport)
        async with open_backend(app) as client:
            ready = await client.get("/readyz")
            read = await client.get("/api/settings", headers=auth(token))
            write = await client.put(
                "/api/settings", json={"greeting": "x"}, headers={**auth(token), "If-Match": "*"}
            )
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"database": "migrations_pending"}
    for answer in (read, write):
        assert (answer.status_code, answer.json()["error"]) == (503, "migrations_pending")
