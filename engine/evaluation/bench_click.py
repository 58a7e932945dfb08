"""Click latency: ``predict`` + rendering the shown mask, on a prepared frame.

For ``sam`` the baseline is bare ``SamPredictor.predict`` on the same model, embedding and
clicks (it upsamples every candidate to full resolution). SAM is a vit_b-sized model with
random weights: the timings are those of vit_b, the masks are meaningless (and large, which
is the slow case for cropped rendering; ``mask_fraction`` reports it).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from engine.segment.classic.segmenter import ClassicSegmenter
from engine.types import Prompt

DATA_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data"
DEFAULT_VIDEO = DATA_DIR / "videos" / "01_dog.mp4"
CLICKS_PER_OBJECT = 3
WARMUP_CLICKS = 2
RANDOM_SAM_NAME = "vit_b-random"


def bench_frame(height: int, width: int) -> np.ndarray:
    """A height×width×3 uint8 RGB frame: the dog clip's first frame resized, else synthetic."""
    import cv2

    frame = None
    if DEFAULT_VIDEO.is_file():
        capture = cv2.VideoCapture(str(DEFAULT_VIDEO))
        ok, bgr = capture.read()
        capture.release()
        if ok:
            frame = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    if frame is None:
        frame = _synthetic_frame(720, 1280)
    return cv2.resize(frame, (width, height), interpolation=cv2.INTER_LINEAR)


