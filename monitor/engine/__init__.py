"""The engine (:mod:`monitor.engine.core`) and its state types (:mod:`monitor.engine.state`)."""

from monitor.engine.core import Engine, Lookup
from monitor.engine.state import (
    BASELINE,
    PREVIOUS,
    ClosedWindow,
    EngineState,
    MemoryReferences,
    PaneKey,
    ReferenceSource,
    ToClose,
)

__all__ = [
    "BASELINE",
    "PREVIOUS",
    "ClosedWindow",
    "Engine",
    "EngineState",
    "Lookup",
    "MemoryReferences",
    "PaneKey",
    "ReferenceSource",
    "ToClose",
]
