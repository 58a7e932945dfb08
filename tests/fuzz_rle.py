"""Fuzzing the COCO RLE decoder (`engine.formats.rle.rle_to_mask`) with extreme run lengths.

A case is built from a plan of plain ints and text, so hypothesis (`rle_plan_strategy`, the
CI test) and ``random.Random`` (`random_rle_plan`, ``tools/fuzz.py``) drive the same code:
a valid RLE of a small mask (list counts or pycocotools' compressed string), then edits
that put extreme values in it (0, 1, 2**31, 2**32, 2**63-1, 2**63, 2**64, negatives,
10**30), insert a pair of int64 maxima whose int64 sum wraps around to nothing (the shape
of issue #17's segfault: ``[2**63-1, 2**63-1, 8]`` on a 2×3 image), stretch the list, or
splice arbitrary characters into a compressed string.

`check_rle` accepts a mask of exactly the declared size whose pixels equal a plain-Python
decoding of the runs (so its foreground is the sum of the odd runs), or one one-line
`RLEError`; anything else (another exception, a crash of the process) is a failure.
"""

from __future__ import annotations

from typing import Any

EXTREMES = (0, 1, 2, 2**31 - 1, 2**31, 2**32, 2**53 + 1, 2**63 - 1, 2**63, 2**64, 2**64 + 1, 10**30,
            -1, -2, -(2**31), -(2**63), -(2**63) - 1, -(2**64))
EDITS = ("replace", "insert", "append", "delete", "add", "wrap", "repeat", "splice")
MAX_SIDE = 12
"""Masks stay small (at most 12×12) so the plain-Python reference decoding is cheap."""

RlePlan = tuple[int, int, bool, list[int], list[tuple[int, int, int]], str]
"""(height, width, compressed, run seeds, edits (op, index, value index), text to splice)."""


def build_rle(plan: RlePlan) -> dict[str, Any]:
    """The ``{"size", "counts"}`` object a plan describes (see the module docstring)."""
    from engine.formats.rle import encode_counts

    height, width, compressed, seeds, edits, text = plan
    pixels = height * width
    counts: list[int] = []
    total = 0
    for seed in seeds or [pixels]:  # valid runs first: they sum to height*width
        run = min(seed, pixels - total)
        counts.append(run)
        total += run
    if total < pixels:
        counts.append(pixels - total)
    for op_index, index, value_index in edits:
        op = EDITS[op_index % len(EDITS)]
        value = EXTREMES[value_index % len(EXTREMES)]
        at = index % (len(counts) + 1)
        if op == "replace" and counts:
            counts[at % len(counts)] = value
        elif op == "insert":
            counts.insert(at, value)
        elif op == "append":
            counts.append(value)
        elif op == "delete" and counts:
            del counts[at % len(counts)]
        elif op == "add" and counts:
            counts[at % len(counts)] += value
        elif op == "wrap":  # adds 2**64: nothing at all in int64 arithmetic
            counts[at:at] = [2**63 - 1, 2**63 - 1, 2]
        elif op == "repeat":
            counts.extend([value] * (1 + index % 300))
    if not compressed:
        return {"size": [height, width], "counts": counts}
    encoded = encode_counts(counts)
    if any(EDITS[op % len(EDITS)] == "splice" for op, _, _ in edits) or not counts:
        at = sum(i for _, i, _ in edits) % (len(encoded) + 1)
        encoded = encoded[:at] + text + encoded[at:]
    return {"size": [height, width], "counts": encoded}


def reference_mask(height: int, width: int, runs: list[int]) -> list[bool] | None:
    """Column-major pixels of the runs decoded with plain Python, or None if they do not
    describe ``height * width`` pixels (a negative run, or a wrong total)."""
    if any(run < 0 for run in runs) or sum(runs) != height * width:
        return None
    flat: list[bool] = []
    for index, run in enumerate(runs):
        flat.extend([index % 2 == 1] * run)
    return flat


def check_rle(rle: dict[str, Any]) -> str:
    """"ok" (a mask matching the reference) or "error" (one `RLEError`); raises `AssertionError` otherwise."""
    import numpy as np

    from engine.formats.rle import RLEError, decode_counts, rle_to_mask

    height, width = rle["size"]
    counts = rle["counts"]
    try:
        runs = decode_counts(counts) if isinstance(counts, str) else list(counts)
    except RLEError:
        runs = None
    try:
        mask = rle_to_mask(rle)
    except RLEError as exc:
        text = str(exc)
        assert text and "\n" not in text and text.startswith("segmentation"), f"bad message {text!r} for {rle!r}"
        expected = None if runs is None else reference_mask(height, width, runs)
        # refused only when invalid; a valid RLE may be refused only for zero-length runs
        assert expected is None or len(runs) > height * width + 1, f"a valid RLE was refused ({text}): {rle!r}"
        return "error"
    except Exception as exc:
        raise AssertionError(f"{type(exc).__name__} escaped rle_to_mask: {exc} for {rle!r}") from exc
    assert runs is not None, f"a mask for counts that do not decode: {rle!r}"
    assert isinstance(mask, np.ndarray) and mask.dtype == bool and mask.shape == (height, width), (mask, rle)
    assert int(mask.sum()) == sum(runs[1::2]), f"foreground {int(mask.sum())} != odd runs {sum(runs[1::2])}: {rle!r}"
    assert mask.ravel(order="F").tolist() == reference_mask(height, width, runs), f"pixels differ: {rle!r}"
    return "ok"


def rle_plan_strategy():
    """Hypothesis strategy of `RlePlan`."""
    from hypothesis import strategies as st

    side = st.integers(0, MAX_SIDE)
    edit = st.tuples(st.integers(0, len(EDITS) - 1), st.integers(0, 10**6), st.integers(0, len(EXTREMES) - 1))
    return st.tuples(side, side, st.booleans(), st.lists(st.integers(0, 40), max_size=12),
                     st.lists(edit, max_size=3), st.text(max_size=12))


def random_rle_plan(rng) -> RlePlan:
    """A random `RlePlan` from a ``random.Random`` (the long run)."""
    seeds = [rng.randrange(41) for _ in range(rng.randrange(13))]
    edits = [(rng.randrange(len(EDITS)), rng.randrange(10**6), rng.randrange(len(EXTREMES)))
             for _ in range(rng.randrange(4))]
    text = "".join(chr(rng.choice((rng.randrange(48, 112), rng.randrange(0x110000)))) for _ in range(rng.randrange(13)))
    return (rng.randrange(MAX_SIDE + 1), rng.randrange(MAX_SIDE + 1), rng.random() < 0.5, seeds, edits, text)
