"""Injected faults: latency, error statuses, hangs, resets and malformed bodies on Wix routes.

Which calls a fault hits is deterministic: with ``share`` = p it fires on the calls where
``floor(n * p)`` steps up, so 0.5 hits every 2nd matching call and 0.3 hits 3 calls in 10,
evenly spread. Tests can therefore assert exact outcomes without seeds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

import httpx

from wixapp.emulator.records import FaultSpec

__all__ = ["EmulatedConnectionReset", "FaultBook", "FaultPlan"]


class EmulatedConnectionReset(httpx.RemoteProtocolError):
    """A ``reset`` fault: the emulator dropped the connection mid-answer.

    Served on a port, the client sees the socket close (uvicorn logs this exception once).
    In-process, ``httpx.ASGITransport`` re-raises it, and as an ``httpx.TransportError`` it
    is exactly what a client sees when a real connection is reset.
    """

    def __init__(self) -> None:
        super().__init__("The Wix emulator dropped the connection (an injected reset fault).")


@dataclass(slots=True)
class _ActiveFault:
    spec: FaultSpec
    share: Fraction
    seen: int = 0
    fired: int = 0

    def matches(self, endpoint: str) -> bool:
        return self.spec.endpoint in ("*", endpoint)

    def spent(self) -> bool:
        return self.spec.count is not None and self.fired >= self.spec.count

    def step(self) -> bool:
        """Count one matching call; True when this fault hits it."""
        self.seen += 1
        hit = math.floor(self.seen * self.share) > math.floor((self.seen - 1) * self.share)
        if hit:
            self.fired += 1
        return hit


@dataclass(slots=True)
class FaultPlan:
    """What the faults that hit one call add up to. The first terminal effect wins."""

    latency: float = 0.0
    status: int | None = None
    retry_after: float | None = None
    hang: bool = False
    reset: bool = False
    malformed: bool = False
    fault_ids: list[str] = field(default_factory=list)

    @property
    def terminal(self) -> bool:
        return self.hang or self.reset or self.malformed or self.status is not None

    def absorb(self, fault_id: str, spec: FaultSpec) -> None:
        self.fault_ids.append(fault_id)
        self.latency += spec.latency
        if self.terminal:
            return
        self.hang, self.reset, self.malformed = spec.hang, spec.reset, spec.malformed
        self.status, self.retry_after = spec.status, spec.retry_after


class FaultBook:
    def __init__(self) -> None:
        self._faults: dict[str, _ActiveFault] = {}
        self.generation = 0  # bumped by clear(): hung calls watch it to let go

    def add(self, fault_id: str, spec: FaultSpec) -> None:
        share = Fraction(spec.share).limit_denominator(10_000)
        self._faults[fault_id] = _ActiveFault(spec, share)

    def clear(self) -> None:
        self._faults.clear()
        self.generation += 1

    def plan(self, endpoint: str) -> FaultPlan:
        plan = FaultPlan()
        for fault_id, fault in list(self._faults.items()):
            if fault.matches(endpoint) and fault.step():
                plan.absorb(fault_id, fault.spec)
            if fault.spent():
                del self._faults[fault_id]
        return plan

    def active(self) -> dict[str, FaultSpec]:
        return {fault_id: fault.spec for fault_id, fault in self._faults.items()}
