"""The bench's PNG chart (matplotlib, installed by ``make bench`` from bench/requirements.txt).

Four panels: throughput with the spread of the repeats, p50/p99 latency (saturation and
fixed rates), upstream calls per request, and the mix's Wix calls per minute per instance
against Wix's limit of 200.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SHORT = {
    "A": "A cached",
    "C": "C bare (lean)",
    "F": "F FastAPI route",
    "X": "X Express const",
    "B": "B uncached",
    "N": "N Express+axios",
    "D_cached": "D incl. cached",
    "D_uncached": "D incl. uncached",
    "ND": "ND Express elev.",
    "S_sqlite": "S page view SQLite",
    "S_pg": "S page view PG",
    "W2": "W2 bare, 2 workers",
}
# wixapp's scenarios green (the bare routes grey), the Node peers orange, uncached red.
COLORS = {"X": "#e8590c", "N": "#e8590c", "ND": "#e8590c", "C": "#868e96", "F": "#868e96"}
COLORS |= {"B": "#c92a2a", "D_uncached": "#c92a2a", "W2": "#1971c2"}


def draw(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scenarios = results.get("scenarios", {})
    names = list(scenarios)
    fig, axes = plt.subplots(2, 2, figsize=(13, 8.5))
    m = results.get("machine", {})
    cfg = results.get("config", {})
    fig.suptitle(
        f"wixapp bench {results.get('started', '')}: {m.get('nproc')} cores, "
        f"{cfg.get('workers')} uvicorn worker(s), upstream latency {cfg.get('latency_ms'):g} ms, "
        f"wrk -c{cfg.get('connections')}",
        fontsize=11,
    )

    # 1. throughput
    ax = axes[0][0]
    if names:
        means = [scenarios[n]["summary"]["rps_median"] for n in names]
        lows = [means[i] - scenarios[n]["summary"]["rps_min"] for i, n in enumerate(names)]
        highs = [scenarios[n]["summary"]["rps_max"] - means[i] for i, n in enumerate(names)]
        colors = [COLORS.get(n, "#2b8a3e") for n in names]
        bars = ax.bar(
            [SHORT.get(n, n) for n in names], means, yerr=[lows, highs], capsize=4, color=colors
        )
        for bar, value in zip(bars, means, strict=True):
            ax.annotate(
                f"{value:.0f}",
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=8,
                xytext=(0, 3),
                textcoords="offset points",
            )
        ratios = results.get("ratios", {})
        if "A/C" in ratios:
            ax.set_title(
                f"requests/s at saturation (median, min..max of {len(scenarios[names[0]]['runs'])} "
                f"repeats); A/C {ratios['A/C']['median']:.2f}, A/B {ratios['A/B']['median']:.1f}",
                fontsize=10,
            )
        ax.tick_params(axis="x", labelsize=8, labelrotation=20)
        ax.set_ylabel("requests/s")

    # 2. latency
    ax = axes[0][1]
    labels, p50, p99 = [], [], []
    for n in names:
        labels.append(f"{SHORT.get(n, n)}\nsat.")
        p50.append(scenarios[n]["summary"]["p50_ms"])
        p99.append(scenarios[n]["summary"]["p99_ms"])
    for run in results.get("fixed_rate", {}).get("runs", []):
        how = "open" if run["rate_kind"] == "moderate" else "paced"
        labels.append(f"{run['scenario']} @{run['offered_rps']:.0f}/s\n{how}")
        p50.append(run["p50_ms"] or 0)
        p99.append(run["p99_ms"] or 0)
    if labels:
        xs = range(len(labels))
        ax.bar([x - 0.2 for x in xs], p50, width=0.4, label="p50", color="#1971c2")
        ax.bar([x + 0.2 for x in xs], p99, width=0.4, label="p99", color="#a5d8ff")
        ax.set_yscale("log")
        ax.axhline(5, color="#2b8a3e", linestyle="--", linewidth=1, label="5 ms")
        latency = cfg.get("latency_ms", 50)
        ax.axhline(latency, color="#c92a2a", linestyle=":", linewidth=1, label="upstream")
        ax.set_xticks(list(xs))
        ax.set_xticklabels(labels, fontsize=7, rotation=30, ha="right")
        ax.set_ylabel("ms (log)")
        ax.set_title(
            "latency: saturation (wrk), a fixed rate (open loop), half of A's (paced wrk)",
            fontsize=10,
        )
        ax.legend(fontsize=8)

    # 3. upstream calls per request
    ax = axes[1][0]
    labels, values = [], []
    for n in names:
        labels.append(SHORT.get(n, n))
        values.append(scenarios[n]["summary"]["calls_per_request"])
    mix = results.get("mix", {})
    for server in ("cached", "uncached"):
        if server in mix:
            labels.append(f"mix {server}" + ("" if mix[server].get("measured", True) else "*"))
            values.append(mix[server]["calls_per_request"])
    if labels:
        bars = ax.bar(labels, values, color="#5f3dc4")
        ax.set_yscale("symlog", linthresh=0.01)
        ax.axhline(0.02, color="#2b8a3e", linestyle="--", linewidth=1, label="0.02 target (mix)")
        for bar, value in zip(bars, values, strict=True):
            ax.annotate(
                f"{value:.3f}",
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=8,
                xytext=(0, 3),
                textcoords="offset points",
            )
        storm = results.get("storm")
        title = "Wix calls per request"
        if storm:
            title += (
                f"; storm of {storm['storms'][0]['k']}: cached {storm['cached_token_info_calls']}"
                f", uncached {storm['uncached_token_info_calls']} calls"
            )
        ax.set_title(title, fontsize=10)
        ax.tick_params(axis="x", labelsize=8, labelrotation=20)
        ax.legend(fontsize=8)

    # 4. the mix against Wix's rate limit
    ax = axes[1][1]
    if "cached" in mix:
        servers = [s for s in ("cached", "uncached") if s in mix]
        busiest = [mix[s]["calls_per_minute_per_instance_max"] for s in servers]
        mean = [mix[s]["calls_per_minute_per_instance_mean"] for s in servers]
        xs = range(len(servers))
        ax.bar([x - 0.2 for x in xs], mean, width=0.4, label="mean instance", color="#74c0fc")
        ax.bar([x + 0.2 for x in xs], busiest, width=0.4, label="busiest instance", color="#1864ab")
        ax.axhline(200, color="#c92a2a", linestyle="--", label="Wix limit 200/min")
        ax.set_xticks(list(xs))
        ax.set_xticklabels(
            [
                s if mix[s].get("measured", True) else f"{s} (derived: 1 call/request)"
                for s in servers
            ]
        )
        ax.set_ylabel("Wix calls per minute per instance")
        ax.set_title(
            f"mix: {mix['visitors']} visitors over {mix['sites']} sites, {mix['reuse']} "
            f"requests per token, "
            f"{mix['cached']['visitors_per_minute_per_instance']:.0f} new visitors/min/site",
            fontsize=10,
        )
        ax.legend(fontsize=8)
    else:
        ax.axis("off")

    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
