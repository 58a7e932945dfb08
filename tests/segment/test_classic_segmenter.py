"""The weight-free default segmenter: quality, prompts, speed path and cacheability."""

import dataclasses
import io

import numpy as np
import pytest

from engine.errors import PromptError
from engine.geometry import mask_iou
from engine.segment.classic.segmenter import ClassicSegmenter, working_size
from engine.types import Embedding, Prompt

H, W = 240, 320
YY, XX = np.mgrid[:H, :W]


def textured_scene(seed=0):
    """A striped, noisy orange disc on a blotchy blue-grey background, with its mask."""
    rng = np.random.default_rng(seed)
    background = np.stack([90 + 30 * np.sin(XX / 23.0), 110 + 25 * np.cos(YY / 17.0), 140 + 0 * XX], -1)
    image = background + rng.normal(0, 10, (H, W, 3))
    disc = (XX - 150) ** 2 + (YY - 120) ** 2 < 60**2
    stripes = 25 * (np.sin(XX / 4.0) > 0)[..., None]
    orange = np.array([220, 120, 40]) + stripes * np.array([0.3, 1.0, 0.5])
    image[disc] = (orange + rng.normal(0, 12, (H, W, 3)))[disc]
    return np.clip(image, 0, 255).astype(np.uint8), disc


@pytest.fixture(scope="module")
def prepared():
    image, disc = textured_scene()
    segmenter = ClassicSegmenter()
    return segmenter, segmenter.prepare(image, 1.0), disc


def prompt(points=(), labels=(), box=None, mask_input=None):
    return Prompt(np.array(points, np.float32).reshape(-1, 2), np.array(labels, np.int32), box, mask_input)


def test_one_click_segments_a_textured_object(prepared):
    segmenter, embedding, disc = prepared
    proposal = segmenter.predict(embedding, prompt([(150, 120)], [1]))
    mask = proposal.mask(0)
    assert mask.shape == (H, W) and mask.dtype == bool
    assert mask_iou(mask, disc) > 0.9
    assert 0.0 <= proposal.scores[0] <= 1.0


def test_box_alone_works_and_outside_the_box_is_background(prepared):
    segmenter, embedding, disc = prepared
    mask = segmenter.predict(embedding, prompt(box=np.array([80, 50, 220, 190]))).mask(0)
    assert mask_iou(mask, disc) > 0.85
    assert not mask[:, :80].any() and not mask[:, 221:].any()


def test_clicked_pixels_are_respected_and_exclude_clicks_remove(prepared):
    segmenter, embedding, disc = prepared
    loose = segmenter.predict(embedding, prompt(box=np.array([20, 20, 300, 220])))
    refined = segmenter.predict(embedding, prompt([(150, 120), (40, 40)], [1, 0], box=np.array([20, 20, 300, 220])))
    mask = refined.mask(0)
    assert mask[120, 150] and not mask[40, 40]
    assert mask_iou(mask, disc) >= mask_iou(loose.mask(0), disc) - 1e-6


def test_more_clicks_improve_the_mask(prepared):
    segmenter, embedding, disc = prepared
    from engine.evaluation.clicker import clicks_to_arrays, iou, next_click

    gt = disc.astype(np.uint8) * 255
    clicks, ious, mask = [], [], None
    for _ in range(5):
        click = next_click(gt, mask)
        if click is None:
            break
        clicks.append(click)
        points, labels = clicks_to_arrays(clicks)
        mask = segmenter.predict(embedding, prompt(points, labels)).mask(0)
        ious.append(iou(gt, mask))
    assert max(ious) > 0.92 and ious[-1] >= ious[0] - 0.02


def test_quality_lowers_the_working_resolution():
    assert working_size(1080, 1920, 1.0) == (810, 1440)
    assert working_size(1080, 1920, 0.2)[1] == 288
    assert working_size(480, 854, 1.0) == (480, 854)  # never upscaled
    segmenter = ClassicSegmenter()
    image, _ = textured_scene()
    low, high = segmenter.prepare(image, 0.2), segmenter.prepare(image, 1.0)
    assert low.meta["working_width"] < high.meta["working_width"] == W
    assert segmenter.predict(low, prompt([(150, 120)], [1])).mask(0).shape == (H, W)


