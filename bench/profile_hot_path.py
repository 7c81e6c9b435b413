"""Sample a running bench server with py-spy while wrk loads one route; summarize the stacks.

Used by ``bench/run.py --profile`` (and automatically when an A target is missed) and by
``bench/profile.py``. Writes the collapsed stacks (``profile-<name>.txt``: open them in
https://www.speedscope.app or any flamegraph tool) and returns a text summary: where the
worker's CPU goes, by package and by function, and how much is identification.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import harness

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")

# Which package a frame's file belongs to, first match wins.
_PACKAGES = [
    ("wixapp identification", ("wixapp/identity/", "wixapp/app.py", "wixapp/cache/")),
    ("wixapp last-seen", ("wixapp/server/seen.py",)),
    ("wixapp middleware", ("wixapp/server/middleware.py",)),
    ("wixapp other", ("wixapp/", "benchapp.py")),
    ("prometheus_client", ("prometheus_client/",)),
    ("h11 (HTTP parsing)", ("h11/",)),
    ("httptools", ("httptools/",)),
    ("uvicorn", ("uvicorn/",)),
    ("fastapi", ("fastapi/",)),
    ("starlette", ("starlette/",)),
    ("pydantic", ("pydantic/", "pydantic_core/")),
    ("asyncio / event loop", ("asyncio/", "selectors.py", "uvloop/")),
    ("json", ("json/",)),
    ("anyio", ("anyio/",)),
]

# Frames whose presence anywhere in a stack marks the sample as "identifying a caller".
_IDENTIFY = ("current_caller", "identify", "identify_request", "caller_of", "token_from_header")


def _parse_frame(frame: str) -> tuple[str, str]:
    match = _FRAME.match(frame)
    if not match:
        return frame, ""
    return match["func"], match["file"] or ""


def _package(file: str) -> str:
    for name, needles in _PACKAGES:
        if any(n in file for n in needles):
            return name
    return "other"


def summarize(collapsed: str, title: str, *, cpu_us_per_request: float) -> dict[str, Any]:
    """Shares of the sampled stacks, turned into microseconds of CPU per request with the
    CPU time the kernel counted for the server (a sampler on a busy machine also samples a
    thread that is runnable but waiting for a core, so its own counts overstate CPU)."""
    total = 0
    self_by_func: Counter[str] = Counter()
    self_by_package: Counter[str] = Counter()
    inclusive_wixapp: Counter[str] = Counter()
    identify_samples = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_parse_frame(f) for f in stack.split(";")]
        frames = [f for f in frames if f[1]]  # drop "process"/"thread" pseudo frames
        if not frames:
            continue
        total += count
        func, file = frames[-1]
        short = file.split("site-packages/")[-1].split("/src/")[-1]
        self_by_func[f"{func} ({short})"] += count
        self_by_package[_package(file)] += count
        seen: set[str] = set()
        for f, path in frames:
            if "wixapp/" in path or "benchapp" in path:
                key = f"{f} ({path.split('/src/')[-1].split('bench/')[-1]})"
                if key not in seen:
                    seen.add(key)
                    inclusive_wixapp[key] += count
        if any(f in _IDENTIFY and "wixapp/" in path for f, path in frames):
            identify_samples += count
    us = cpu_us_per_request / total if total else 0.0  # microseconds per request, per sample
    lines = [f"profile: {title}: {total} samples; {cpu_us_per_request:.0f} us of CPU per request"]
    if total:
        lines.append(
            f"  identification (current_caller -> identify, inclusive): "
            f"{identify_samples / total * 100:.1f} % = {identify_samples * us:.0f} us/request"
        )
        lines.append("  self time by package:             share   us/request")
        for name, n in self_by_package.most_common(12):
            lines.append(f"    {name:<30} {n / total * 100:5.1f} %  {n * us:6.1f}")
        lines.append("  top functions, self time:")
        for name, n in self_by_func.most_common(12):
            lines.append(f"    {n / total * 100:5.1f} %  {n * us:6.1f} us  {name}")
        lines.append("  wixapp functions, inclusive:")
        for name, n in inclusive_wixapp.most_common(10):
            lines.append(f"    {n / total * 100:5.1f} %  {n * us:6.1f} us  {name}")
    return {
        "title": title,
        "samples": total,
        "us_per_request": total * us,
        "identify_share": identify_samples / total if total else None,
        "identify_us_per_request": identify_samples * us,
        "self_us_by_package": {k: v * us for k, v in self_by_package.most_common()},
        "self_us_by_function": {k: v * us for k, v in self_by_func.most_common(40)},
        "wixapp_inclusive_us": {k: v * us for k, v in inclusive_wixapp.most_common(25)},
        "text": "\n".join(lines),
    }


def compare(a: dict[str, Any], c: dict[str, Any], names: tuple[str, str] = ("A", "C")) -> str:
    """Where the first profile's extra CPU per request goes, against the second."""
    lines = [
        f"profile: {names[0]} - {names[1]}: {a['us_per_request']:.0f} - {c['us_per_request']:.0f}"
        f" = {a['us_per_request'] - c['us_per_request']:+.0f} us of CPU per request",
        f"  by package (self time, us/request)   {names[0]:>7} {names[1]:>7}   delta",
    ]
    packages = set(a["self_us_by_package"]) | set(c["self_us_by_package"])
    deltas = sorted(
        packages,
        key=lambda k: -(a["self_us_by_package"].get(k, 0) - c["self_us_by_package"].get(k, 0)),
    )
    for k in deltas:
        x, y = a["self_us_by_package"].get(k, 0.0), c["self_us_by_package"].get(k, 0.0)
        if abs(x - y) >= 1.0:
            lines.append(f"    {k:<34} {x:7.1f} {y:7.1f} {x - y:+7.1f}")
    funcs = set(a["self_us_by_function"]) | set(c["self_us_by_function"])
    top = sorted(
        funcs,
        key=lambda k: -(a["self_us_by_function"].get(k, 0) - c["self_us_by_function"].get(k, 0)),
    )[:10]
    lines.append("  functions with the most extra self time:")
    for k in top:
        x, y = a["self_us_by_function"].get(k, 0.0), c["self_us_by_function"].get(k, 0.0)
        lines.append(f"    {x - y:+7.1f} us  {k}")
    return "\n".join(lines)


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(harness.PYTHON).with_name("py-spy"))
    if not Path(found).exists():
        raise RuntimeError("py-spy is not installed: pip install -r bench/requirements.txt")
    return found


