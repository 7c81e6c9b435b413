"""The sync facade: one WixApp on one background loop, shared by threads and other loops."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from wixapp.adapters.sync import SyncWixApp
from wixapp.emulator import EmulatorState
from wixapp.emulator.records import Installation
from wixapp.errors import InvalidTokenError
from wixapp.models import Caller
from wixapp.testing import TokenFactory

from .conftest import AdapterSetup

THREADS = 50


@pytest.fixture
def facade(adapter: AdapterSetup) -> Iterator[SyncWixApp]:
    with SyncWixApp(adapter.settings, **adapter.options) as opened:
        yield opened


def test_fifty_threads_with_one_fresh_token_make_one_token_info_call(
    facade: SyncWixApp,
    wix_instance: Installation,
    wix_token: TokenFactory,
    wix_emulator_state: EmulatorState,
) -> None:
    token = wix_token(wix_instance.instance_id)
    # Wix answers slowly, so every thread asks while the first question is in flight.
    wix_emulator_state.add_fault("token-info", latency=0.05)
    start = threading.Barrier(THREADS)

    def identify() -> Caller:
        start.wait()
        return facade.identify(token)

    with ThreadPoolExecutor(THREADS) as pool:
        callers = list(pool.map(lambda _: identify(), range(THREADS)))

    assert {caller.instance_id for caller in callers} == {wix_instance.instance_id}
    assert len(callers) == THREADS
    assert wix_emulator_state.calls()["token-info"] == 1


def test_refusals_arrive_as_wixapp_errors(
    facade: SyncWixApp,
    wix_instance: Installation,
    wix_token: TokenFactory,
    wix_emulator_state: EmulatorState,
) -> None:
    token = wix_token(wix_instance.instance_id)
    wix_emulator_state.revoke_token(token)
    with pytest.raises(InvalidTokenError):
        facade.identify(token)


def test_instance_data_and_the_elevated_client_from_threads(
    facade: SyncWixApp, wix_instance: Installation, wix_emulator_state: EmulatorState
) -> None:
    instance_id = wix_instance.instance_id

    def read(_: int) -> int:
        with facade.elevated_client(instance_id) as http:
            return http.get("/apps/v1/instance").status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(read, range(16)))
    data = facade.instance(instance_id)

    assert statuses == [200] * 16
    assert data.data.instance.instance_id == instance_id
    assert wix_emulator_state.calls()["token"] == 1  # one app token, shared by every thread


async def test_other_event_loops_await_the_same_core(
    facade: SyncWixApp,
    wix_instance: Installation,
    wix_token: TokenFactory,
    wix_emulator_state: EmulatorState,
) -> None:
    token = wix_token(wix_instance.instance_id)
    wix_emulator_state.add_fault("token-info", latency=0.05)
    from_threads = asyncio.gather(*(asyncio.to_thread(facade.identify, token) for _ in range(5)))
    from_here = asyncio.gather(*(facade.arun(lambda wix: wix.identify(token)) for _ in range(5)))
    callers = [*await from_threads, *await from_here]
    assert {c.instance_id for c in callers} == {wix_instance.instance_id}
    assert wix_emulator_state.calls()["token-info"] == 1


def test_webhook_verification_from_sync_code(
    facade: SyncWixApp, adapter: AdapterSetup, wix_instance: Installation
) -> None:
    body = adapter.signed(
        "AppRemoved", wix_instance.instance_id, {"appId": adapter.settings.app_id}
    )
    event = facade.verify_webhook(body)
    assert (event.event_type, event.instance_id) == ("AppRemoved", wix_instance.instance_id)


def test_close_stops_the_loop_and_refuses_further_calls(
    adapter: AdapterSetup, wix_instance: Installation, wix_token: TokenFactory
) -> None:
    facade = SyncWixApp(adapter.settings, **adapter.options)
    facade.identify(wix_token(wix_instance.instance_id))
    facade.receive_webhook(adapter.signed("AppInstalled", wix_instance.instance_id, {}))
    loop_threads = [t for t in threading.enumerate() if t.name == "wixapp-loop"]

    facade.close()
    facade.close()  # a second close does nothing

    assert facade.closed
    assert not any(thread.is_alive() for thread in loop_threads)
    with pytest.raises(RuntimeError, match="closed"):
        facade.identify(wix_token(wix_instance.instance_id))
    assert adapter.handled.is_set()  # the handler ran before the loop stopped


def test_a_sync_call_from_the_loop_itself_is_refused(
    facade: SyncWixApp, wix_instance: Installation, wix_token: TokenFactory
) -> None:
    token = wix_token(wix_instance.instance_id)

    async def reentrant(_wix: object) -> object:
        return facade.identify(token)  # would wait for itself forever

    with pytest.raises(RuntimeError, match="own event loop"):
        facade.run(reentrant)


def test_a_forked_process_gets_a_core_of_its_own(
    facade: SyncWixApp, wix_instance: Installation, wix_token: TokenFactory
) -> None:
    """A server that preloads the app and then forks: the child's calls work (in the child
    the parent's loop thread does not exist)."""
    token = wix_token(wix_instance.instance_id)
    facade.identify(token)
    child = os.fork()
    if child == 0:  # the child: report through the exit status, skip pytest's teardown
        try:
            ok = facade.identify(token).instance_id == wix_instance.instance_id
            facade.close()
        except BaseException:
            ok = False
        os._exit(0 if ok else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert facade.identify(token).instance_id == wix_instance.instance_id  # the parent's still


def test_the_caller_client_calls_wix_as_the_caller_from_any_thread(
    adapter: AdapterSetup,
    wix_emulator: Starlette,
    wix_instance: Installation,
    wix_token: TokenFactory,
    wix_emulator_state: EmulatorState,
) -> None:
    async def whoami(request: Request) -> JSONResponse:
        # "any Wix API": who the emulator says the Authorization it received belongs to
        claims = wix_emulator_state.introspect(request.headers.get("authorization", ""))
        if claims is None:
            return JSONResponse({"message": "unauthenticated"}, status_code=401)
        return JSONResponse({"subjectType": claims.subject_type.value})

    wix_api = Starlette(routes=[Route("/whoami", whoami), Mount("/", wix_emulator)])
    options = {**adapter.options, "transport": httpx.ASGITransport(app=wix_api)}
    token = wix_token(wix_instance.instance_id, "MEMBER")

    def call(_: int) -> str:
        with facade.caller_client(token) as wix:
            return str(wix.get("/whoami").json()["subjectType"])

    with SyncWixApp(adapter.settings, **options) as facade, ThreadPoolExecutor(4) as pool:
        seen = list(pool.map(call, range(8)))

    assert seen == ["MEMBER"] * 8
    assert wix_emulator_state.calls()["token"] == 1  # one unbound token, shared by threads
