"""The public surface is a tested artefact: what ``import wixapp`` gives, and nothing else."""

from __future__ import annotations

import subprocess
import sys

import pytest

import wixapp
from wixapp.config import load_settings

PUBLIC_NAMES = {
    "AppCredentialsError",
    "AppInstance",
    "AppToken",
    "AuthenticationError",
    "Caller",
    "ConfigurationError",
    "ExpiredTokenError",
    "DispatchResult",
    "EventType",
    "InstanceCache",
    "InstanceData",
    "InstanceRemovedError",
    "InvalidInstanceError",
    "InvalidRequestError",
    "InvalidTokenError",
    "LegacyInstance",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PreconditionFailedError",
    "ProtocolError",
    "RedactCredentials",
    "RateLimitedError",
    "RetryAfterError",
    "SchemaNotReadyError",
    "Settings",
    "SiteInfo",
    "StoreUnavailableError",
    "SubjectType",
    "TokenCheckBudgetError",
    "TokenInfo",
    "UpstreamUnavailableError",
    "WebhookError",
    "WebhookEvent",
    "WebhookRouter",
    "WebhookSignatureError",
    "WixAPIError",
    "WixApp",
    "WixAppError",
    "WixRequestError",
    "__version__",
    "load_settings",
    "redact_access_logs",
    "sign_webhook",
    "trust_token_info",
    "verify_instance_param",
    "verify_webhook",
}


def test_the_exported_names_are_frozen() -> None:
    assert set(wixapp.__all__) == PUBLIC_NAMES


@pytest.mark.parametrize("name", sorted(PUBLIC_NAMES - {"__version__"}))
def test_each_public_name_belongs_to_the_package(name: str) -> None:
    assert getattr(wixapp, name).__module__ == "wixapp"


def test_every_error_class_is_exported() -> None:
    from wixapp import errors

    classes = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, Exception)
    }
    assert classes <= set(wixapp.__all__)


def test_the_documented_imports_work() -> None:
    from wixapp import InstanceData, Settings, WixApp, load_settings

    assert WixApp.__module__ == "wixapp"
    assert {InstanceData.__name__, Settings.__name__, load_settings.__name__} == {
        "InstanceData",
        "Settings",
        "load_settings",
    }


def test_importing_wixapp_loads_neither_pytest_nor_the_server() -> None:
    code = (
        "import sys, wixapp; "
        "print(sorted(m for m in ('pytest', 'fastapi', 'wixapp.server', 'wixapp.testing') "
        "if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_python_dash_m_wixapp_is_the_command_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "wixapp", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "demo" in result.stdout
    assert "serve" in result.stdout


async def test_wixapp_reads_the_environment_when_given_no_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WIX_APP_ID", "app-from-the-environment")
    monkeypatch.setenv("WIX_APP_SECRET", "secret-from-the-environment")
    wix = wixapp.WixApp()
    try:
        assert wix.settings.app_id == "app-from-the-environment"
        assert wix.settings == load_settings()
    finally:
        await wix.aclose()


async def test_a_closed_wixapp_refuses_to_start_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WIX_APP_ID", "app")
    monkeypatch.setenv("WIX_APP_SECRET", "secret")
    wix = wixapp.WixApp()
    async with wix:
        pass
    with pytest.raises(RuntimeError, match="closed"):
        await wix.start()


async def test_collaborators_are_not_assignable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WIX_APP_ID", "app")
    monkeypatch.setenv("WIX_APP_SECRET", "secret")
    async with wixapp.WixApp() as wix:
        for name in ("settings", "metrics", "client"):
            with pytest.raises(AttributeError):
                setattr(wix, name, None)
        public = {name for name in vars(wix) if not name.startswith("_")}
    assert public == set()


@pytest.mark.parametrize(
    "adapter", ["wixapp.adapters.asgi", "wixapp.adapters.flask", "wixapp.adapters.django"]
)
def test_a_framework_adapter_loads_neither_fastapi_nor_the_backend(adapter: str) -> None:
    heavy = ("fastapi", "wixapp.server", "wixapp.emulator", "wixapp.testing", "pytest")
    code = f"import sys, {adapter}; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("module", ["wixapp", "wixapp.errors", "wixapp.store"])
def test_the_old_name_of_a_renamed_error_still_works_with_a_warning(module: str) -> None:
    namespace = __import__(module, fromlist=["_"])
    with pytest.warns(DeprecationWarning, match="use PreconditionFailedError"):
        old = namespace.PreconditionFailed
    assert old is wixapp.PreconditionFailedError
    with pytest.raises(AttributeError):
        _ = namespace.NoSuchError
