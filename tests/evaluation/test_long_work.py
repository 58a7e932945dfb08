"""Long work, CI sample of ``tools/long_run.py``: paging a 1080p H.264 video through the
`FrameServer` and propagating one object frame after frame with permanent drawing (the
default propagation: the classic segmenter re-prompted on every frame) stay within memory
bounds derived from the cache budgets and do not slow down over time.

The full runs (10 min of 1080p video paged; 5 000 frames propagated) are
``python tools/long_run.py --minutes 10 --propagate 0`` and
``python tools/long_run.py --minutes 0 --propagate 5000``; their figures are in
docs/RELIABILITY.md.
"""

from __future__ import annotations

import sqlite3
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tools.long_propagate import PropagateOptions  # noqa: E402
from tools.long_run import Renderer, Scene, report, run, small_scene, synth_video  # noqa: E402

FRAME_CACHE_MIB = 64
# Beyond the frame LRU: the decoder's own buffers (decord reads ahead, a GOP of 1080p
# frames), the frames in flight and allocator slack. A leak of one 1080p frame (6 MiB)
# per 10 frames paged would pass 350 MiB after 600 frames.
DECODER_SLACK_MIB = 350

# The propagation sample: 160×90 frames (a 20×15 px ellipse), small LRU budgets so that
# both fill within the first third of the run and the rest shows whether RSS levels off.
PROPAGATE_FRAMES = 150
PROPAGATE_SIZE = (160, 90)
PROPAGATE_OPTIONS = PropagateOptions(frame_cache_mib=2, embed_cache_mib=8, samples=6)
# After the caches are full (second half of the run) RSS may move by allocator noise
# only: a leak of one embedding (≈ 0.2 MiB here) per frame would add 15 MiB.
LEVEL_SLACK_MIB = 12


def test_synthetic_scene_mask_matches_its_frames():
    """The ground truth the long run measures drift against is where the object is drawn."""
    scene = Scene(width=320, height=180, axes=(40.0, 30.0), pad=40, seed=3)
    renderer = Renderer(scene)
    for frame_index in (0, 45, 200):
        frame, mask = renderer.frame(frame_index), scene.mask(frame_index)
        background = renderer.background[scene.pan(frame_index)[1]:, scene.pan(frame_index)[0]:][:180, :320]
        changed = (frame != background).any(axis=2)
        assert mask.sum() > 2000 and changed[~mask].sum() == 0 and changed[mask].mean() > 0.9


def test_paging_stays_bounded_and_does_not_slow_down(tmp_path):
    result = run(page_frames=600, propagate_frames=0, frame_cache_mib=FRAME_CACHE_MIB,
                 cache=tmp_path / "videos", work=tmp_path)
    print("\n" + report(result))
    (paging,) = result["phases"]
    assert paging["frames"] == 600
    assert paging["extra"]["frame_cache_mib"] <= FRAME_CACHE_MIB  # the LRU keeps its budget
    bound = paging["rss_start"] + FRAME_CACHE_MIB + DECODER_SLACK_MIB
    assert paging["peak"] <= bound, (paging["peak"], bound)
    assert paging["rss_end"] - paging["rss_start"] <= FRAME_CACHE_MIB + DECODER_SLACK_MIB
    # CPU seconds per frame, so that other jobs on a shared CI machine cannot fake a
    # slowdown (the wall-clock rates are in the report too).
    assert paging["cpu_rate_last"] >= 0.7 * paging["cpu_rate_first"], paging


