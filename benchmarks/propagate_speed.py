"""Propagation speed of the weight-free default, end to end (decode included).

Three measurements, each with a bare baseline timed in the same run:
- one object on a DAVIS sequence (854×480), against decoding the same frames;
- three objects on it (the same mask three times: the per-object work counted thrice),
  against one object: issue 18 asks for at most 2×;
- one object through a 720p clip of ``../shared/data/videos`` (an ellipse in the middle of
  the first frame: speed only, no ground truth), against decoding the clip;
- the same through the label editor (`Editor.propagate`: frames through its frame server,
  labels written to its store), what a person waits for.

    .venv/bin/python benchmarks/propagate_speed.py [--data ../shared/data] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.evaluation.machine import machine_info  # noqa: E402
from engine.evaluation.vos import list_sequences  # noqa: E402
from engine.media.open import open_media  # noqa: E402
from engine.propagation.propagator import Propagator, default_params  # noqa: E402
from engine.segment.classic.segmenter import ClassicSegmenter  # noqa: E402


def decode_seconds(path: Path, frames: int) -> float:
    with open_media(path) as source:
        started = time.perf_counter()
        for index in range(min(frames, len(source))):
            source.frame(index)
        return time.perf_counter() - started


def propagate_seconds(path: Path, masks: dict[int, np.ndarray], frames: int) -> tuple[float, int]:
    propagator = Propagator(ClassicSegmenter(), default_params("classic"))
    with open_media(path) as source:
        last = min(frames, len(source)) - 1
        started = time.perf_counter()
        count = sum(1 for _ in propagator.propagate(source, 0, masks, until=last))
        return time.perf_counter() - started, count + 1


def editor_seconds(path: Path, mask: np.ndarray) -> tuple[float, int]:
    from engine.editing.editor import Editor
    from engine.geometry import mask_to_polygon
    from engine.types import Label, LabelSource, ShapeType

    with Editor(ClassicSegmenter()) as editor:
        editor.open(path)
        polygon_class = next(c.name for c in editor.ontology if c.shape == ShapeType.POLYGON)
        editor.store.put(Label(1, 0, polygon_class, mask_to_polygon(mask), source=LabelSource.MANUAL,
                               media=editor.media_name))
        started = time.perf_counter()
        result = editor.propagate(1)
        return time.perf_counter() - started, result.written + 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("FRAMEWISE_DATA", "../shared/data"))
    parser.add_argument("--sequence", default="bear")
    parser.add_argument("--clip", default="01_dog.mp4")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    data = Path(args.data)
    sequence = next(s for s in list_sequences(data / "davis16-train10") if s.name == args.sequence)
    first = sequence.ground_truth(0)
    frames = len(sequence)
    decode = decode_seconds(sequence.frames_dir, frames)
    one, produced = propagate_seconds(sequence.frames_dir, {1: first}, frames)
    three, _ = propagate_seconds(sequence.frames_dir, {1: first, 2: first.copy(), 3: first.copy()}, frames)
    clip = data / "videos" / args.clip
    with open_media(clip) as source:
        height, width = source.shape
        clip_frames = len(source)
    yy, xx = np.mgrid[:height, :width]
    ellipse = ((xx - width / 2) / (width / 8)) ** 2 + ((yy - height / 2) / (height / 6)) ** 2 <= 1
    clip_decode = decode_seconds(clip, clip_frames)
    clip_seconds, clip_produced = propagate_seconds(clip, {1: ellipse}, clip_frames)
    in_editor, editor_frames = editor_seconds(clip, ellipse)
    result = {
        "machine": machine_info(),
        "davis": {"sequence": sequence.name, "frames": produced, "size": list(first.shape[::-1]),
                  "decode_s": round(decode, 2), "one_object_s": round(one, 2), "three_objects_s": round(three, 2),
                  "one_object_fps": round(produced / one, 2), "three_objects_fps": round(produced / three, 2),
                  "one_vs_decode": round(one / decode, 1), "three_vs_one": round(three / one, 2)},
        "clip": {"name": args.clip, "frames": clip_produced, "size": [width, height],
                 "decode_s": round(clip_decode, 2), "propagate_s": round(clip_seconds, 2),
                 "fps": round(clip_produced / clip_seconds, 2), "propagate_vs_decode": round(clip_seconds / clip_decode, 1),
                 "editor_s": round(in_editor, 2), "editor_frames": editor_frames,
                 "editor_vs_propagator": round(in_editor / clip_seconds, 2)},
    }
    d, c = result["davis"], result["clip"]
    print(f"{d['sequence']} {d['size'][0]}×{d['size'][1]}, {d['frames']} frames: one object {d['one_object_s']} s "
          f"({d['one_object_fps']} frames/s, {d['one_vs_decode']}× decoding alone), three objects "
          f"{d['three_objects_s']} s ({d['three_vs_one']}× one)")
    print(f"{c['name']} {c['size'][0]}×{c['size'][1]}, {c['frames']} frames: {c['propagate_s']} s "
          f"({c['fps']} frames/s, {c['propagate_vs_decode']}× decoding alone); in the editor {c['editor_s']} s "
          f"({c['editor_frames']} frames, {c['editor_vs_propagator']}× the bare propagator)")
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