def test_embedding_is_numpy_only_and_round_trips_through_npz(prepared):
    segmenter, embedding, _ = prepared
    buffer = io.BytesIO()
    np.savez(buffer, **embedding.arrays)
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    again = Embedding(embedding.backend, embedding.model, embedding.quality, embedding.frame_size, arrays, dict(embedding.meta))
    p = prompt([(150, 120), (30, 200)], [1, 0])
    assert np.array_equal(segmenter.predict(embedding, p).mask(0), segmenter.predict(again, p).mask(0))


def test_bad_inputs_raise_prompt_errors(prepared):
    segmenter, embedding, _ = prepared
    with pytest.raises(PromptError, match="outside"):
        segmenter.predict(embedding, prompt([(W + 10, 5)], [1]))
    with pytest.raises(PromptError):
        segmenter.prepare(np.zeros((H, W), np.uint8), 0.6)
    with pytest.raises(PromptError, match="quality"):
        segmenter.prepare(textured_scene()[0], 1.5)


SAMPLES = __import__("pathlib").Path(__file__).resolve().parents[2] / "sample_media"


@pytest.mark.parametrize("object_id", [1, 2, 3])
def test_simulated_clicks_on_a_real_still_converge_with_the_previous_mask(object_id):
    """The harness loop (each click sends the previous logits back as mask_input)."""
    import cv2

    from engine.evaluation.iseg import run_image

    frame = cv2.cvtColor(cv2.imread(str(SAMPLES / "still.jpg")), cv2.COLOR_BGR2RGB)
    gt = (cv2.imread(str(SAMPLES / "masks" / "still.png"), cv2.IMREAD_GRAYSCALE) == object_id).astype(np.uint8) * 255
    run = run_image(ClassicSegmenter(), frame, gt, max_clicks=8, stop_iou=0.97)
    assert max(run.ious) > 0.9
    assert run.ious[-1] >= run.ious[0] - 1e-6
    # Every click lands where the mask was wrong, and afterwards that pixel is right.
    assert all(click.positive == bool(gt[click.y, click.x]) for click in run.clicks)


def test_a_correction_changes_only_the_area_around_its_click():
    """Two look-alike discs: editing one with the previous mask leaves the other alone."""
    rng = np.random.default_rng(3)
    image = np.stack([90 + 30 * np.sin(XX / 23.0), 110 + 25 * np.cos(YY / 17.0), 140 + 0 * XX], -1)
    image = image + rng.normal(0, 10, (H, W, 3))
    left = (XX - 70) ** 2 + (YY - 120) ** 2 < 45**2
    right = (XX - 250) ** 2 + (YY - 120) ** 2 < 45**2
    orange = np.array([220, 120, 40]) + rng.normal(0, 10, (H, W, 3))
    image[left | right] = orange[left | right]
    image = np.clip(image, 0, 255).astype(np.uint8)
    segmenter = ClassicSegmenter()
    embedding = segmenter.prepare(image, 1.0)
    both = segmenter.predict(embedding, prompt([(70, 120), (250, 120)], [1, 1]))
    assert mask_iou(both.mask(0), left | right) > 0.85
    # A negative click on the right disc removes it; the left one, already right, stays.
    edited = segmenter.predict(
        embedding, prompt([(70, 120), (250, 120), (250, 120)], [1, 1, 0], mask_input=both.logits[0][None])
    )
    mask = edited.mask(0)
    assert not mask[120, 250]
    assert mask_iou(mask & (XX < 160), left) > 0.85
    assert np.count_nonzero(mask & right) < 0.2 * np.count_nonzero(right)


def test_the_seed_variant_shares_embeddings_and_holds_only_a_small_square(prepared):
    """Propagation's seed points go through `for_seeds`: same model and embeddings, but a
    point's whole superpixel is not held (a drifted seed must not eat into the object)."""
    segmenter, embedding, disc = prepared
    seeds = segmenter.for_seeds()
    assert (seeds.name, seeds.model) == (segmenter.name, segmenter.model)
    # The superpixel cut keeps the settings propagation was measured with (`SEED_CUT`).
    assert seeds.params == dataclasses.replace(segmenter.params, smoothness=3.0) != segmenter.params
    assert segmenter.refine.click_region and not seeds.refine.click_region
    assert seeds.refine.click_radius < segmenter.refine.click_radius
    mask = seeds.predict(embedding, prompt([(150, 120)], [1])).mask(0)
    assert mask_iou(mask, disc) > 0.9
