"""Label Studio video rectangles: keyframes from labels (export) and labels from keyframes
(import), following how Label Studio itself shows a ``videorectangle`` region.

Label Studio (``VideoRectangleRegion`` in its editor) keeps a region's ``sequence`` of
keyframes sorted by ``frame`` (counted from 1). On a frame between two keyframes the box is
the linear interpolation of x, y, width, height and rotation; after the last keyframe it is
held. Whether the region shows is decided by the closest keyframe at or before the frame:
shown when that keyframe is ``enabled``, and a keyframe with ``enabled: false`` still shows
on its own frame (it is where the object ends). Before its first keyframe a region does not
show.

Pure functions on plain values; `engine.formats.labelstudio` and
`engine.formats.labelstudio_import` do the percent <-> pixel conversion.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.types import Label

VALUE_KEYS = ("x", "y", "width", "height", "rotation")


@dataclass(frozen=True)
class Keyframe:
    """One ``sequence`` entry: frame counted from 1, values in percent (rotation in degrees)."""

    frame: int
    enabled: bool
    x: float
    y: float
    width: float
    height: float
    rotation: float = 0.0

    def values(self) -> tuple[float, float, float, float, float]:
        return (self.x, self.y, self.width, self.height, self.rotation)


@dataclass(frozen=True)
class FrameBox:
    """The region on one frame (counted from 1): ``keyframe`` when the sequence holds it,
    else interpolated between two keyframes or held after the last."""

    frame: int
    values: tuple[float, float, float, float, float]
    keyframe: bool


def keyframe_labels(labels: list[Label], frames: int) -> list[tuple[Label, bool]]:
    """The labels of one object (one media, any order) to write as keyframes, each with its
    ``enabled`` flag.

    The labels are cut into runs of consecutive frames. Each run gives its first label, its
    confirmed labels and its last label; the last is ``enabled: false`` unless the run
    reaches the media's last frame (index ``frames - 1``), so Label Studio shows the object
    on exactly the labelled frames. Unconfirmed labels inside a run are not written:
    Label Studio interpolates between the keyframes instead.
    """
    ordered = sorted(labels, key=lambda label: label.frame_index)
    runs: list[list[Label]] = []
    for label in ordered:
        if runs and label.frame_index == runs[-1][-1].frame_index + 1:
            runs[-1].append(label)
        else:
            runs.append([label])
    out: list[tuple[Label, bool]] = []
    for run in runs:
        last = run[-1]
        for index, label in enumerate(run):
            if label is last:
                out.append((label, last.frame_index >= frames - 1))
            elif index == 0 or label.confirmed:
                out.append((label, True))
    return out


def expand(sequence: list[Keyframe], frames_count: int) -> list[FrameBox]:
    """Every frame (1..``frames_count``) on which Label Studio shows the region, with its
    values. ``sequence`` must be sorted by frame without repeats, frames within 1..frames_count."""
    out: list[FrameBox] = []
    for index, key in enumerate(sequence):
        out.append(FrameBox(key.frame, key.values(), True))
        if not key.enabled:
            continue
        following = sequence[index + 1] if index + 1 < len(sequence) else None
        end = following.frame if following is not None else frames_count + 1
        for frame in range(key.frame + 1, end):
            if following is None:
                out.append(FrameBox(frame, key.values(), False))
            else:
                t = (frame - key.frame) / (following.frame - key.frame)
                values = tuple(a + (b - a) * t for a, b in zip(key.values(), following.values()))
                out.append(FrameBox(frame, values, False))  # type: ignore[arg-type]
    return out


def shown_frames(sequence: list[Keyframe], frames_count: int) -> int:
    """How many frames `expand` gives, without making them (to refuse huge expansions first)."""
    total = 0
    for index, key in enumerate(sequence):
        total += 1
        if key.enabled:
            end = sequence[index + 1].frame if index + 1 < len(sequence) else frames_count + 1
            total += max(0, end - key.frame - 1)
    return total
