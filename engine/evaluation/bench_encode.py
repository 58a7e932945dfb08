"""Prepare time per quality level: what the quality slider buys.

For ``sam`` (a vit_b-sized model with random weights: real timings) the baseline is bare
``SamPredictor.set_image``, which always encodes at 1024 px.
"""

from __future__ import annotations

import sys
import time
from functools import partial
from typing import Any

from engine.evaluation.bench_click import bench_frame, load_average, make_bench_segmenter


def _seconds(function: Any, repeats: int) -> float:
    """Best of ``repeats`` wall-clock runs (the least disturbed by other load)."""
    best = float("inf")
    for _ in range(max(repeats, 1)):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def bench_encode(
    qualities: tuple[float, ...] = (0.2, 0.4, 0.6, 0.8, 1.0),
    backends: tuple[str, ...] = ("sam", "classic"),
    repeats: int = 1,
    size: tuple[int, int] = (1080, 1920),
    progress: bool = True,
) -> dict:
    """Seconds of ``prepare`` per quality level on a ``size`` (height, width) frame.

    Each level also gets its speed-up against quality 1.0 (t(1.0) / t(q)); sam gets the
    encoder input side and the SamPredictor.set_image baseline.
    """
    frame = bench_frame(*size)
    result: dict[str, Any] = {
        "size": list(size),
        "repeats": repeats,
        "backends": {},
        "skipped": {},
        "load_before": load_average(),
    }
    for backend in backends:
        try:
            segmenter = make_bench_segmenter(backend)
        except ImportError as error:
            result["skipped"][backend] = f"not available: {error}"
            continue
        segmenter.prepare(frame, min(qualities))  # warm-up: first-call allocations
        levels = []
        for quality in qualities:
            seconds = _seconds(partial(segmenter.prepare, frame, quality), repeats)
            level: dict[str, Any] = {"quality": quality, "seconds": round(seconds, 3)}
            if backend == "sam":
                level["input_side"] = segmenter.encoder.input_side(quality)
            levels.append(level)
            if progress:
                print(f"{backend} quality {quality:.1f}: {seconds:.2f} s", file=sys.stderr, flush=True)
        full = next((lv["seconds"] for lv in levels if lv["quality"] == 1.0), None)
        for level in levels:
            level["speedup_vs_1.0"] = round(full / max(level["seconds"], 1e-9), 2) if full else None
        entry: dict[str, Any] = {"model": segmenter.model, "levels": levels}
        if backend == "sam":
            from segment_anything import SamPredictor

            predictor = SamPredictor(segmenter.sam)
            seconds = _seconds(partial(predictor.set_image, frame), repeats)
            entry["baseline"] = {"name": "SamPredictor.set_image (1024 px)", "seconds": round(seconds, 3)}
            if progress:
                print(f"sam SamPredictor.set_image: {seconds:.2f} s", file=sys.stderr, flush=True)
        result["backends"][backend] = entry
    result["load_after"] = load_average()
    return result


def format_encode(result: dict) -> str:
    """A short table: prepare seconds per quality, and speed-ups against 1.0 and SamPredictor."""
    height, width = result["size"]
    lines = [f"prepare time per quality on a {width}×{height} frame (best of {result['repeats']})"]
    for backend, entry in result["backends"].items():
        base = entry.get("baseline")
        header = f"{backend} ({entry['model']})"
        if base:
            header += f"; {base['name']}: {base['seconds']:.2f} s"
        lines.append(header)
        lines.append(f"  {'quality':>7}{'input':>7}{'seconds':>9}{'vs 1.0':>8}" + (f"{'vs bare':>9}" if base else ""))
        for level in entry["levels"]:
            side = level.get("input_side")
            speedup = level["speedup_vs_1.0"]
            row = (
                f"  {level['quality']:>7.1f}{(str(side) if side else '-'):>7}{level['seconds']:>9.2f}"
                f"{(f'{speedup:.1f}×' if speedup else '-'):>8}"
            )
            if base:
                row += f"{base['seconds'] / max(level['seconds'], 1e-9):>8.1f}×"
            lines.append(row)
    for backend, reason in result.get("skipped", {}).items():
        lines.append(f"{backend}: skipped ({reason})")
    if "sam" in result["backends"]:
        lines.append("sam: vit_b architecture with random weights (timings real, masks meaningless)")
    lines.append(f"load average before/after: {result.get('load_before')} / {result.get('load_after')}")
    return "\n".join(lines)

