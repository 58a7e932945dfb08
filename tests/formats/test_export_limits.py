"""Limits hold from import to export, and exports follow the labels (issue #17, item 8).

A 274 KB COCO declaring 10**7 frames imported fine, then made the COCO export take 5.5 GB
(an ``images`` entry per frame) and DAVIS write a PNG for every frame; a project declaring
100000×100000 frames made DAVIS allocate 9.3 GiB a frame. Everything here goes through the
CLI (`engine.cli.main.main`), like the defect did; the fuzz plans are `fuzz_export`'s.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from engine.limits import MAX_FRAMES

sys.path.insert(0, str(Path(__file__).parents[1]))
import fuzz_export as fe

LONG = os.environ.get("FRAMEWISE_FUZZ") == "long"

# Declared frames = MAX_FRAMES, labels on the first and the last frame: the files written.
EXPECTED = {
    "coco": ["annotations/instances_default.json"],
    "yolo": ["data.yaml", "labels/train/000000.txt", f"labels/train/{MAX_FRAMES - 1:06d}.txt"],
    "cvat-video": ["v.xml"],
    "mot": ["v/gt/gt.txt", "v/gt/labels.txt", "v/seqinfo.ini"],
    "davis": ["v/00000.png", f"v/{MAX_FRAMES - 1:05d}.png"],
}


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _imported(tmp_path: Path, importer: str, width: int = 64, height: int = 48, frames: int = MAX_FRAMES) -> Path:
    indexes = [0, frames - 1]
    source = tmp_path / ("in.json" if importer == "coco" else "in.xml")
    source.write_text((fe.coco_file if importer == "coco" else fe.cvat_file)(width, height, frames, indexes))
    code, err = fe.cli("import", tmp_path / "p", "--format", "coco" if importer == "coco" else "cvat-video", source)
    assert code == 0, err
    return tmp_path / "p"


@pytest.mark.parametrize("importer", ["coco", "cvat"])
@pytest.mark.parametrize("fmt", fe.FORMATS)
def test_max_frames_declared_exports_in_seconds_with_a_file_per_label(tmp_path, importer, fmt):
    project = _imported(tmp_path, importer)
    start = time.monotonic()
    code, err = fe.cli("export", project, "--format", fmt, "--out", tmp_path / "out")
    assert code == 0, err
    assert time.monotonic() - start < 5  # was: 44 s and 6.8 GB (COCO), 4 h and 10**7 PNGs (DAVIS)
    assert _files(tmp_path / "out") == EXPECTED[fmt]
    if fmt == "coco":
        data = json.loads((tmp_path / "out" / "annotations" / "instances_default.json").read_text())
        assert data["videos"][0]["frames"] == MAX_FRAMES  # the frame count is kept, not listed
        assert [image["frame_index"] for image in data["images"]] == [0, MAX_FRAMES - 1]
        assert len(data["annotations"]) == 2
    if fmt == "cvat-video":
        assert f"<size>{MAX_FRAMES}</size>" in (tmp_path / "out" / "v.xml").read_text()


@pytest.mark.parametrize("fmt", fe.FORMATS)
@pytest.mark.parametrize(
    "edit, words",
    [
        ((100_000, 100_000, 10), "declares frames of 100000x100000 pixels"),
        ((64, 48, MAX_FRAMES + 1), f"declares {MAX_FRAMES + 1} frames"),
        ((64, 0, 10), "declares frames of 64x0 pixels"),
    ],
)
def test_a_project_declaring_sizes_over_the_limits_is_refused_by_export(tmp_path, fmt, edit, words):
    project = _imported(tmp_path, "coco", frames=10)
    fe.edit_project(project / "project.sqlite", edit)
    before = (project / "project.sqlite").read_bytes()
    code, err = fe.cli("export", project, "--format", fmt, "--out", tmp_path / "out")
    assert code == 2 and words in err and f"{project / 'project.sqlite'}: cannot export" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()  # refused before anything was written
    assert (project / "project.sqlite").read_bytes() == before


@settings(
    max_examples=80 * (50 if LONG else 1),
    deadline=None,
    derandomize=not LONG,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(plan=fe.export_plan_strategy())
def test_fuzz_import_then_export_with_declared_sizes_near_the_limits(tmp_path, plan):
    """Each plan: exported with few files, or one `FramewiseError` line; never a traceback,
    a per-frame loop over a declared count, or a refused export leaving files behind."""
    assert fe.run_export_case(plan, tmp_path / "case") in ("ok", "error")
