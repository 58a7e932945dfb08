"""The sam2 backend with a small randomly initialised SAM 2.1 (no weights to download).

Random weights make meaningless masks, but every shape, code path and the agreement with
sam2's own SAM2ImagePredictor are those of the real models. The model is hiera tiny at a
256 px encoder square (the weights do not depend on the square; the published models use
1024), so that a frame encodes in about half a second on 2 cores.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("sam2")
from sam2.sam2_image_predictor import SAM2ImagePredictor  # noqa: E402

from engine.errors import PromptError  # noqa: E402
from engine.geometry import mask_iou  # noqa: E402
from engine.segment.base import mask_logits  # noqa: E402
from engine.segment.sam.render import render_mask  # noqa: E402
from engine.segment.sam2.build import build_random_sam2  # noqa: E402
from engine.segment.sam2.encode import encoder_grid  # noqa: E402
from engine.segment.sam2.segmenter import Sam2Segmenter, from_shared_layout, to_shared_layout  # noqa: E402
from engine.types import Embedding, Prompt  # noqa: E402

# SAM2ImagePredictor scripts its transforms with TorchScript, which torch 2.14 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")

SIDE = 256


def make_frame(height: int, width: int) -> np.ndarray:
    """A height×width×3 uint8 RGB frame: a gradient with a disc and a bar."""
    yy, xx = np.mgrid[0:height, 0:width]
    frame = np.stack([xx * 200 // width, yy * 200 // height, np.full_like(xx, 60)], -1)
    disc = (yy - height * 0.45) ** 2 + (xx - width * 0.4) ** 2 < (min(height, width) * 0.25) ** 2
    frame[disc] = (230, 40, 40)
    frame[int(height * 0.7) : int(height * 0.8), int(width * 0.1) : int(width * 0.9)] = (20, 20, 220)
    return frame.astype(np.uint8)


@pytest.fixture(scope="module")
def net():
    return build_random_sam2("tiny", version="2.1", image_size=SIDE, seed=0)


@pytest.fixture(scope="module")
def segmenter(net):
    # float32 features: the parity below is then the predictor's, not float16's.
    return Sam2Segmenter(net, "sam2.1_hiera_tiny-random", device="cpu", feature_dtype="float32")


@pytest.fixture(scope="module")
def frame():
    return make_frame(240, 320)


@pytest.fixture(scope="module")
def embedding(segmenter, frame):
    return segmenter.prepare(frame, 1.0)


@pytest.fixture(scope="module")
def predictor(net, frame):
    predictor = SAM2ImagePredictor(net)
    # Hard-coded for a 1024 px square in sam2 1.1; these are the 256 px square's levels.
    predictor._bb_feat_sizes = [(SIDE // 4, SIDE // 4), (SIDE // 8, SIDE // 8), (SIDE // 16, SIDE // 16)]
    predictor.set_image(frame)
    return predictor


# -- the API the memory-based propagation uses -----------------------------------------------


def test_segmenter_exposes_net_device_and_autocast(segmenter, net):
    assert segmenter.name == "sam2" and segmenter.model == "sam2.1_hiera_tiny-random"
    assert segmenter.net is net and not net.training
    assert segmenter.device == torch.device("cpu")
    with segmenter.autocast():  # nothing on the CPU
        assert not torch.is_autocast_enabled()


# -- prepare ---------------------------------------------------------------------------------


def test_prepare_gives_the_predictors_features(embedding, predictor):
    arrays = embedding.arrays
    assert embedding.backend == "sam2" and embedding.frame_size == (240, 320) and embedding.quality == 1.0
    assert arrays["image_embed"].shape == (1, 256, 16, 16)
    assert arrays["high_res_0"].shape == (1, 32, 64, 64) and arrays["high_res_1"].shape == (1, 64, 32, 32)
    assert arrays["encoder_side"].tolist() == [SIDE] and arrays["original_size"].tolist() == [240, 320]
    # The same operations in the same order as set_image: equal.
    np.testing.assert_array_equal(arrays["image_embed"], predictor._features["image_embed"].numpy())
    for level in range(2):
        np.testing.assert_array_equal(arrays[f"high_res_{level}"], predictor._features["high_res_feats"][level].numpy())


def test_quality_maps_to_window_multiples_of_the_token_grid():
    assert [encoder_grid(q) for q in (0.2, 0.4, 0.6, 0.8, 1.0)] == [14, 28, 42, 56, 64]
    assert [encoder_grid(q, 64, 16) for q in (0.2, 0.4, 0.6, 0.8, 1.0)] == [16, 32, 32, 48, 64]  # hiera large
    grids = [encoder_grid(q) for q in np.linspace(0.2, 1.0, 41)]
    assert grids == sorted(grids)


def test_lower_quality_encodes_a_smaller_square(segmenter, frame):
    low = segmenter.prepare(frame, 0.2)  # the 256 px model's grid is 16: 0.2 gives 14 (224 px)
    assert low.arrays["encoder_side"].tolist() == [224]
    assert low.arrays["image_embed"].shape == (1, 256, 14, 14)
    assert low.arrays["high_res_0"].shape == (1, 32, 56, 56)
    proposal = segmenter.predict(low, Prompt([[130, 100]], [1]))
    assert len(proposal) == 3 and proposal.logits.shape == (3, 256, 256)
    assert proposal.mask(0).shape == (240, 320)
    follow_up = segmenter.predict(low, Prompt([[130, 100], [30, 200]], [1, 0], mask_input=proposal.logits[0][None]))
    assert follow_up.mask(0).shape == (240, 320)


# -- predict: parity with SAM2ImagePredictor -------------------------------------------------

PROMPTS = {
    "point": Prompt([[130, 100]], [1]),
    "points and a negative": Prompt([[130, 100], [300, 20]], [1, 0]),
    "box": Prompt(box=[70, 40, 200, 170]),
    "box and a point": Prompt([[130, 100]], [1], box=[70, 40, 200, 170]),
}


def _predictor_answer(predictor, prompt: Prompt, multimask: bool, mask_input=None):
    points = prompt.points if len(prompt.points) else None
    labels = prompt.labels if len(prompt.points) else None
    masks, scores, low_res = predictor.predict(points, labels, box=prompt.box, mask_input=mask_input, multimask_output=multimask)
    order = np.argsort(-scores, kind="stable")
    return masks[order], scores[order], low_res[order]


def _assert_same(segmenter, proposal, masks, scores, low_res):
    """Scores and SAM 2's own low-res logits equal; masks within cv2's sampling of the one
    bilinear upsampling: `render_mask` samples at 1/32 px fixed-point positions where
    torch's F.interpolate samples exactly, so a pixel whose interpolated logit is within
    that of the threshold may flip (none does here; the bound is the sam backend's)."""
    assert len(proposal) == len(scores)
    np.testing.assert_allclose(proposal.scores, scores, rtol=0, atol=1e-6)
    np.testing.assert_allclose(segmenter._returned[1], low_res, rtol=0, atol=1e-5)
    for k in range(len(proposal)):
        mask = proposal.mask(k)
        assert mask.shape == masks[k].shape and mask.dtype == bool
        assert np.logical_xor(mask, masks[k]).sum() <= max(2, 0.002 * masks[k].sum()), k


@pytest.mark.parametrize("name", list(PROMPTS))
def test_predict_equals_the_image_predictor(segmenter, embedding, predictor, name):
    prompt = PROMPTS[name]
    proposal = segmenter.predict(embedding, prompt)
    assert len(proposal) == (3 if name == "point" else 1)
    assert proposal.logits.shape == (len(proposal), 256, 256) and proposal.logits.dtype == np.float32
    assert list(proposal.scores) == sorted(proposal.scores, reverse=True)
    _assert_same(segmenter, proposal, *_predictor_answer(predictor, prompt, multimask=len(proposal) > 1))


def test_a_follow_up_click_feeds_back_the_chosen_logits(segmenter, embedding, predictor):
    first = segmenter.predict(embedding, PROMPTS["point"])
    _, _, low_res = _predictor_answer(predictor, PROMPTS["point"], multimask=True)
    for chosen in (0, 2):  # the best candidate, and one picked with Tab
        follow_up = Prompt([[130, 100], [200, 150]], [1, 1], mask_input=first.logits[chosen][None])
        proposal = segmenter.predict(embedding, follow_up)
        expected = _predictor_answer(predictor, follow_up, multimask=False, mask_input=low_res[chosen][None])
        _assert_same(segmenter, proposal, *expected)
        without = segmenter.predict(embedding, Prompt(follow_up.points, follow_up.labels))
        assert np.abs(without.logits - proposal.logits).mean() > 1e-3  # the mask input is used
        first = segmenter.predict(embedding, PROMPTS["point"])  # as the editor: the same first proposal


def test_float16_features_give_the_same_masks(net, frame, predictor):
    segmenter = Sam2Segmenter(net, "half", device="cpu")  # the default feature dtype
    embedding = segmenter.prepare(frame, 1.0)
    assert embedding.arrays["image_embed"].dtype == np.float16
    for prompt in PROMPTS.values():
        proposal = segmenter.predict(embedding, prompt)
        masks, scores, _ = _predictor_answer(predictor, prompt, multimask=len(proposal) > 1)
        np.testing.assert_allclose(proposal.scores, scores, atol=5e-3)
        for k in range(len(proposal)):
            assert mask_iou(proposal.mask(k), masks[k]) >= 0.99


# -- the shared logit layout -----------------------------------------------------------------


def test_logits_are_in_the_shared_layout(segmenter, embedding):
    proposal = segmenter.predict(embedding, PROMPTS["box"])
    native = segmenter._returned[1]  # 64×64 over the stretched 320×240 frame
    # long side 256, top-left: a 320×240 frame covers 256×192 of the square, the rest -32.
    assert (proposal.logits[0, 192:] == -32).all()
    np.testing.assert_allclose(proposal.logits[0, :192], to_shared_layout(native, (240, 320))[0, :192])
    back = from_shared_layout(proposal.logits[:1], (240, 320), 64)
    assert back.shape == (64, 64)
    assert np.corrcoef(back.ravel(), native[0].ravel())[0, 1] > 0.98  # a resampling, close


def test_a_mask_made_elsewhere_prompts_sam2(segmenter, embedding):
    """A propagated prior (`mask_logits`, the shared layout) converts to SAM 2's layout."""
    prior = np.zeros((240, 320), bool)
    prior[60:180, 80:220] = True
    mask_input = mask_logits(prior)
    native = segmenter._native_mask_input(mask_input, 64, (240, 320))
    expected = np.zeros((64, 64), bool)
    expected[16:48, 16:44] = True  # the prior stretched onto 64×64: rows 60…180 of 240, columns 80…220 of 320
    assert mask_iou(native > 0, expected) > 0.85
    proposal = segmenter.predict(embedding, Prompt([[130, 100]], [1], mask_input=mask_input))
    assert len(proposal) == 1 and proposal.mask(0).shape == (240, 320)


@pytest.mark.parametrize("frame_size", [(1080, 1920), (240, 320), (333, 250), (40, 50)])
@pytest.mark.parametrize("blob", [(30, 40, 5), (0, 0, 3), (50, 60, 8)])
def test_render_equals_one_full_bilinear_resize(frame_size, blob):
    """SAM 2 upsamples its logits straight to the frame (one F.interpolate); the cropped
    render does that on the object's box only."""
    yy, xx = np.mgrid[0:64, 0:64]
    cy, cx, radius = blob
    rng = np.random.default_rng(sum(blob))
    logits = (radius - np.hypot(yy - cy, xx - cx) + rng.normal(0, 0.8, (64, 64))).astype(np.float32)
    reference = F.interpolate(torch.from_numpy(logits)[None, None], frame_size, mode="bilinear", align_corners=False)
    reference = reference[0, 0].numpy() > 0
    fast = render_mask(logits, (64, 64), frame_size, input_per_logit=1.0)
    assert fast.shape == frame_size and fast.dtype == bool
    assert np.logical_xor(fast, reference).sum() <= max(2, 0.002 * reference.sum())


# -- embeddings and bad input ----------------------------------------------------------------


def test_embedding_round_trips_through_npz(segmenter, embedding, tmp_path):
    path = tmp_path / "embedding.npz"
    np.savez(path, **embedding.arrays)
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    restored = Embedding("sam2", embedding.model, embedding.quality, embedding.frame_size, arrays)
    before = segmenter.predict(embedding, PROMPTS["point"])
    after = segmenter.predict(restored, PROMPTS["point"])
    np.testing.assert_array_equal(before.scores, after.scores)
    np.testing.assert_array_equal(before.logits, after.logits)
    np.testing.assert_array_equal(before.mask(0), after.mask(0))


def test_bad_prompts_raise_prompt_error(segmenter, embedding):
    with pytest.raises(PromptError, match="outside"):
        segmenter.predict(embedding, Prompt([[320.5, 10]], [1]))
    with pytest.raises(PromptError, match="does not overlap"):
        segmenter.predict(embedding, Prompt(box=[400, 10, 500, 100]))
    with pytest.raises(PromptError, match="mask_input"):
        segmenter.predict(embedding, Prompt([[10, 10]], [1], mask_input=np.zeros((2, 256, 256), np.float32)))
    with pytest.raises(PromptError, match="non-finite"):
        segmenter.predict(embedding, Prompt([[10, 10]], [1], mask_input=np.full((1, 256, 256), np.nan, np.float32)))
    foreign = Embedding("sam", "vit_b-other", 1.0, embedding.frame_size, embedding.arrays)
    with pytest.raises(PromptError, match="prepare the frame"):
        segmenter.predict(foreign, Prompt([[10, 10]], [1]))
    with pytest.raises(PromptError, match="uint8"):
        segmenter.prepare(np.zeros((10, 10), np.uint8), 1.0)
