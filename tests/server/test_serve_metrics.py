"""`/metrics` under `wixapp serve --workers 2` answers for the whole server: every scrape,
whichever worker takes it, gives the same totals (prometheus_client's multiprocess mode in a
folder `wixapp serve` makes and removes)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx
import pytest

from wixapp.cli import shared_metrics
from wixapp.metrics import MULTIPROCESS_DIR_VARIABLE

from .test_serve_stack import LOOPBACK, serve

pytestmark = [pytest.mark.multiprocess, pytest.mark.slow]

REQUESTS = 40
SCRAPES = 8
HEALTHZ_COUNT = re.compile(
    r'^wixapp_request_seconds_count\{route="/healthz",status="2xx"\} (\S+)$', re.MULTILINE
)


def healthz_total(exposition: str) -> float:
    found = HEALTHZ_COUNT.findall(exposition)
    assert len(found) == 1, exposition[:2000]
    return float(found[0])


def test_every_scrape_of_two_workers_gives_the_same_totals(tmp_path: Path) -> None:
    with serve(tmp_path) as port:
        totals = []
        for _ in range(SCRAPES):
            # A new connection each: the kernel hands them to either worker.
            with httpx.Client(base_url=f"http://{LOOPBACK}:{port}", timeout=5) as client:
                for _ in range(REQUESTS // SCRAPES):
                    assert client.get("/healthz").status_code == 200
            with httpx.Client(base_url=f"http://{LOOPBACK}:{port}", timeout=5) as client:
                totals.append(healthz_total(client.get("/metrics").text))
        scrapes = []
        for _ in range(SCRAPES):
            with httpx.Client(base_url=f"http://{LOOPBACK}:{port}", timeout=5) as client:
                scrapes.append(healthz_total(client.get("/metrics").text))
    # Counted before the scrape at once by whichever worker answered: never fewer than sent.
    assert totals == sorted(totals)
    assert totals[-1] >= REQUESTS  # the start-up health checks count too
    assert scrapes == [scrapes[0]] * SCRAPES, scrapes
    assert scrapes[0] == totals[-1]


def test_the_shared_folder_is_made_for_several_workers_and_removed_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(MULTIPROCESS_DIR_VARIABLE, raising=False)
    with shared_metrics(1):
        assert MULTIPROCESS_DIR_VARIABLE not in os.environ
    with shared_metrics(2):
        folder = Path(os.environ[MULTIPROCESS_DIR_VARIABLE])
        assert folder.is_dir()
    assert not folder.exists()
    assert MULTIPROCESS_DIR_VARIABLE not in os.environ
