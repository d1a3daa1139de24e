"""The alert state machine, pure: one step per evaluated window.

::

    inactive --breach--> pending --(for consecutive breaches)--> firing
       ^                    |                                       |
       +------normal--------+        resolved <--(resolve_after consecutive normal windows)
                                        |
                                        +--breach--> pending (or firing when for = 1)

A window with no value (a statistic that could not be computed) leaves the state as it is. While
firing, the severity follows the latest breaching window; a window back to normal counts towards
``resolve_after`` but does not lower the severity.

>>> s = AlertState()
>>> for level in ["warning", "critical", "ok", "ok"]:
...     s, t = step(s, level, for_=2, resolve_after=2)
...     print(level, s.state, s.severity, t)
warning pending warning pending
critical firing critical firing
ok firing critical None
ok resolved critical resolved
"""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["RANK", "AlertState", "step"]

RANK = {"ok": 0, "warning": 1, "critical": 2}


@dataclass(frozen=True)
class AlertState:
    state: str = "inactive"  # inactive | pending | firing | resolved
    severity: str = "ok"
    breaches: int = 0
    clears: int = 0


def step(
    s: AlertState, level: str | None, *, for_: int, resolve_after: int
) -> tuple[AlertState, str | None]:
    """The state after one window judged ``level`` (None: no value), and the transition
    (``"pending"``, ``"firing"``, ``"escalated"``, ``"deescalated"``, ``"resolved"``,
    ``"inactive"``) or None when the state did not change."""
    if level is None:
        return s, None
    if level != "ok":
        breaches = s.breaches + 1
        if s.state == "firing":
            change = RANK[level] - RANK[s.severity]
            transition = "escalated" if change > 0 else "deescalated" if change < 0 else None
            return AlertState("firing", level, breaches, 0), transition
        if breaches >= for_:
            return AlertState("firing", level, breaches, 0), "firing"
        return AlertState(
            "pending", level, breaches, 0
        ), None if s.state == "pending" else "pending"
    if s.state == "firing":
        clears = s.clears + 1
        if clears >= resolve_after:
            return AlertState("resolved", s.severity, 0, 0), "resolved"
        return replace(s, breaches=0, clears=clears), None
    if s.state == "pending":
        return AlertState("inactive", "ok", 0, 0), "inactive"
    return replace(s, breaches=0, clears=0), None
