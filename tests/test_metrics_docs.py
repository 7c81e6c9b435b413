"""The deployment guide's metrics table names exactly what ``/metrics`` emits."""

from __future__ import annotations

import re
from pathlib import Path

from wixapp.metrics import Metrics

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "DEPLOYMENT.md"


def documented() -> dict[str, set[str]]:
    section = GUIDE.read_text().split("## Monitoring", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(wixapp_\w+)(?:\{([\w,]*)\})?`", section, flags=re.MULTILINE)
    return {name: set(filter(None, labels.split(","))) for name, labels in rows}


def emitted() -> dict[str, set[str]]:
    metrics = Metrics()
    found: dict[str, set[str]] = {}
    for collector in metrics.registry._collector_to_names:
        name = collector._name  # type: ignore[attr-defined]
        suffix = "_total" if collector._type == "counter" else ""  # type: ignore[attr-defined]
        found[name + suffix] = set(collector._labelnames)  # type: ignore[attr-defined]
    return found


def test_every_emitted_metric_is_documented_with_its_labels() -> None:
    assert documented() == emitted()