def test_propagation_keeps_the_object_and_its_cost_bounded(tmp_path):
    result = run(page_frames=0, propagate_frames=PROPAGATE_FRAMES, propagate_size=PROPAGATE_SIZE,
                 options=PROPAGATE_OPTIONS, cache=tmp_path / "videos", work=tmp_path)
    print("\n" + report(result))
    (carrying,) = result["phases"]
    extra, samples = carrying["extra"], carrying["extra"]["samples"]
    assert carrying["frames"] == PROPAGATE_FRAMES and extra["backend"] == "classic"
    assert extra["written"] == PROPAGATE_FRAMES and extra["stored"] == PROPAGATE_FRAMES + 1
    assert extra["last_frame"] == PROPAGATE_FRAMES
    # Review flags only ask for a look: a flagged frame's label is still written and the run
    # goes on. The risk grows with the corrections accumulated since the reference, so the
    # first half of the run (little accumulated) is not flagged; later frames may be.
    assert all(not s["review"] for s in samples if s["frame"] <= PROPAGATE_FRAMES // 2), samples
    assert extra["flagged"] < PROPAGATE_FRAMES, extra
    # The mask stays on the object, so what each frame costs stays the same: no swelling.
    assert min(s["iou"] for s in samples) >= 0.85, samples
    # (the outline of a 20×15 px ellipse varies between ~20 and ~45 vertices; a mask
    # swelling into the background grows it tenfold and more)
    assert max(s["vertices"] for s in samples) <= 4 * samples[0]["vertices"], samples
    assert carrying["cpu_rate_last"] >= 0.7 * carrying["cpu_rate_first"], carrying
    # Memory: the LRUs keep their budgets, RSS stays within them plus slack, and levels off.
    assert extra["frame_cache_mib"] <= extra["frame_budget_mib"]
    assert extra["embed_cache_mib"] <= extra["embed_budget_mib"]
    budgets = extra["frame_budget_mib"] + extra["embed_budget_mib"]
    assert carrying["peak"] <= carrying["rss_start"] + budgets + DECODER_SLACK_MIB, carrying
    half = len(samples) // 2
    later = max(s["rss_mib"] for s in samples[half:])
    assert later - samples[half - 1]["rss_mib"] <= LEVEL_SLACK_MIB, samples


def test_warp_only_drift_is_flagged_not_carried_on(tmp_path):
    """Warp only (no segmenter) cannot take back the background the ellipse uncovers (its
    outline moves under a pixel per frame), so its mask swells; the default checks flag
    the drift and stop the object instead of carrying a growing mask for ever."""
    from engine.media.open import open_media
    from engine.propagation.propagator import Propagator, default_params

    scene = small_scene(160, 90)
    with open_media(synth_video(scene, 401, tmp_path)) as source:
        steps = list(Propagator(None, default_params(None)).propagate(source, 0, {1: scene.mask(0)}, 1))
    flagged = [step for step in steps if step.flagged]
    assert flagged and flagged[0].frame_index < 300 and "drift" in flagged[0].reasons[1], steps[-1]
    assert steps[-1] is flagged[0] and not steps[-1].masks  # stopped there, no label
    last = steps[-2]
    assert last.masks[1].sum() < 2.5 * scene.mask(last.frame_index).sum()


def test_project_write_cost_does_not_grow_with_the_labels_stored(tmp_path):
    """A propagated frame's write (one label, one change set, one transaction; the run's
    change sets share one kind) costs the same SQLite work with 2 000 labels stored as
    with none: every statement is an indexed lookup, none scans labels or history.
    Counted in SQLite virtual-machine steps, so the check does not depend on timing."""
    from engine.geometry import mask_to_polygon
    from engine.ontology import Ontology
    from engine.project import Project
    from engine.types import Label, LabelClass, MediaInfo

    ontology = Ontology([LabelClass("blob", "polygon", "#ff7f0e", "1")])
    mask = np.zeros((90, 160), bool)
    mask[30:60, 50:100] = True
    start = Label(1, 0, "blob", mask_to_polygon(mask), source="manual", confirmed=True, media="clip.mp4")
    frames = 2000
    with Project.create(tmp_path / "project", ontology) as project:
        project.add_media(MediaInfo("clip.mp4", "f" * 64, 160, 90, frames + 1, 30.0, (), ()))
        project.put(start)
        steps = [0]

        def count() -> int:
            steps[0] += 1
            return 0

        project._db.set_progress_handler(count, 50)
        costs = []
        for frame_index in range(1, frames + 1):
            before = steps[0]
            with project.group("propagate:0:1:run"):
                project.put(replace(start, frame_index=frame_index, source="propagated", confirmed=False),
                            kind="propagate")
            costs.append(steps[0] - before)
        project._db.set_progress_handler(None, 0)
        assert len(project.labels("clip.mp4")) == frames + 1
    first, last = sum(costs[:200]), sum(costs[-200:])
    assert first > 0 and last <= 1.2 * first, (first, last)
    assert sqlite3.sqlite_version_info >= (3, 24)  # the upsert the store writes with
