"""The propagator: flow, seeds, checks, and the generator's contract (directions, anchors,
cancel, objects added mid-run, labels), on the sample video and on synthetic clips."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from engine.errors import EditorStateError, PromptError
from engine.propagation.flow import dense_flow, to_grey, track_points, warp_mask
from engine.geometry import mask_iou, mask_to_polygon, polygon_to_mask
from engine.propagation.propagator import PropagationParams, Propagator, anchors_from_labels, default_params
from engine.propagation.seeds import expanded_box, interior_points, ring_points
from engine.propagation.step import StepParams
from engine.segment.classic.segmenter import ClassicSegmenter
from engine.types import Box, Label

SAMPLE = Path(__file__).resolve().parents[2] / "sample_media"


# -- synthetic clips -------------------------------------------------------------------
class Clip:
    """Frames in memory with the `FrameSource` reading interface."""

    def __init__(self, frames: list[np.ndarray]) -> None:
        self.frames = frames
        self.reads: list[int] = []

    def __len__(self) -> int:
        return len(self.frames)

    def frame(self, frame_index: int) -> np.ndarray:
        self.reads.append(frame_index)
        return self.frames[frame_index].copy()


def texture(rng: np.random.Generator, height: int, width: int, tint: tuple[float, float, float]) -> np.ndarray:
    """H×W×3 uint8: smooth blobs plus grain, tinted (trackable by LK and DIS)."""
    import cv2

    coarse = rng.random((height // 4 + 1, width // 4 + 1, 3)).astype(np.float32)
    blobs = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)[:height, :width]
    grain = rng.random((height, width, 3)).astype(np.float32) * 0.3
    return np.clip((0.6 * blobs + grain) * np.array(tint, np.float32) * 255, 0, 255).astype(np.uint8)


def square_clip(
    frames: int, *, start_x: int, speed: int, cover: tuple[int, int] | None = None, seed: int = 7
) -> tuple[Clip, list[np.ndarray]]:
    """A 36-px textured orange square moving right by ``speed`` px per frame over a blue
    textured background of 200×120; ``cover`` = (x0, x1): a static green textured band
    drawn in front of it. Returns the clip and the ground-truth masks (visible pixels)."""
    height, width, side, top = 120, 200, 36, 40
    rng = np.random.default_rng(seed)
    background = texture(rng, height, width, (0.6, 0.7, 0.9))
    patch = texture(rng, side, side, (1.0, 0.5, 0.3))
    band = texture(rng, height, cover[1] - cover[0], (0.4, 0.9, 0.4)) if cover else None
    images, masks = [], []
    for t in range(frames):
        image = background.copy()
        mask = np.zeros((height, width), bool)
        x = start_x + speed * t
        x0, x1 = max(x, 0), min(x + side, width)
        if x1 > x0:
            image[top : top + side, x0:x1] = patch[:, x0 - x : x1 - x]
            mask[top : top + side, x0:x1] = True
        if cover:
            image[:, cover[0] : cover[1]] = band
            mask[:, cover[0] : cover[1]] = False
        images.append(image)
        masks.append(mask)
    return Clip(images), masks


def classic() -> Propagator:
    return Propagator(ClassicSegmenter(), PropagationParams(quality=0.2))


# -- pure functions ----------------------------------------------------------------------
def test_dense_flow_recovers_a_shift() -> None:
    rng = np.random.default_rng(1)
    frame = texture(rng, 120, 200, (1.0, 1.0, 1.0))
    moved = np.roll(frame, (-2, 3), axis=(0, 1))  # content moves 3 px right, 2 px up
    a, b = to_grey(frame), to_grey(moved)
    flow = dense_flow(a, b)
    inner = flow[20:-20, 20:-20].reshape(-1, 2)
    assert np.median(inner, axis=0) == pytest.approx([3.0, -2.0], abs=0.25)
    half = dense_flow(a, b, scale=0.5)  # computed small, returned in full-size pixels
    assert half.shape == flow.shape
    assert np.median(half[20:-20, 20:-20].reshape(-1, 2), axis=0) == pytest.approx([3.0, -2.0], abs=0.5)


def test_warp_mask_follows_the_backward_flow() -> None:
    yy, xx = np.mgrid[0:60, 0:80]
    mask = (xx >= 10) & (xx < 30) & (yy >= 20) & (yy < 35)
    backward = np.zeros((60, 80, 2), np.float32)
    backward[..., 0] = -4.0  # each new pixel came from 4 px to its left: moved right
    backward[..., 1] = 2.0  # and from 2 px below: moved up
    warped = warp_mask(mask, backward) >= 0.5
    expected = (xx >= 14) & (xx < 34) & (yy >= 18) & (yy < 33)
    assert np.array_equal(warped, expected)


def test_warp_occlusion_check_drops_uncovered_background() -> None:
    # A square moving 4 px right over a static background. The strip it uncovers has the
    # background's zero backward flow, so plain warping samples the old mask there and
    # keeps it; the forward flow of those pixels on frame t (+4, they were the object)
    # does not send them back, so the check drops them.
    yy, xx = np.mgrid[0:60, 0:80]
    mask = (xx >= 10) & (xx < 30) & (yy >= 20) & (yy < 35)
    moving_after = (xx >= 14) & (xx < 34) & (yy >= 20) & (yy < 35)
    backward = np.zeros((60, 80, 2), np.float32)
    backward[..., 0] = np.where(moving_after, -4.0, 0.0)
    forward = np.zeros((60, 80, 2), np.float32)
    forward[..., 0] = np.where(mask, 4.0, 0.0)
    smeared = warp_mask(mask, backward) >= 0.5
    checked = warp_mask(mask, backward, forward) >= 0.5
    assert smeared[25, 10:14].all()  # the uncovered strip wrongly kept without the check
    assert np.array_equal(checked, moving_after)


def test_track_points_rejects_points_that_lose_their_texture() -> None:
    rng = np.random.default_rng(2)
    frame = texture(rng, 120, 200, (1.0, 1.0, 1.0))
    moved = np.roll(frame, 2, axis=1)
    moved[:, 120:] = texture(np.random.default_rng(3), 120, 80, (1.0, 1.0, 1.0))  # covered
    visible = np.array([[40, 60], [70, 30], [90, 90], [30, 20]], np.float32)
    yy, xx = np.mgrid[20:101:20, 135:186:25]
    covered = np.stack([xx.ravel(), yy.ravel()], axis=1).astype(np.float32)  # 15 points
    tracked = track_points(to_grey(frame), to_grey(moved), np.concatenate([visible, covered]))
    assert tracked.ok[:4].all()
    assert tracked.points[:4] == pytest.approx(visible + [2, 0], abs=0.2)
    # a look-alike texture can match by chance; the forward-backward check rejects most
    assert tracked.ok[4:].mean() <= 0.2
    assert tracked.share_ok == pytest.approx(tracked.ok.mean())


def test_seed_points_lie_inside_and_around_the_mask() -> None:
    yy, xx = np.mgrid[0:100, 0:160]
    mask = ((xx - 40) ** 2 + (yy - 50) ** 2 <= 20**2) | ((xx >= 90) & (xx < 140) & (yy >= 30) & (yy < 70))
    inside = interior_points(mask, 6)
    assert 2 <= len(inside) <= 6
    xi, yi = inside[:, 0].astype(int), inside[:, 1].astype(int)
    assert mask[yi, xi].all()
    assert (xi < 70).any() and (xi > 90).any()  # both parts get a point
    around = ring_points(mask, 8, margin=6)
    assert len(around) >= 6
    from scipy.ndimage import distance_transform_edt

    dist = distance_transform_edt(~mask)
    d = dist[around[:, 1].astype(int), around[:, 0].astype(int)]
    assert (d >= 6).all() and (d <= 10).all()
    box = expanded_box(mask, relative=0.0, pixels=2)
    assert box.tolist() == [18.0, 28.0, 142.0, 73.0]


# -- the generator on the sample video ---------------------------------------------------
def sample_truth(frame_index: int) -> np.ndarray:
    import cv2

    return cv2.imread(str(SAMPLE / "masks" / "video" / f"{frame_index:05d}.png"), cv2.IMREAD_GRAYSCALE)


SAMPLE_FRAMES = 12


@pytest.fixture(scope="module")
def sample_runs() -> dict[str, dict[int, list[float]]]:
    """Mean IoU per object over frames 1…12 of the sample video, re-segmented and warped."""
    from engine.media.open import open_media

    manifest = json.loads((SAMPLE / "manifest.json").read_text())
    ids = [o["id"] for o in manifest["objects"]]
    first = sample_truth(0)
    runs: dict[str, dict[int, list[float]]] = {}
    with open_media(SAMPLE / "video.mp4") as source:
        for name, propagator in (("classic", classic()), ("warp", Propagator(None))):
            ious: dict[int, list[float]] = {object_id: [] for object_id in ids}
            for step in propagator.propagate(source, 0, {i: first == i for i in ids}, until=SAMPLE_FRAMES):
                truth = sample_truth(step.frame_index)
                assert not step.flagged, step.reasons  # every object stays in view
                for object_id in ids:
                    ious[object_id].append(mask_iou(step.masks[object_id], truth == object_id))
            runs[name] = ious
    return runs


def test_sample_video_keeps_every_object(sample_runs) -> None:
    # Measured on frames 1–12 at quality 0.2: mean IoU 0.96–0.97 per object, minimum 0.92
    # (the leaf). 0.85 leaves room for platform differences in decoding and DIS while still
    # failing on a drifting mask (warping alone: 0.77 for the ball, minimum 0.57).
    ious = sample_runs["classic"]
    assert all(len(v) == SAMPLE_FRAMES for v in ious.values())
    for object_id, values in ious.items():
        assert np.mean(values) >= 0.85, (object_id, values)


def test_resegmenting_beats_warping_on_the_sample(sample_runs) -> None:
    resegmented = np.mean([np.mean(v) for v in sample_runs["classic"].values()])
    warped = np.mean([np.mean(v) for v in sample_runs["warp"].values()])
    assert resegmented > warped + 0.03  # measured: 0.97 vs 0.87


# -- checks: occlusion and leaving -------------------------------------------------------
def test_occluded_square_is_flagged_and_stopped() -> None:
    # The square slides under a band at x = 110…170: fully visible until frame 21, half
    # hidden at frame 28, gone from frame 34.
    clip, truth = square_clip(36, start_x=10, speed=3, cover=(110, 170))
    steps = list(classic().propagate(clip, 0, {1: truth[0]}))
    flagged = [s for s in steps if 1 in s.flagged]
    assert len(flagged) == 1  # the object stops at its first flag
    at = flagged[0].frame_index
    assert 22 <= at <= 34, flagged[0].reasons
    assert 1 not in flagged[0].masks  # no label written for the flagged frame
    assert all(1 not in s.object_ids for s in steps if s.frame_index > at)
    assert steps[-1].frame_index == at  # nothing left to propagate
    for step in steps:
        if step.frame_index <= 21:
            assert mask_iou(step.masks[1], truth[step.frame_index]) > 0.85


def test_square_leaving_the_frame_is_flagged() -> None:
    clip, truth = square_clip(30, start_x=104, speed=3)  # reaches the edge at frame 20, gone at 32
    steps = list(classic().propagate(clip, 0, {1: truth[0]}))
    (flagged,) = [s for s in steps if s.flagged]
    assert 21 <= flagged.frame_index <= 30 and flagged.reasons[1]
    assert steps[-1].frame_index == flagged.frame_index  # nothing left to propagate


def test_continue_mode_keeps_going_after_a_flag() -> None:
    clip, truth = square_clip(30, start_x=60, speed=6)
    params = replace(default_params(None), on_flag="continue")
    steps = list(Propagator(None, params).propagate(clip, 0, {1: truth[0]}))
    assert [s.frame_index for s in steps] == list(range(1, 30))
    assert sum(1 in s.flagged for s in steps) >= 3  # every frame after it left is flagged


# -- the generator's contract --------------------------------------------------------------
def test_backward_direction() -> None:
    clip, truth = square_clip(16, start_x=10, speed=3)
    steps = list(classic().propagate(clip, 15, {1: truth[15]}, direction=-1))
    assert [s.frame_index for s in steps] == list(range(14, -1, -1))
    ious = [mask_iou(s.masks[1], truth[s.frame_index]) for s in steps]
    # measured: 0.99 on frame 14 down to 0.79 on frame 0 (mean 0.92), as forwards
    assert np.mean(ious) > 0.85 and min(ious) > 0.7


def test_until_limits_the_range() -> None:
    clip, truth = square_clip(16, start_x=10, speed=4)
    steps = list(Propagator(None).propagate(clip, 3, {1: truth[3]}, until=7))
    assert [s.frame_index for s in steps] == [4, 5, 6, 7]
    assert max(clip.reads) == 7


def test_cancel_stops_between_frames() -> None:
    clip, truth = square_clip(16, start_x=10, speed=4)
    propagator = Propagator(None)
    seen = []
    for step in propagator.propagate(clip, 0, {1: truth[0]}):
        seen.append(step.frame_index)
        if step.frame_index == 3:
            propagator.cancel()
    assert seen == [1, 2, 3]
    assert max(clip.reads) == 3  # frame 4 was never read
    # an external event works the same, and a new run is not affected by the old cancel
    event = threading.Event()
    seen = []
    for step in propagator.propagate(clip, 0, {1: truth[0]}, cancel=event):
        seen.append(step.frame_index)
        if step.frame_index == 2:
            event.set()
    assert seen == [1, 2]


def test_cancel_from_another_thread() -> None:
    clip, truth = square_clip(16, start_x=10, speed=4)
    propagator = Propagator(None)
    started, resume = threading.Event(), threading.Event()
    seen: list[int] = []

    def consume() -> None:
        for step in propagator.propagate(clip, 0, {1: truth[0]}):
            seen.append(step.frame_index)
            started.set()
            resume.wait(5)

    worker = threading.Thread(target=consume)
    worker.start()
    assert started.wait(10)
    propagator.cancel()
    resume.set()
    worker.join(10)
    assert seen == [1]


def test_anchors_stop_each_direction_and_are_never_written() -> None:
    clip, truth = square_clip(16, start_x=10, speed=4)
    forward = list(Propagator(None).propagate(clip, 5, {1: truth[5]}, anchors=[2, 9, 12]))
    assert [s.frame_index for s in forward] == [6, 7, 8]
    backward = list(Propagator(None).propagate(clip, 5, {1: truth[5]}, direction=-1, anchors=[2, 9, 12]))
    assert [s.frame_index for s in backward] == [4, 3]


def test_per_object_anchors_from_confirmed_labels() -> None:
    clip, truth = square_clip(16, start_x=10, speed=4)
    other = np.zeros_like(truth[0])
    other[90:110, 20:60] = True
    confirmed = Label(1, 6, "thing", mask_to_polygon(truth[6]), source="sam", confirmed=True)
    propagated = Label(2, 4, "thing", mask_to_polygon(other), source="propagated", confirmed=False)
    anchors = anchors_from_labels([confirmed, propagated])
    assert anchors == {1: {6}}
    steps = list(Propagator(None).propagate(clip, 2, {1: truth[2], 2: other}, until=8, anchors=anchors))
    assert [s.frame_index for s in steps] == [3, 4, 5, 6, 7, 8]
    assert [s.object_ids for s in steps] == [(1, 2)] * 3 + [(2,)] * 3  # object 1 stops before 6


def test_object_added_mid_run_keeps_its_id() -> None:
    clip, truth = square_clip(16, start_x=10, speed=4)
    other = np.zeros_like(truth[0])
    other[85:115, 120:170] = True  # a static block of background
    propagator = Propagator(None)
    seen = {}
    for step in propagator.propagate(clip, 0, {4: truth[0]}, until=10):
        seen[step.frame_index] = step.object_ids
        if step.frame_index == 5:
            with pytest.raises(EditorStateError):
                propagator.add_object(9, other, frame_index=4)  # not the current frame
            propagator.add_object(9, other, frame_index=5)
            with pytest.raises(EditorStateError, match="object 4"):
                propagator.add_object(4, truth[5], frame_index=5)  # already propagated
            with pytest.raises(EditorStateError, match="object 9"):
                propagator.add_object(9, other, frame_index=5)  # already added
    assert seen[5] == (4,) and seen[6] == (4, 9) and seen[10] == (4, 9)
    with pytest.raises(EditorStateError):
        propagator.add_object(5, truth[10], frame_index=10)  # nothing running any more


def test_labels_in_give_propagated_labels_out() -> None:
    clip, truth = square_clip(8, start_x=10, speed=4)
    polygon_label = Label(1, 0, "square", mask_to_polygon(truth[0]), media="clip")
    box_label = Label(2, 0, "block", Box(120.0, 85.0, 170.0, 115.0), media="clip")
    steps = list(classic().propagate(clip, 0, {1: polygon_label, 2: box_label}, until=3))
    for step in steps:
        square, block = step.labels[1], step.labels[2]
        assert (square.object_id, square.class_name, square.media) == (1, "square", "clip")
        assert square.source == "propagated" and not square.confirmed and not square.review
        assert square.frame_index == step.frame_index
        assert mask_iou(polygon_to_mask(square.shape, 120, 200), truth[step.frame_index]) > 0.85
        assert isinstance(block.shape, Box) and block.class_name == "block"


def test_bad_arguments() -> None:
    clip, truth = square_clip(4, start_x=10, speed=4)
    propagator = Propagator(None)
    with pytest.raises(ValueError):
        next(propagator.propagate(clip, 0, {1: truth[0]}, direction=2))
    with pytest.raises(PromptError, match="start frame 9"):
        next(propagator.propagate(clip, 9, {1: truth[0]}))
    with pytest.raises(PromptError, match="empty mask"):
        next(propagator.propagate(clip, 0, {1: np.zeros_like(truth[0])}))
    with pytest.raises(PromptError, match="does not match"):
        next(propagator.propagate(clip, 0, {1: truth[0][:50]}))
    with pytest.raises(EditorStateError):
        propagator.add_object(1, truth[0], frame_index=0)
    with pytest.raises(ValueError):
        StepParams(mode="magic")


def test_sam_backend_path_feeds_logits_back() -> None:
    # A tiny random SAM makes meaningless masks, but the prompts the propagator sends it
    # (points + box, then its own logits on the next pass) are those of the real models.
    pytest.importorskip("segment_anything")
    from engine.segment.sam.segmenter import SamSegmenter
    from engine.segment.sam.build import build_random_sam

    sam = SamSegmenter(build_random_sam("tiny", seed=0), "tiny-random", device="cpu")
    prompts = []

    class Recording:
        name, model = sam.name, sam.model

        def prepare(self, frame, quality):
            return sam.prepare(frame, quality)

        def predict(self, embedding, prompt):
            prompts.append(prompt)
            return sam.predict(embedding, prompt)

    clip, truth = square_clip(4, start_x=10, speed=4)
    params = replace(default_params("sam"), quality=0.2, on_flag="continue")
    assert params.step.passes == 2
    steps = list(Propagator(Recording(), params).propagate(clip, 0, {1: truth[0]}))
    assert [s.frame_index for s in steps] == [1, 2, 3]
    assert len(prompts) == 2 * 3
    for first, second in zip(prompts[::2], prompts[1::2]):
        assert first.box is not None and (first.labels == 1).any() and first.mask_input is None
        assert second.mask_input is not None and second.mask_input.shape == (1, 256, 256)
        assert np.array_equal(first.points, second.points)
    # random weights disagree with the flow, so the warped prior is kept
    assert all(s.checks[1].used == "prior" for s in steps)
