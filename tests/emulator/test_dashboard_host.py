"""The emulator's Wix dashboard host: its certificate, its HTTPS port playing
https://manage.wix.com, and the /dashboard page's checks (the browser side is in
tests/browser/test_dashboard.py)."""

from __future__ import annotations

import ssl
import stat
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from wixapp.emulator import DashboardServer, EmulatorServer, EmulatorState, create_emulator
from wixapp.emulator.dashboard_tls import chromium_flags, make_certificate

LOCAL_PAGE = "http://127.0.0.1:9000/dashboard"


def test_the_certificate_names_the_dashboard_hosts(tmp_path: Path) -> None:
    made = make_certificate(tmp_path)

    certificate = x509.load_pem_x509_certificate(made.certfile.read_bytes())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"manage.wix.com", "*.manage.wix.com"} <= set(names.get_values_for_type(x509.DNSName))
    assert stat.S_IMODE(made.keyfile.stat().st_mode) == 0o600
    assert made.fingerprint.count(":") == 31  # SHA-256, shown as hex pairs


def test_the_chromium_flags_map_the_dashboard_names_to_the_port() -> None:
    flags = chromium_flags(8443, offline=True)

    assert "--ignore-certificate-errors" in flags
    rules = next(flag for flag in flags if flag.startswith("--host-resolver-rules="))
    assert "MAP manage.wix.com:443 127.0.0.1:8443" in rules
    assert "MAP *.manage.wix.com:443 127.0.0.1:8443" in rules
    assert "MAP * ~NOTFOUND" in rules


async def get_dashboard(page: str, *, dashboard: bool = True) -> httpx.Response:
    transport = httpx.ASGITransport(app=create_emulator(dashboard=dashboard))
    async with httpx.AsyncClient(transport=transport, base_url="https://manage.wix.com") as client:
        return await client.get(
            "/dashboard", params={"appId": "a", "instanceId": "i", "page": page}
        )


@pytest.mark.anyio
async def test_the_dashboard_page_is_served_as_manage_wix_com() -> None:
    response = await get_dashboard(LOCAL_PAGE)

    assert response.status_code == 200
    assert "/_host/dashboard-host.js" in response.text


@pytest.mark.anyio
async def test_the_plain_port_does_not_answer_as_manage_wix_com() -> None:
    response = await get_dashboard(LOCAL_PAGE, dashboard=False)

    assert response.status_code == 403


@pytest.mark.anyio
@pytest.mark.parametrize(
    "page",
    [
        "https://evil.example/dashboard",
        "http://192.168.1.10/dashboard",
        "javascript:alert(1)",
        "//127.0.0.1/dashboard",
    ],
)
async def test_a_page_off_this_machine_is_refused(page: str) -> None:
    response = await get_dashboard(page)

    assert response.status_code == 400
    assert "page must be an http(s) URL on this machine" in response.text


def test_the_https_port_serves_the_page_with_its_certificate() -> None:
    with EmulatorServer(dashboard=True) as server:
        assert server.dashboard is not None
        port = server.dashboard.port
        served = ssl.get_server_certificate(("127.0.0.1", port))
        made = server.dashboard.certificate.certfile.read_text()
        with httpx.Client(verify=False) as client:
            page = client.get(
                f"https://127.0.0.1:{port}/dashboard",
                params={"appId": "a", "instanceId": "i", "page": LOCAL_PAGE},
                headers={"Host": "manage.wix.com"},
            )
            minted = client.post(
                f"https://127.0.0.1:{port}/_emulator/tokens",
                json={"instanceId": "missing"},
                headers={"Host": "manage.wix.com", "Origin": "https://manage.wix.com"},
            )
            plain = httpx.get(f"{server.url}/dashboard", headers={"Host": "manage.wix.com"})

    assert x509.load_pem_x509_certificate(served.encode()) == x509.load_pem_x509_certificate(
        made.encode()
    )
    assert page.status_code == 200
    assert minted.status_code == 404  # through the guard: the instance does not exist
    assert plain.status_code == 403


def test_the_plugin_serves_the_dashboard_host_of_wix_emulator(
    wix_dashboard_host: DashboardServer, wix_emulator_state: EmulatorState
) -> None:
    app = wix_emulator_state.register_app()
    site = wix_emulator_state.create_site()
    instance_id = wix_emulator_state.install(app.app_id, site.site_id).instance_id
    url = wix_dashboard_host.dashboard_url(app.app_id, instance_id, LOCAL_PAGE)
    port = wix_dashboard_host.port

    with httpx.Client(verify=False) as client:
        minted = client.post(
            f"https://127.0.0.1:{port}/_emulator/tokens",
            json={"instanceId": instance_id, "subjectType": "USER"},
            headers={"Host": "manage.wix.com", "Origin": "https://manage.wix.com"},
        )

    assert url.startswith("https://manage.wix.com/dashboard?")
    assert minted.status_code == 200
    claims = wix_emulator_state.introspect(minted.json()["token"])  # one state, both ports
    assert claims is not None
    assert claims.subject_type.value == "USER"
