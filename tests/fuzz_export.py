"""Fuzzing import-then-export through the CLI with declared sizes near and past the limits.

A case is a plan of plain values, so hypothesis (`export_plan_strategy`, the CI test in
``tests/formats/test_export_limits.py``) and ``random.Random`` (`random_export_plan`,
``tools/fuzz.py``) drive the same code: a small COCO or CVAT for video file declaring a
frame size and a frame count taken from `SIDES` / `FRAMES` (1, the limits, one past them,
2**31, 2**63, 0, negatives) with box labels on frames picked from `FRAME_PICKS` (the first,
the last, one past the end, the limits...), imported by ``framewise import``; optionally the
project database is then edited to declare other sizes (as a crafted or old project would,
past every import check), and ``framewise export`` writes one format.

`run_export_case` accepts, at each step, success or exit status 2 with one line on stderr
(a `FramewiseError`); a successful export must write few files (they follow the labels,
never the declared frame count), a refused one must leave no ``--out`` behind, and every
step must finish in seconds. Anything else (another exception, a traceback, a slow or
sprawling export) raises `AssertionError`.
"""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from engine.limits import MAX_FRAME_PIXELS, MAX_FRAMES

FORMATS = ("coco", "yolo", "cvat-video", "mot", "davis")
SIDES = ((1, 2, 64, 4096, 16384), (16385, 100_000, 0, -3, 2**31, 2**63))
FRAMES = ((1, 2, 3, MAX_FRAMES - 1, MAX_FRAMES), (MAX_FRAMES + 1, 2**31, 2**63 - 1, 2**63, 0, -1))
FRAME_PICKS = (("first", "last", "middle"), ("past_end", MAX_FRAMES - 1, MAX_FRAMES, 2**63 - 1, -1))
"""Each as (within the limits, outside them); a value is taken from the first three times in four."""
BIG_FRAME = 1 << 22
"""Frames of more pixels than this (legal up to `MAX_FRAME_PIXELS`) make DAVIS allocate and
encode up to 256 MB a labelled frame: a case keeps them to one labelled frame."""
SECONDS = 20.0
"""A step slower than this is a failure (a per-frame loop over a declared count)."""

ExportPlan = tuple[str, int, int, int, list[Any], str, tuple[int, int, int] | None]
"""(importer ``coco``/``cvat``, width, height, frames, frame picks, export format,
database edit (width, height, frames) or None)."""


def export_plan_strategy():
    """Hypothesis strategy of `ExportPlan`."""
    from hypothesis import strategies as st

    def value(pair: tuple[tuple, tuple]):
        good, bad = pair
        return st.sampled_from(good * (3 * len(bad)) + bad * len(good))  # 3 in 4 within the limits

    edit = st.none() | st.tuples(value(SIDES), value(SIDES), value(FRAMES))
    return st.tuples(
        st.sampled_from(("coco", "cvat")),
        value(SIDES),
        value(SIDES),
        value(FRAMES),
        st.lists(value(FRAME_PICKS), min_size=1, max_size=3),
        st.sampled_from(FORMATS),
        edit,
    )


def random_export_plan(rng) -> ExportPlan:
    """`ExportPlan` from a ``random.Random``."""

    def value(pair: tuple[tuple, tuple]):
        return rng.choice(pair[0] if rng.random() < 0.75 else pair[1])

    edit = None if rng.random() < 0.6 else (value(SIDES), value(SIDES), value(FRAMES))
    picks = [value(FRAME_PICKS) for _ in range(rng.randrange(1, 4))]
    return (rng.choice(("coco", "cvat")), value(SIDES), value(SIDES), value(FRAMES), picks, rng.choice(FORMATS), edit)


