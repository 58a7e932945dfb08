"""Interactive-segmentation evaluation: NoC@85 / NoC@90 with the standard clicker.

Two folder layouts are understood:

- iseg: ``images/<name>.jpg`` + ``masks/<name>.png`` (0 background, 255 object,
  128 ignore);
- DAVIS: ``JPEGImages/<seq>/*.jpg`` + ``Annotations/<seq>/*.png``; the first and the
  middle frame of each sequence are used (frames whose mask is empty are skipped).

For each image the segmenter prepares the frame once (timed as ``sec_prepare``), then the
simulated user clicks up to ``max_clicks`` times; every click sends all clicks so far as
one `Prompt` (with the previous best logits as ``mask_input``) and times `predict` plus
rendering the best mask (``sec_per_click``). An image stops early once IoU ≥ 0.90, since
both NoC figures are then known.

Command line: ``python -m engine.evaluation.iseg DATA_DIR [--limit N] [--baseline-limit N]``
prints the JSON report.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import MediaError
from engine.evaluation.clicker import Click, clicks_to_arrays, iou, next_click, noc
from engine.evaluation.grabcut import GrabCutBaseline
from engine.media.images import read_id_mask, read_image
from engine.segment import make_segmenter
from engine.segment.base import Segmenter
from engine.types import QUALITY_DEFAULT, Prompt

THRESHOLDS = (0.85, 0.90)
DAVIS_POSITIONS = (0.0, 0.5)
FIT_POSITIONS = (0.25, 0.75)


@dataclass(frozen=True)
class IsegItem:
    """One evaluation image: a frame and its ground-truth mask on disk."""

    name: str
    image_path: Path
    mask_path: Path


@dataclass
class ImageRun:
    """The outcome of clicking on one image."""

    name: str
    ious: list[float]
    clicks: list[Click]
    sec_prepare: float
    sec_clicks: list[float]

    def to_json(self, max_clicks: int) -> dict:
        return {
            "name": self.name,
            "noc85": noc(self.ious, 0.85, max_clicks),
            "noc90": noc(self.ious, 0.90, max_clicks),
            "ious": [round(v, 4) for v in self.ious],
            "clicks": [[c.x, c.y, int(c.positive)] for c in self.clicks],
            "sec_prepare": round(self.sec_prepare, 4),
            "sec_per_click": round(float(np.mean(self.sec_clicks)), 4) if self.sec_clicks else 0.0,
        }


def list_items(data_dir: str | Path, positions: tuple[float, ...] = DAVIS_POSITIONS) -> list[IsegItem]:
    """The evaluation images of ``data_dir`` (iseg or DAVIS layout), in a stable order.

    positions: for the DAVIS layout, which frames of each sequence, as fractions of its
        length (frame ``int(p × frames)``); the default (0, 0.5) is the first and the
        middle frame. `classic_fit` fits on other frames (`FIT_POSITIONS`) so that the
        evaluated frames stay held out.
    """
    root = Path(data_dir)
    if (root / "images").is_dir() and (root / "masks").is_dir():
        items = []
        for image_path in sorted((root / "images").iterdir()):
            mask_path = root / "masks" / (image_path.stem + ".png")
            if image_path.suffix.lower() in (".jpg", ".jpeg", ".png") and mask_path.exists():
                items.append(IsegItem(image_path.stem, image_path, mask_path))
        return items
    if (root / "JPEGImages").is_dir() and (root / "Annotations").is_dir():
        items = []
        for seq_dir in sorted(p for p in (root / "JPEGImages").iterdir() if p.is_dir()):
            frames = sorted(seq_dir.glob("*.jpg"))
            if not frames:
                continue
            picks = [frames[min(int(p * len(frames)), len(frames) - 1)] for p in positions]
            for frame_path in dict.fromkeys(picks):
                mask_path = root / "Annotations" / seq_dir.name / (frame_path.stem + ".png")
                if mask_path.exists():
                    items.append(IsegItem(f"{seq_dir.name}-{frame_path.stem}", frame_path, mask_path))
        return items
    raise MediaError(f"{root}: expected images/ + masks/ or JPEGImages/ + Annotations/")


def load_item(item: IsegItem) -> tuple[np.ndarray, np.ndarray]:
    """(frame H×W×3 uint8 RGB, ground truth H×W uint8)."""
    rgb = read_image(item.image_path)  # the declared size is checked before decoding
    gt = read_id_mask(item.mask_path)
    if gt.shape != rgb.shape[:2]:
        raise MediaError(f"{item.mask_path}: mask {gt.shape} does not match image {rgb.shape[:2]}")
    return rgb, gt


def run_image(
    segmenter: Segmenter,
    frame: np.ndarray,
    gt: np.ndarray,
    *,
    name: str = "",
    max_clicks: int = 20,
    quality: float = QUALITY_DEFAULT,
    stop_iou: float = max(THRESHOLDS),
) -> ImageRun:
    """Click on one frame (H×W×3 uint8) against ``gt`` (H×W uint8) until ``stop_iou``."""
    start = time.perf_counter()
    embedding = segmenter.prepare(frame, quality)
    sec_prepare = time.perf_counter() - start
    clicks: list[Click] = []
    ious: list[float] = []
    sec_clicks: list[float] = []
    pred: np.ndarray | None = None
    mask_input: np.ndarray | None = None
    while len(clicks) < max_clicks:
        click = next_click(gt, pred)
        if click is None:
            break
        clicks.append(click)
        points, labels = clicks_to_arrays(clicks)
        prompt = Prompt(points, labels, mask_input=mask_input)
        start = time.perf_counter()
        proposal = segmenter.predict(embedding, prompt)
        pred = proposal.mask(0)
        sec_clicks.append(time.perf_counter() - start)
        mask_input = proposal.logits[0][None]
        ious.append(iou(gt, pred))
        if ious[-1] >= stop_iou:
            break
    return ImageRun(name, ious, clicks, sec_prepare, sec_clicks)


def summarize(runs: list[ImageRun], max_clicks: int) -> dict:
    """Mean NoC@85/90, mean and 95th-percentile seconds per click (over all clicks), mean
    seconds per prepare."""
    all_clicks = [s for r in runs for s in r.sec_clicks]
    return {
        "noc85": round(float(np.mean([noc(r.ious, 0.85, max_clicks) for r in runs])), 3) if runs else None,
        "noc90": round(float(np.mean([noc(r.ious, 0.90, max_clicks) for r in runs])), 3) if runs else None,
        "sec_per_click": round(float(np.mean(all_clicks)), 4) if all_clicks else None,
        "sec_per_click_p95": round(float(np.percentile(all_clicks, 95)), 4) if all_clicks else None,
        "sec_prepare": round(float(np.mean([r.sec_prepare for r in runs])), 4) if runs else None,
        "images": len(runs),
    }


def _run_all(
    items: list[IsegItem],
    segmenter: Segmenter,
    *,
    max_clicks: int,
    quality: float,
    progress: bool,
    desc: str,
) -> list[ImageRun]:
    from tqdm import tqdm

    runs = []
    for item in tqdm(items, desc=desc, disable=not progress, file=sys.stderr, unit="img"):
        frame, gt = load_item(item)
        if not (gt > 128).any():
            continue  # an empty object (occlusion) has no first click
        runs.append(run_image(segmenter, frame, gt, name=item.name, max_clicks=max_clicks, quality=quality))
    return runs


def evaluate_iseg(
    data_dir: str | Path,
    segmenter: Segmenter,
    max_clicks: int = 20,
    baseline: bool = True,
    progress: bool = True,
    limit: int | None = None,
    baseline_limit: int | None = None,
    quality: float = QUALITY_DEFAULT,
) -> dict:
    """Evaluate ``segmenter`` (and optionally the GrabCut baseline) on a folder.

    limit: evaluate only the first ``limit`` images; baseline_limit: run GrabCut on only
        the first ``baseline_limit`` of those (it takes seconds per click), default all.
    Returns a JSON-able dict: ``noc85``, ``noc90``, ``sec_per_click`` (mean),
    ``sec_per_click_p95``, ``sec_prepare``,
    ``images``, ``per_image`` (name, noc85, noc90, ious, clicks, timings) and, with
    ``baseline``, ``baseline_grabcut`` with the same summary keys plus the segmenter's
    ``segmenter_noc85`` / ``segmenter_noc90`` on the same images.
    """
    items = list_items(data_dir)[:limit]
    runs = _run_all(
        items, segmenter, max_clicks=max_clicks, quality=quality, progress=progress, desc=segmenter.name
    )
    report = summarize(runs, max_clicks)
    report.update(
        {
            "segmenter": segmenter.name,
            "model": segmenter.model,
            "quality": quality,
            "max_clicks": max_clicks,
            "data_dir": str(data_dir),
            "per_image": [r.to_json(max_clicks) for r in runs],
        }
    )
    if baseline:
        base_items = items[:baseline_limit]
        base_runs = _run_all(
            base_items, GrabCutBaseline(), max_clicks=max_clicks, quality=quality, progress=progress, desc="grabcut"
        )
        names = {r.name for r in base_runs}
        same = summarize([r for r in runs if r.name in names], max_clicks)
        base = summarize(base_runs, max_clicks)
        base.update({"segmenter_noc85": same["noc85"], "segmenter_noc90": same["noc90"]})
        base["per_image"] = [r.to_json(max_clicks) for r in base_runs]
        report["baseline_grabcut"] = base
    return report


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir")
    parser.add_argument("--backend", default="classic")
    parser.add_argument("--quality", type=float, default=QUALITY_DEFAULT)
    parser.add_argument("--max-clicks", type=int, default=20)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--baseline-limit", type=int, default=None)
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--out", default=None, help="write the JSON report here too")
    args = parser.parse_args(argv)
    if args.backend == "grabcut":
        segmenter: Segmenter = GrabCutBaseline()
    else:
        segmenter = make_segmenter(args.backend)
    report = evaluate_iseg(
        args.data_dir,
        segmenter,
        max_clicks=args.max_clicks,
        baseline=not args.no_baseline,
        limit=args.limit,
        baseline_limit=args.baseline_limit,
        quality=args.quality,
    )
    text = json.dumps(report, indent=1)
    if args.out:
        Path(args.out).write_text(text)
    summary = {k: v for k, v in report.items() if k != "per_image"}
    if "baseline_grabcut" in summary:
        summary["baseline_grabcut"] = {k: v for k, v in summary["baseline_grabcut"].items() if k != "per_image"}
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
