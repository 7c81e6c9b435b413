"""What happens to calls on the emulated Wix routes: counted, faulted, throttled, and the
switchable behaviours they are answered with."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from wixapp.emulator.faults import FaultBook, FaultPlan
from wixapp.emulator.ratelimit import SlidingWindowLimiter
from wixapp.emulator.records import (
    ENDPOINTS,
    Behaviour,
    FaultSpec,
    TokenErrorStyle,
    TokenInfoInvalid,
    ValueStyle,
    build,
)

__all__ = ["Traffic"]


class Traffic:
    def __init__(self, *, now: Callable[[], float], behaviour: Behaviour) -> None:
        self._now = now
        self.behaviour = behaviour
        self.faults = FaultBook()
        self.rate_limiter = SlidingWindowLimiter()
        self._calls: Counter[str] = Counter()
        self._fault_ids = 0

    # ---- call counts

    def count_call(self, endpoint: str) -> None:
        self._calls[endpoint] += 1

    def calls(self) -> dict[str, int]:
        return {endpoint: self._calls[endpoint] for endpoint in ENDPOINTS}

    def reset_calls(self) -> None:
        self._calls.clear()

    # ---- faults

    def add_fault(
        self,
        endpoint: str = "*",
        *,
        share: float = 1.0,
        count: int | None = None,
        latency: float = 0.0,
        status: int | None = None,
        retry_after: float | None = None,
        hang: bool = False,
        malformed: bool = False,
        reset: bool = False,
    ) -> str:
        """Inject a fault on one Wix endpoint ("token-info", "token", "instance") or "*".

        ``latency`` delays the answer; ``status`` answers that error (Wix's envelope, plus
        Retry-After when ``retry_after`` is set); ``hang`` holds the call ``hang_seconds``
        (until the client gives up, or ``clear_faults``); ``malformed`` truncates the body;
        ``reset`` drops the connection mid-answer (the client sees a transport error).
        ``share`` of the matching calls are hit, evenly spread; ``count`` caps the hits.
        """
        spec = build(
            FaultSpec,
            endpoint=endpoint,
            share=share,
            count=count,
            latency=latency,
            status=status,
            retry_after=retry_after,
            hang=hang,
            malformed=malformed,
            reset=reset,
        )
        return self.add_fault_spec(spec)

    def add_fault_spec(self, fault: FaultSpec) -> str:
        """Inject ``fault`` (see ``add_fault`` for each field). Returns its id."""
        self._fault_ids += 1
        fault_id = f"fault-{self._fault_ids}"
        self.faults.add(fault_id, fault)
        return fault_id

    def active_faults(self) -> dict[str, FaultSpec]:
        return self.faults.active()

    def clear_faults(self) -> None:
        self.faults.clear()

    def plan_faults(self, endpoint: str) -> FaultPlan:
        return self.faults.plan(endpoint)

    # ---- behaviours and the rate limit

    def set_behaviour(
        self,
        *,
        token_info_invalid: TokenInfoInvalid | None = None,
        value_style: ValueStyle | None = None,
        token_error_style: TokenErrorStyle | None = None,
        rate_limit: bool | None = None,
    ) -> Behaviour:
        """Choose how the UNCONFIRMED behaviours are played; None leaves one unchanged."""
        changes = {
            "token_info_invalid": token_info_invalid,
            "value_style": value_style,
            "token_error_style": token_error_style,
            "rate_limit": rate_limit,
        }
        merged = {
            **self.behaviour.model_dump(),
            **{k: v for k, v in changes.items() if v is not None},
        }
        self.behaviour = build(Behaviour, **merged)
        if not self.behaviour.rate_limit:
            self.rate_limiter.clear()
        return self.behaviour

    def throttle(self, instance_id: str | None) -> float | None:
        """Seconds to wait if this call is over Wix's rate limit for its instance, else None."""
        if not self.behaviour.rate_limit or instance_id is None:
            return None
        return self.rate_limiter.hit(instance_id, self._now())