def _synthetic_frame(height: int, width: int) -> np.ndarray:
    """Gradient background with a few flat-coloured shapes and mild noise."""
    import cv2

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]
    frame = np.stack([xx * 255 // width, yy * 255 // height, np.full_like(xx, 90)], -1).astype(np.uint8)
    for _ in range(8):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.circle(frame, centre, int(rng.integers(height // 20, height // 5)), colour, -1)
    noise = rng.integers(-8, 9, frame.shape)
    return np.clip(frame.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def click_script(height: int, width: int, clicks: int, seed: int = 0) -> list[tuple[Prompt, bool]]:
    """``clicks`` prompts as a person makes them: per object one include click (ambiguous,
    several candidates), then an exclude and an include click that refine it with the
    previous logits. Returns (prompt without mask_input, feed previous logits?) pairs."""
    rng = np.random.default_rng(seed)
    script: list[tuple[Prompt, bool]] = []
    points: list[list[float]] = []
    labels: list[int] = []
    for index in range(clicks):
        step = index % CLICKS_PER_OBJECT
        if step == 0:
            points, labels = [], []
        x = float(rng.uniform(0.1, 0.9) * (width - 1))
        y = float(rng.uniform(0.1, 0.9) * (height - 1))
        points.append([x, y])
        labels.append(0 if step == 1 else 1)
        script.append((Prompt(np.array(points, np.float32), np.array(labels, np.int32)), step > 0))
    return script


def _with_mask(prompt: Prompt, mask_input: np.ndarray | None) -> Prompt:
    return Prompt(prompt.points, prompt.labels, prompt.box, mask_input)


def _stats(seconds: list[float]) -> dict[str, float]:
    ms = np.array(seconds) * 1000.0
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p95_ms": round(float(np.percentile(ms, 95)), 1),
        "mean_ms": round(float(ms.mean()), 1),
    }


def make_bench_segmenter(backend: str) -> Any:
    """The segmenter a benchmark measures: classic as shipped, sam as a random vit_b.

    Raises ImportError when the backend's code is not available.
    """
    if backend == "classic":
        return ClassicSegmenter()
    if backend == "sam":
        # torch + segment_anything take ~3.2 s to import here (measured) and are an optional extra.
        from engine.segment.sam.build import build_random_sam
        from engine.segment.sam.segmenter import SamSegmenter

        return SamSegmenter(build_random_sam("vit_b"), RANDOM_SAM_NAME)
    raise ValueError(f"unknown backend {backend!r}")


Predict = Callable[[Prompt, "np.ndarray | None"], "tuple[np.ndarray, np.ndarray]"]


def _time_clicks(predictors: dict[str, Predict], script: list[tuple[Prompt, bool]]) -> dict[str, dict]:
    """Per predictor: seconds per click (after warm-up) and the mean shown-mask area fraction.

    predict(prompt, mask_input) -> (shown H×W bool mask, logits 1×h×w for the next click).
    The predictors take turns object by object (each makes an object's clicks in a row, as
    a person does), so that load from other processes falls on both sides of a comparison
    alike while neither runs in the other's cache debris: bare ``SamPredictor`` writes
    ~100 MB per 1080p click, which costs the next click of ours ~10 ms when turns are taken
    click by click.
    """
    seconds: dict[str, list[float]] = {name: [] for name in predictors}
    fractions: dict[str, list[float]] = {name: [] for name in predictors}
    warmup = [(prompt, False) for prompt, _ in script[:WARMUP_CLICKS]]
    objects = [script[i : i + CLICKS_PER_OBJECT] for i in range(0, len(script), CLICKS_PER_OBJECT)]
    for index, clicks in enumerate([warmup, *objects]):
        for name, predict in predictors.items():
            previous = None
            for prompt, feed in clicks:
                start = time.perf_counter()
                mask, previous = predict(prompt, previous if feed else None)
                elapsed = time.perf_counter() - start
                if index > 0:
                    seconds[name].append(elapsed)
                    fractions[name].append(float(mask.mean()))
    return {
        name: {**_stats(seconds[name]), "mask_fraction": round(float(np.mean(fractions[name])), 3)}
        for name in predictors
    }


def _bench_one(segmenter: Any, frame: np.ndarray, quality: float, clicks: int, baseline: bool) -> dict:
    height, width = frame.shape[:2]
    start = time.perf_counter()
    embedding = segmenter.prepare(frame, quality)
    prepare_s = time.perf_counter() - start
    script = click_script(height, width, clicks)

    def ours(prompt: Prompt, mask_input: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        proposal = segmenter.predict(embedding, _with_mask(prompt, mask_input))
        return proposal.mask(0), proposal.logits[0][None]

    predictors: dict[str, Predict] = {"ours": ours}
    if baseline:
        predictor = segmenter.sam_predictor(embedding)

        def bare(prompt: Prompt, mask_input: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
            ambiguous = len(prompt.points) == 1 and mask_input is None
            masks, scores, logits = predictor.predict(
                prompt.points, prompt.labels, mask_input=mask_input, multimask_output=ambiguous
            )
            best = int(np.argmax(scores))
            return masks[best], logits[best][None]

        predictors["bare"] = bare
    timed = _time_clicks(predictors, script)
    run: dict[str, Any] = {
        "backend": segmenter.name,
        "model": segmenter.model,
        "quality": quality,
        "size": [height, width],
        "prepare_s": round(prepare_s, 2),
        **timed["ours"],
    }
    if baseline:
        base = timed["bare"]
        run["baseline"] = {"name": "SamPredictor.predict", **base}
        run["speedup_p50"] = round(base["p50_ms"] / max(run["p50_ms"], 1e-6), 2)
        run["speedup_p95"] = round(base["p95_ms"] / max(run["p95_ms"], 1e-6), 2)
    return run


def bench_click(
    backends: tuple[str, ...] = ("classic", "sam"),
    sizes: tuple[tuple[int, int], ...] = ((480, 854), (1080, 1920)),
    clicks: int = 30,
    progress: bool = True,
    sam_qualities: tuple[float, ...] = (1.0, 0.6),
) -> dict:
    """Per-click latency (p50/p95 ms) of each backend at each (height, width) frame size.

    sam runs at each of ``sam_qualities`` (1.0 shares its embedding with the SamPredictor
    baseline); classic at the default quality 0.6. A backend whose code is missing is
    listed under ``skipped`` with the reason.
    """
    result: dict[str, Any] = {"clicks": clicks, "runs": [], "skipped": {}, "load_before": load_average()}
    for backend in backends:
        try:
            segmenter = make_bench_segmenter(backend)
        except ImportError as error:
            result["skipped"][backend] = f"not available: {error}"
            continue
        qualities = sam_qualities if backend == "sam" else (0.6,)
        for height, width in sizes:
            frame = bench_frame(height, width)
            for quality in qualities:
                run = _bench_one(segmenter, frame, quality, clicks, baseline=backend == "sam" and quality == 1.0)
                result["runs"].append(run)
                if progress:
                    print(_row(run), file=sys.stderr, flush=True)
    result["load_after"] = load_average()
    return result


def load_average() -> float | None:
    """1-minute load average: other processes on the cores slow every figure."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _row(run: dict) -> str:
    height, width = run["size"]
    text = (
        f"{run['backend']:<8}{run['quality']:>5.1f}  {width}×{height:<6}"
        f"{run['prepare_s']:>8.1f}{run['p50_ms']:>8.1f}{run['p95_ms']:>8.1f}"
    )
    if "baseline" in run:
        base = run["baseline"]
        text += (
            f"   {base['p50_ms']:>7.1f} /{base['p95_ms']:>7.1f}"
            f"   {run['speedup_p50']:>5.1f}× /{run['speedup_p95']:>5.1f}×"
        )
    return text


def format_click(result: dict) -> str:
    """A short table: p50/p95 ms per click, and for sam the SamPredictor baseline and speed-up."""
    lines = [
        f"click latency: predict + render the shown mask, {result['clicks']} clicks after prepare",
        f"{'backend':<8}{'q':>5}  {'size':<11}{'prep s':>8}{'p50 ms':>8}{'p95 ms':>8}"
        f"   {'SamPredictor p50/p95':>20}   {'speed-up p50/p95':>16}",
    ]
    lines += [_row(run) for run in result["runs"]]
    for backend, reason in result.get("skipped", {}).items():
        lines.append(f"{backend:<8}skipped: {reason}")
    lines.append("sam: vit_b architecture with random weights (timings real, masks meaningless)")
    lines.append(f"load average before/after: {result.get('load_before')} / {result.get('load_after')}")
    return "\n".join(lines)