async def record(
    proc: harness.Proc,
    url: str,
    path: str,
    tokens_file: Path,
    *,
    seconds: int,
    connections: int,
    output: Path,
    rate: int = 500,
    single_worker: bool = True,
) -> dict[str, Any]:
    """wrk on ``url + path`` while py-spy samples the server's processes for ``seconds``;
    the collapsed stacks, and the server's CPU time and requests served meanwhile."""
    served_before = harness.served_requests(url) if single_worker else None
    cpu_before = harness.tree_cpu_seconds(proc.pid)
    argv = [
        py_spy(), "record", "--pid", str(proc.pid), "--subprocesses", "--nonblocking",
        "--rate", str(rate), "--duration", str(seconds), "--format", "raw",
        "--output", str(output),
    ]  # fmt: skip
    spy = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        await asyncio.sleep(0.3)  # py-spy attaches
        load = asyncio.to_thread(
            harness.run_wrk,
            url=url,
            path=path,
            tokens_file=tokens_file,
            duration=seconds + 1,
            connections=connections,
        )
        wrk_out, (spy_out, _) = await asyncio.gather(load, spy.communicate())
    finally:
        if spy.returncode is None:
            spy.kill()
            await spy.wait()
    if spy.returncode != 0 or not await asyncio.to_thread(output.exists):
        text = (spy_out or b"").decode(errors="replace")[-2000:]
        raise RuntimeError(f"py-spy failed ({spy.returncode}): {text}")
    await asyncio.sleep(0.3)
    cpu = harness.tree_cpu_seconds(proc.pid) - cpu_before
    served = (
        harness.served_requests(url) - served_before
        if served_before is not None
        else wrk_out["requests"]
    )
    collapsed = await asyncio.to_thread(output.read_text)
    return {
        "collapsed": collapsed,
        "cpu_seconds": cpu,
        "served": served,
        "wrk_requests": wrk_out["requests"],
        "wrk_seconds": wrk_out["duration_us"] / 1e6,
    }


async def profile_interleaved(
    targets: list[tuple[str, harness.Proc, str, str]],
    tokens_file: Path,
    *,
    seconds: float,
    rounds: int,
    connections: int,
    out_dir: Path,
    single_worker: bool = True,
) -> dict[str, Any]:
    """Profile each (name, server process, url, path) for ``seconds`` in all, in ``rounds``
    interleaved slices (A, C, A, C, ...) so that a change in the machine's load hits them
    alike. Writes ``profile-<name>.txt`` (collapsed stacks, merged over the slices)."""
    await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
    chunk = max(1, round(seconds / rounds))
    parts: dict[str, list[dict[str, Any]]] = {name: [] for name, *_ in targets}
    for _ in range(rounds):
        for name, proc, url, path in targets:
            parts[name].append(
                await record(
                    proc, url, path, tokens_file,
                    seconds=chunk, connections=connections,
                    output=out_dir / f"profile-{name}.part.txt", single_worker=single_worker,
                )
            )  # fmt: skip
    out: dict[str, Any] = {}
    for name, _proc, _url, path in targets:
        runs = parts[name]
        collapsed = "".join(r["collapsed"] for r in runs)
        merged = out_dir / f"profile-{name}.txt"
        await asyncio.to_thread(merged.write_text, collapsed)
        await asyncio.to_thread((out_dir / f"profile-{name}.part.txt").unlink, missing_ok=True)
        served = sum(r["served"] for r in runs)
        cpu_us = sum(r["cpu_seconds"] for r in runs) * 1e6 / served if served else 0.0
        rps = sum(r["wrk_requests"] for r in runs) / sum(r["wrk_seconds"] for r in runs)
        title = (
            f"{name} ({path}) under wrk -c{connections}, {rps:.0f} req/s while sampled, "
            f"{rounds} x {chunk} s"
        )
        summary = summarize(collapsed, title, cpu_us_per_request=cpu_us)
        summary["collapsed_file"] = str(merged)
        summary["rps_while_sampled"] = rps
        out[name] = summary
    return out
