from __future__ import annotations

import wixapp


def test_exported_names_are_what_we_mean() -> None:
    exported = set(wixapp.__all__)
    assert {"Caller", "SubjectType", "WixAppError", "InvalidTokenError"} <= exported
    assert {"WebhookRouter", "WebhookEvent", "verify_webhook", "verify_instance_param"} <= exported
    for name in exported:
        assert hasattr(wixapp, name), name
    assert sorted(wixapp.__all__) == list(wixapp.__all__)
