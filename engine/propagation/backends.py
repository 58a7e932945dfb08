"""Which propagator a segmenter gets: SAM 2 tracks with its own memory, the rest re-prompt.

`make_propagator(segmenter, params)` gives a `Sam2MemoryPropagator` for a segmenter whose
``name`` is in `MEMORY_BACKENDS` (``sam2``) and a flow-and-prompt `Propagator` otherwise.
Both have ``propagate(source, start_frame, objects, direction, until, anchors, cancel)``
yielding `PropagationStep`s. The memory propagator takes from ``params`` what applies to
it (``on_flag``, ``polygon_tolerance``); flow settings and ``embed`` (the segmenter's
per-frame embedding) do not: SAM 2 reads its own image features.

Importing this module imports neither torch nor sam2.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from engine.propagation.propagator import PropagationParams, Propagator, default_params
from engine.propagation.sam2_memory import Sam2MemoryPropagator, Sam2PropagationParams
from engine.segment.base import Segmenter
from engine.types import Embedding

MEMORY_BACKENDS = ("sam2",)

AnyPropagator = Propagator | Sam2MemoryPropagator


def uses_memory(segmenter: object) -> bool:
    """True when ``segmenter`` is propagated with its own memory (SAM 2)."""
    return getattr(segmenter, "name", None) in MEMORY_BACKENDS


def memory_params(params: PropagationParams | None) -> Sam2PropagationParams:
    """The memory propagator's settings that follow ``params`` (on_flag, polygon tolerance)."""
    if params is None:
        return Sam2PropagationParams()
    return Sam2PropagationParams(on_flag=params.on_flag, polygon_tolerance=params.polygon_tolerance)


def make_propagator(
    segmenter: Segmenter | None,
    params: PropagationParams | None = None,
    *,
    embed: Callable[[int, np.ndarray], Embedding] | None = None,
) -> AnyPropagator:
    """The propagator for ``segmenter`` (see the module docstring); ``params`` default to
    `default_params` of its backend."""
    if segmenter is not None and uses_memory(segmenter):
        return Sam2MemoryPropagator(segmenter, memory_params(params))
    return Propagator(segmenter, params or default_params(segmenter.name if segmenter is not None else None),
                      embed=embed)
