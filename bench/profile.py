"""Profile the hot path: ``python bench/profile.py [A,C,...] [run.py options]``.

(``make bench BENCH_ARGS=--profile=always`` profiles A and C at the end of a full run.)

Starts the same world as ``bench/run.py`` (emulator with upstream latency, the bench server
with and without caches, warm caches), drives each named scenario with wrk while py-spy
samples the server's worker, and prints where the CPU goes, by package and by function,
in microseconds per request; with A and C, what A spends beyond C. Collapsed stacks go
to ``bench/results/profile-<scenario>.txt`` (open them in https://www.speedscope.app).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import tempfile
from pathlib import Path

import harness
import run


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    names = ["A", "C"]
    if argv and not argv[0].startswith("-"):
        names = [n.strip() for n in argv.pop(0).split(",") if n.strip()]
    unknown = [n for n in names if n not in run.THROUGHPUT]
    if unknown:
        print(f"unknown scenarios {unknown}; choose from {list(run.THROUGHPUT)}", file=sys.stderr)
        return 2
    args = run.parse_args([*argv, "--only", "", "--profile", "always"])
    args.output.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="wixapp-bench-profile-"))
    log_dir = args.output / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    procs = harness.Processes(log_dir)
    bench = run.Bench(args, procs, tmp)

    async def go() -> dict[str, object]:
        await run.start_world(bench)
        return await run.profile_scenarios(bench, names)

    try:
        result = asyncio.run(go())
    finally:
        bench.drop_pg_database()
        procs.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    (args.output / "profile.json").write_text(json.dumps(result, indent=2))
    print()
    print(result["text"])
    print(f"\ncollapsed stacks: {args.output}/profile-<scenario>.txt; summary: profile.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
