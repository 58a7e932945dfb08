"""Long work, CI sample of ``tools/long_run.py``: paging a 1080p H.264 video through the
`FrameServer` and propagating one object frame after frame stay within memory bounds
derived from the cache budgets and do not slow down over time.

The full run (10 min of 1080p video, thousands of frames propagated) is
``python tools/long_run.py --minutes 10``; its figures are in docs/RELIABILITY.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools.long_run import MIB, Renderer, Scene, report, run  # noqa: E402

FRAME_CACHE_MIB = 64
# Beyond the frame LRU: the decoder's own buffers (decord reads ahead, a GOP of 1080p
# frames), the frames in flight and allocator slack. A leak of one 1080p frame (6 MiB)
# per 10 frames paged would pass 350 MiB after 600 frames.
DECODER_SLACK_MIB = 350


def test_synthetic_scene_mask_matches_its_frames():
    """The ground truth the long run measures drift against is where the object is drawn."""
    scene = Scene(width=320, height=180, axes=(40.0, 30.0), pad=40, seed=3)
    renderer = Renderer(scene)
    for frame_index in (0, 45, 200):
        frame, mask = renderer.frame(frame_index), scene.mask(frame_index)
        background = renderer.background[scene.pan(frame_index)[1]:, scene.pan(frame_index)[0]:][:180, :320]
        changed = (frame != background).any(axis=2)
        assert mask.sum() > 2000 and changed[~mask].sum() == 0 and changed[mask].mean() > 0.9


def test_paging_and_propagation_stay_bounded_and_do_not_slow_down(tmp_path):
    result = run(page_frames=600, propagate_frames=300, frame_cache_mib=FRAME_CACHE_MIB,
                 propagate_size=(480, 270), cache=tmp_path / "videos", work=tmp_path)
    print("\n" + report(result))
    paging, carrying = result["phases"]
    assert paging["frames"] == 600 and carrying["frames"] == 300
    assert paging["extra"]["frame_cache_mib"] <= FRAME_CACHE_MIB  # the LRU keeps its budget
    bound = paging["rss_start"] + FRAME_CACHE_MIB + DECODER_SLACK_MIB
    assert paging["peak"] <= bound, (paging["peak"], bound)
    assert carrying["peak"] <= carrying["rss_start"] + DECODER_SLACK_MIB
    assert paging["rss_end"] - paging["rss_start"] <= FRAME_CACHE_MIB + DECODER_SLACK_MIB
    for phase in (paging, carrying):
        # CPU seconds per frame, so that other jobs on a shared CI machine cannot fake a
        # slowdown (the wall-clock rates are in the report too).
        assert phase["cpu_rate_last"] >= 0.7 * phase["cpu_rate_first"], phase
    assert carrying["extra"]["written"] == 300 and carrying["extra"]["stored"] == 301
