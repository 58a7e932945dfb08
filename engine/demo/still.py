"""The main job on the bundled sample media: segment every object through the Editor.

Each object gets the click a person would start with (the manifest's first click), then
corrective clicks from the standard simulated clicker until the selection reaches the
target IoU, exactly as the UI would receive them. Labels, overlays and scores are written
to the output folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.editing.editor import Editor
from engine.errors import MediaError
from engine.evaluation.clicker import iou, next_click
from engine.fileio import atomic_write_json, write_image
from engine.media.images import read_id_mask
from engine.ontology import Ontology
from engine.preview.overlay import render_overlay
from engine.segment.base import Segmenter
from engine.types import Label, shape_to_json

SAMPLE_MEDIA = Path(__file__).resolve().parents[2] / "sample_media"


@dataclass
class ObjectResult:
    """How one object went: clicks used and IoU of the applied label against ground truth."""

    media: str
    object_id: int
    class_name: str
    shape: str
    clicks: int
    iou: float
    score: float


def _segment_object(editor: Editor, gt: np.ndarray, first: tuple[int, int], target: float, max_clicks: int):
    """Click until the selection reaches ``target`` IoU; returns (clicks, points, flags, mask)."""
    gt_u8 = gt.astype(np.uint8) * 255
    points, flags = [first], [1]
    editor.click(*first, positive=True)
    mask = _shown(editor)
    while iou(gt_u8, mask) < target and len(points) < max_clicks:
        click = next_click(gt_u8, mask)
        if click is None:
            break
        points.append((click.x, click.y))
        flags.append(1 if click.positive else 0)
        editor.click(click.x, click.y, positive=click.positive)
        mask = _shown(editor)
    return points, flags, mask


def _shown(editor: Editor) -> np.ndarray:
    """The selection after a click (a click always leaves one, or raises)."""
    mask = editor.selection_mask()
    assert mask is not None, "a click left no selection"
    return mask


def run_demo(
    segmenter: Segmenter,
    out_dir: Path,
    *,
    sample_dir: Path = SAMPLE_MEDIA,
    target_iou: float = 0.9,
    max_clicks: int = 5,
    quality: float = 1.0,
) -> list[ObjectResult]:
    """Segment every object of the still image and of the video's first frame."""
    manifest_path = sample_dir / "manifest.json"
    if not manifest_path.is_file():
        raise MediaError(f"{manifest_path}: no sample manifest (run `make sample-media`)")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    ontology = Ontology.from_json(manifest["classes"], source=str(manifest_path))
    jobs = [
        ("still", sample_dir / manifest["still"]["path"], sample_dir / manifest["still"]["mask"]),
        ("video", sample_dir / manifest["video"]["path"], sample_dir / manifest["video"]["masks"].format(frame=0)),
    ]
    results: list[ObjectResult] = []
    out_dir.mkdir(parents=True, exist_ok=True)
    for key, media_path, mask_path in jobs:
        ids = read_id_mask(mask_path)
        with Editor(segmenter, ontology, quality=quality) as editor:
            editor.open(media_path)
            editor.toggle_sam()
            frame = editor.frame()
            drawn: list[tuple[Label, str]] = []
            union = np.zeros(ids.shape, bool)
            all_points, all_flags = [], []
            for obj in manifest["objects"]:
                gt = ids == obj["id"]
                editor.set_class(obj["class"])
                points, flags, mask = _segment_object(
                    editor, gt, tuple(obj[key]["click"]), target_iou, max_clicks
                )
                label = editor.apply(object_id=obj["id"])
                union |= mask
                all_points += points
                all_flags += flags
                drawn.append((label, ontology[obj["class"]].colour))
                results.append(
                    ObjectResult(
                        media=media_path.name,
                        object_id=obj["id"],
                        class_name=obj["class"],
                        shape=ontology[obj["class"]].shape,
                        clicks=len(points),
                        iou=round(iou(gt.astype(np.uint8) * 255, mask), 4),
                        score=round(label.score, 4),
                    )
                )
            overlay = render_overlay(frame, selection=union, points=all_points, point_labels=all_flags, labels=drawn)
            write_image(out_dir / f"{key}_overlay.png", overlay)
            atomic_write_json(
                out_dir / f"{key}_labels.json",
                {
                    "media": str(media_path),
                    "frame": 0,
                    "backend": segmenter.name,
                    "labels": [
                        {
                            "object_id": label.object_id,
                            "class": label.class_name,
                            "score": round(label.score, 4),
                            "shape": shape_to_json(label.shape),
                        }
                        for label, _ in drawn
                    ],
                },
            )
    return results
