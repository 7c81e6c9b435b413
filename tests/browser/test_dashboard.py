"""The app's dashboard page (@wix/dashboard + @wix/sdk only) in the emulator's Wix dashboard,
in real chromium: the page is framed by https://manage.wix.com (the emulator's HTTPS port,
reached through chromium's host resolver), its SDK shakes hands with the host, and every
request it sends is identified at the backend as the site's owner (USER) of its instance.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import FrameLocator, Page, expect

from wixapp.emulator import DashboardServer
from wixapp.identity.legacy import verify_instance_param

from .stack import Stack

pytestmark = pytest.mark.browser


def dashboard_of(stack: Stack) -> DashboardServer:
    assert stack.emulator.dashboard is not None
    return stack.emulator.dashboard


def open_dashboard(page: Page, stack: Stack, site: str, **extra: str) -> FrameLocator:
    url = dashboard_of(stack).dashboard_url(
        stack.app_id, stack.sites[site].instance_id, f"{stack.backend_url}/dashboard", **extra
    )
    page.goto(url)
    frame = page.frame_locator("#page-frame")
    expect(frame.locator("#page")).to_have_attribute("data-state", "ready")
    return frame


def host_record(page: Page) -> dict[str, Any]:
    record: dict[str, Any] = page.evaluate("() => JSON.parse(JSON.stringify(window.wixHost))")
    return record


def test_the_page_is_identified_as_the_owner_of_its_instance(
    dashboard_page: Page, stack: Stack, problems: list[str]
) -> None:
    stack.backend_log.clear()
    frame = open_dashboard(dashboard_page, stack, "bakery")

    expect(frame.locator("#instance-id")).to_have_text(stack.sites["bakery"].instance_id)
    expect(frame.locator("#subject")).to_have_text("USER")
    expect(frame.locator("#site-name")).to_have_text("Bakery")
    calls = [seen for seen in stack.backend_log.snapshot() if seen.path.startswith("/api/")]
    assert calls
    assert all(seen.headers.get("authorization") for seen in calls)
    assert all(seen.status == 200 for seen in calls)
    assert problems == []


def test_the_frame_gets_the_query_wix_adds(
    dashboard_page: Page, stack: Stack, problems: list[str]
) -> None:
    open_dashboard(dashboard_page, stack, "bakery")

    framed = dashboard_page.frame(url=lambda url: "/dashboard" in url and "origin=" in url)
    assert framed is not None
    query = parse_qs(urlsplit(framed.url).query)
    assert query["origin"] == ["https://manage.wix.com"]
    assert query["locale"] == ["en"]
    legacy = verify_instance_param(query["instance"][0], stack.app_secret)
    assert legacy.instance_id == stack.sites["bakery"].instance_id
    assert legacy.permissions == "OWNER"
    assert problems == []


def test_the_channel_calls_are_recorded_and_one_token_serves_many_requests(
    dashboard_page: Page, stack: Stack, problems: list[str]
) -> None:
    frame = open_dashboard(dashboard_page, stack, "bikes")

    frame.locator("#greeting").fill("Ride on")
    frame.locator("#save").click()
    expect(frame.locator("#page")).to_have_attribute("data-state", "saved")

    record = host_record(dashboard_page)
    assert record["connected"] is True
    assert {"message": "Settings saved", "type": "success"} in record["toasts"]
    assert record["heights"], "the page reports its height"
    assert "getAccessToken" in [call["method"] for call in record["calls"]]
    assert record["tokensMinted"] == 1  # four requests, one token: reused until it nears expiry
    assert problems == []


def test_a_token_near_expiry_is_renewed(
    dashboard_page: Page, stack: Stack, problems: list[str]
) -> None:
    frame = open_dashboard(dashboard_page, stack, "bakery", lifetime="2")
    assert host_record(dashboard_page)["tokensMinted"] == 1

    time.sleep(1.2)  # past the renewal point (half the lifetime of so short a token)
    frame.locator("#save").click()
    expect(frame.locator("#page")).to_have_attribute("data-state", "saved")

    assert host_record(dashboard_page)["tokensMinted"] == 2
    assert problems == []


def test_two_sites_side_by_side_never_see_each_others_data(
    dashboard_page: Page, stack: Stack, problems: list[str]
) -> None:
    bakery = open_dashboard(dashboard_page, stack, "bakery")
    bakery.locator("#greeting").fill("Fresh bread daily")
    bakery.locator("#save").click()
    expect(bakery.locator("#page")).to_have_attribute("data-state", "saved")

    other = dashboard_page.context.new_page()
    bikes = open_dashboard(other, stack, "bikes")

    expect(bikes.locator("#instance-id")).to_have_text(stack.sites["bikes"].instance_id)
    expect(bikes.locator("#greeting")).not_to_have_value("Fresh bread daily")
    dashboard_page.reload()
    expect(dashboard_page.frame_locator("#page-frame").locator("#greeting")).to_have_value(
        "Fresh bread daily"
    )
    assert problems == []


def test_the_host_refuses_a_page_off_this_machine(dashboard_page: Page, stack: Stack) -> None:
    url = dashboard_of(stack).dashboard_url(
        stack.app_id, stack.sites["bakery"].instance_id, "https://evil.example/dashboard"
    )

    response = dashboard_page.goto(url)

    assert response is not None
    assert response.status == 400
    expect(dashboard_page.locator("body")).to_contain_text("page must be an http(s) URL")
