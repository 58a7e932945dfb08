"""A `Dataset` built from the sample media's ground truth, shared by the export/import tests.

The video's ball and frame become polygons (the frame has a hole), the leaf boxes; an extra
object has two parts; tracks have gaps; some labels are unconfirmed, flagged or carry
attributes; an image-folder media has labels of its own.
"""

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from engine.formats.dataset import Dataset, media_stem
from engine.geometry import mask_to_box, mask_to_polygon
from engine.ontology import Ontology
from engine.types import Label, LabelClass, MediaInfo, Polygon

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_media"
VIDEO = "sample_media/video.mp4"
FOLDER = "sample_media/frames"
H, W = 360, 640

BALL_FRAMES = (0, 1, 2, 3, 10, 11, 12)  # a gap 4..9, then the track ends at 12
FRAME_FRAMES = (0, 1, 2, 5, 6, 47)  # hole-bearing object, gaps, last frame labelled
LEAF_FRAMES = (0, 3, 6, 9)  # boxes on every third frame
TWO_PART_FRAMES = (20, 21)
FOLDER_FRAMES = (0, 1, 7)


@lru_cache(maxsize=64)
def gt_mask(frame_index: int) -> np.ndarray:
    """H×W uint8 object ids of one sample video frame (read-only)."""
    mask = cv2.imread(str(SAMPLES / "masks" / "video" / f"{frame_index:05d}.png"), cv2.IMREAD_UNCHANGED)
    mask.setflags(write=False)
    return mask


def ontology() -> Ontology:
    return Ontology(
        [
            LabelClass("ball", "polygon", "#e6194b", "1"),
            LabelClass("frame", "polygon", "#3cb44b", "2"),
            LabelClass("leaf", "bounding_box", "#4363d8", "3"),
            LabelClass("spot", "point", "#911eb4", None),
        ]
    )


def video_info() -> MediaInfo:
    return MediaInfo(VIDEO, "fp-video", W, H, 48, 24.0)


def folder_info() -> MediaInfo:
    names = tuple(f"frame_{k}.jpg" for k in range(24))
    return MediaInfo(FOLDER, "fp-folder", W, H, 24, 0.0, (), names)


def _disc(cx: float, cy: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[:H, :W]
    return (xx - cx) ** 2 + (yy - cy) ** 2 < r**2


def sample_dataset(*, tolerance: float = 1.0) -> Dataset:
    """The shared dataset; ``tolerance`` is the polygon simplification (0 = exact outlines)."""
    labels: list[Label] = []

    def polygon(mask: np.ndarray) -> Polygon:
        return mask_to_polygon(mask, tolerance=tolerance, min_area=0 if tolerance == 0 else 4.0)

    for k in BALL_FRAMES:
        confirmed = k < 10
        labels.append(
            Label(1, k, "ball", polygon(gt_mask(k) == 1), source="sam" if confirmed else "propagated",
                  score=1.0 if confirmed else 0.875, confirmed=confirmed, review=k == 12, media=VIDEO)
        )
    for k in FRAME_FRAMES:
        labels.append(Label(2, k, "frame", polygon(gt_mask(k) == 2), source="manual", media=VIDEO,
                            attributes={"note": "striped"} if k == 5 else {}))
    for k in LEAF_FRAMES:
        labels.append(Label(3, k, "leaf", mask_to_box(gt_mask(k) == 3), source="interpolated", score=0.5,
                            media=VIDEO))
    for k in TWO_PART_FRAMES:
        two = (gt_mask(k) == 1) | _disc(560 + k, 300, 20)
        labels.append(Label(4, k, "ball", polygon(two), media=VIDEO))
    for k in FOLDER_FRAMES:
        labels.append(Label(7, k, "ball", polygon(gt_mask(k) == 1), media=FOLDER))
        labels.append(Label(8, k, "leaf", mask_to_box(gt_mask(k) == 3), media=FOLDER))
    names = {(VIDEO, 1): "the ball", (VIDEO, 2): "frame «blue»"}
    return Dataset(ontology(), [video_info(), folder_info()], labels, names)


def test_the_shared_dataset_has_what_the_export_tests_rely_on():
    dataset = sample_dataset()
    dataset.check()
    shapes = {(l.object_id, l.frame_index): l.shape for l in dataset.labels}
    assert all(len(part) == 1 for part in shapes[(1, 0)].parts)  # the ball: no hole
    assert any(len(part) == 2 for part in shapes[(2, 0)].parts)  # the frame: exterior + hole
    assert len(shapes[(4, 20)].parts) == 2  # two parts
    assert mask_to_box(gt_mask(0) == 3) == shapes[(3, 0)]
    assert [media_stem(info) for info in dataset.media] == ["video", "frames"]