def frame_indexes(frames: int, picks: list[Any], width: int, height: int) -> list[int]:
    """The labelled frames a plan asks for (one only on a frame of over `BIG_FRAME` pixels)."""
    named = {"first": 0, "last": frames - 1, "middle": frames // 2, "past_end": frames}
    found = sorted({named.get(pick, pick) if isinstance(pick, str) else pick for pick in picks})
    if 0 < width * height <= MAX_FRAME_PIXELS and width * height > BIG_FRAME:
        found = found[:1]
    return found


def coco_file(width: int, height: int, frames: int, indexes: list[int]) -> str:
    box = [0, 0, min(max(width, 1), 2), min(max(height, 1), 2)]
    images = [
        {"id": k + 1, "file_name": f"v/{index:06d}.jpg", "width": width, "height": height, "video": "v.mp4",
         "frame_index": index}
        for k, index in enumerate(indexes)
    ]
    annotations = [
        {"id": k + 1, "image_id": k + 1, "category_id": 1, "track_id": 1, "bbox": box, "segmentation": [],
         "area": 1, "iscrowd": 0}
        for k in range(len(indexes))
    ]
    return json.dumps({
        "categories": [{"id": 1, "name": "thing", "shape": "bounding_box"}],
        "videos": [{"name": "v.mp4", "width": width, "height": height, "frames": frames, "fps": 25.0}],
        "images": images,
        "annotations": annotations,
    })


def cvat_file(width: int, height: int, frames: int, indexes: list[int]) -> str:
    xbr, ybr = min(max(width, 1), 2), min(max(height, 1), 2)
    def box(index: int, outside: int) -> str:
        return f'<box frame="{index}" xtl="0" ytl="0" xbr="{xbr}" ybr="{ybr}" outside="{outside}" occluded="0" keyframe="1"/>'

    # each labelled frame closed by an outside copy on the next frame, as CVAT writes a track with gaps
    closed = [index + 1 for index in indexes if index + 1 < frames and index + 1 not in indexes]
    boxes = "".join(box(index, 0) for index in indexes) + "".join(box(index, 1) for index in closed)
    return (
        '<?xml version="1.0" encoding="utf-8"?><annotations><version>1.1</version><meta><task>'
        f"<name>v.mp4</name><size>{frames}</size><mode>interpolation</mode>"
        "<labels><label><name>thing</name><type>bbox</type><attributes/></label></labels>"
        f"<original_size><width>{width}</width><height>{height}</height></original_size>"
        f'</task></meta><track id="0" label="thing" source="manual">{boxes}</track></annotations>'
    )


def cli(*argv: Any) -> tuple[int, str]:
    """``framewise ARGV`` in this process: (exit status, stderr); an escaping exception is a failure."""
    from engine.cli.main import main

    err, out = io.StringIO(), io.StringIO()
    start = time.monotonic()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = main([str(a) for a in argv])
    seconds = time.monotonic() - start
    assert seconds < SECONDS, f"framewise {argv[0]} took {seconds:.1f} s"
    text = err.getvalue()
    if code != 0:
        assert code == 2 and len(text.strip().splitlines()) == 1, f"exit {code}, stderr {text[-600:]!r}"
    return code, text


def edit_project(path: Path, edit: tuple[int, int, int]) -> None:
    """Declare ``edit`` (width, height, frames) in the project's media row, as a crafted file
    would; numbers SQLite cannot hold as integers are stored as text (read back as reals)."""
    values = [value if -(2**63) <= value < 2**63 else str(value) for value in edit]
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("PRAGMA ignore_check_constraints = ON")
        db.execute("UPDATE media SET width = ?, height = ?, frames = ?", values)


def run_export_case(plan: ExportPlan, work: Path) -> str:
    """Import, maybe edit, export; ``ok`` (exported), ``error`` (one line, exit 2) or
    `AssertionError` naming the plan."""
    importer, width, height, frames, picks, fmt, edit = plan
    try:
        return _run(work, importer, width, height, frames, picks, fmt, edit)
    except AssertionError as failure:
        raise AssertionError(f"plan {plan!r}: {failure}") from None
    except Exception as exc:  # noqa: BLE001 (anything that escapes the CLI is the failure we look for)
        raise AssertionError(f"plan {plan!r}: {type(exc).__name__}: {exc}") from exc


def _run(work: Path, importer: str, width: int, height: int, frames: int, picks: list[Any], fmt: str,
         edit: tuple[int, int, int] | None) -> str:
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    indexes = frame_indexes(frames, picks, width, height)
    source = work / ("in.json" if importer == "coco" else "in.xml")
    source.write_text((coco_file if importer == "coco" else cvat_file)(width, height, frames, indexes))
    code, _ = cli("import", work / "p", "--format", "coco" if importer == "coco" else "cvat-video", source)
    if code != 0:
        assert not (work / "p").exists(), "a refused import left a project behind"
        return "error"
    if edit is not None:
        edit_project(work / "p" / "project.sqlite", edit)
    out = work / "out"
    code, _ = cli("export", work / "p", "--format", fmt, "--out", out)
    if code != 0:
        assert not out.exists(), "a refused export left --out behind"
        return "error"
    written = [p for p in out.rglob("*") if p.is_file()]
    assert len(written) <= 3 + 2 * len(indexes), f"{len(written)} files for {len(indexes)} labelled frames"
    return "ok"
