"""``port_or_free``: a stable port across restarts, and a clear message when it is taken."""

from __future__ import annotations

import logging
import socket

import pytest

from wixapp.testing import port_or_free


def test_a_port_left_in_time_wait_by_a_stopped_server_is_used_again() -> None:
    # A server that answered one connection and stopped: its side closes first, so the
    # port stays in TIME_WAIT, which a probe without SO_REUSEADDR takes for "in use".
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    accepted.close()
    server.close()
    client.close()

    assert port_or_free(port) == port


def test_a_port_really_in_use_gives_another_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    with socket.create_server(("127.0.0.1", 0)) as holder:
        taken = holder.getsockname()[1]
        with caplog.at_level(logging.WARNING, logger="wixapp.serving"):
            chosen = port_or_free(taken)
    assert chosen != taken
    assert f"port {taken} on 127.0.0.1 is taken" in caplog.text
    assert f"using {chosen} instead" in caplog.text
