"""Do two bench runs agree within the noise they report?

    python bench/compare.py [OLD.json [NEW.json]]

Without arguments: the two newest ``bench/results/run-*.json``. For each throughput scenario
the runs agree when their repeat ranges (min..max) overlap, or when the difference of the
means is within the wider of the two ranges; the same for the A/C and A/B ratios. Exact
counts (upstream calls per storm) must be equal.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def _agree(lo1: float, hi1: float, m1: float, lo2: float, hi2: float, m2: float) -> bool:
    overlap = lo1 <= hi2 and lo2 <= hi1
    wider = max(hi1 - lo1, hi2 - lo2)
    return overlap or abs(m1 - m2) <= wider


def compare(old: dict[str, Any], new: dict[str, Any]) -> tuple[list[str], bool]:
    lines = [
        f"old: {old.get('started')}  load average {old.get('loadavg_start')} -> "
        f"{old.get('loadavg_end')}",
        f"new: {new.get('started')}  load average {new.get('loadavg_start')} -> "
        f"{new.get('loadavg_end')}",
        "",
        f"{'scenario':<12} {'old req/s':>18} {'new req/s':>18} {'diff':>7}  "
        f"{'p50 old/new ms':>16}  agree",
    ]
    ok = True
    for name, s_old in old.get("scenarios", {}).items():
        s_new = new.get("scenarios", {}).get(name)
        if s_new is None:
            continue
        a, b = s_old["summary"], s_new["summary"]
        agree = _agree(
            a["rps_min"], a["rps_max"], a["rps_median"], b["rps_min"], b["rps_max"], b["rps_median"]
        )
        ok &= agree
        diff = (b["rps_median"] - a["rps_median"]) / a["rps_median"] * 100
        lines.append(
            f"{name:<12} {a['rps_median']:7.0f} ({a['rps_min']:.0f}..{a['rps_max']:.0f})"
            f"{'':<1} {b['rps_median']:7.0f} ({b['rps_min']:.0f}..{b['rps_max']:.0f}) "
            f"{diff:+6.1f}%  {a['p50_ms']:7.2f}/{b['p50_ms']:<7.2f}  {'yes' if agree else 'NO'}"
        )
    for name in ("A/C", "A/B", "D_cached/D_uncached"):
        r_old, r_new = old.get("ratios", {}).get(name), new.get("ratios", {}).get(name)
        if not r_old or not r_new:
            continue
        agree = _agree(
            r_old["min"], r_old["max"], r_old["median"], r_new["min"], r_new["max"], r_new["median"]
        )
        ok &= agree
        lines.append(
            f"{name:<12} {r_old['median']:7.2f} ({r_old['min']:.2f}..{r_old['max']:.2f}) "
            f"{r_new['median']:7.2f} ({r_new['min']:.2f}..{r_new['max']:.2f})"
            f"{'':>28}{'yes' if agree else 'NO'}"
        )
    s_old, s_new = old.get("storm"), new.get("storm")
    if s_old and s_new:
        same = s_old["cached_token_info_calls"] == s_new["cached_token_info_calls"]
        ok &= same
        lines.append(
            f"storm calls  {s_old['cached_token_info_calls']} vs "
            f"{s_new['cached_token_info_calls']}  {'yes' if same else 'NO'}"
        )
    m_old, m_new = old.get("mix", {}).get("cached"), new.get("mix", {}).get("cached")
    if m_old and m_new:
        lines.append(
            f"mix calls/request {m_old['calls_per_request']:.3f} vs "
            f"{m_new['calls_per_request']:.3f}; busiest instance "
            f"{m_old['calls_per_minute_per_instance_max']:.0f} vs "
            f"{m_new['calls_per_minute_per_instance_max']:.0f} calls/min"
        )
    t_old = {t["target"]: t["met"] for t in old.get("targets", [])}
    t_new = {t["target"]: t["met"] for t in new.get("targets", [])}
    for target in t_old:
        if target in t_new:
            lines.append(
                f"target {target}: {'met' if t_old[target] else 'missed'} / "
                f"{'met' if t_new[target] else 'missed'}"
            )
    lines.append("")
    lines.append("the two runs agree within their noise" if ok else "the runs DISAGREE")
    return lines, ok


def main(argv: list[str]) -> int:
    if len(argv) >= 2:
        old_path, new_path = Path(argv[0]), Path(argv[1])
    else:
        runs = sorted(RESULTS.glob("run-*.json"))
        if len(runs) < 2:
            print("compare: need two runs in bench/results (run `make bench` twice)")
            return 2
        old_path, new_path = (runs[-2], runs[-1]) if not argv else (Path(argv[0]), runs[-1])
    print(f"compare: {old_path.name} vs {new_path.name}")
    lines, ok = compare(json.loads(old_path.read_text()), json.loads(new_path.read_text()))
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
