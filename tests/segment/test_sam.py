"""The sam backend with a tiny randomly initialised SAM (no weights to download).

Random weights make meaningless masks, but every shape, code path and the agreement with
segment_anything's own SamPredictor are those of the real models.
"""

from __future__ import annotations

import pickle
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from segment_anything import SamPredictor
from segment_anything.modeling.image_encoder import get_rel_pos

from engine.errors import CheckpointError, PromptError
from engine.geometry import mask_iou
from engine.segment import make_segmenter
from engine.segment.sam.segmenter import SamSegmenter
from engine.segment.sam.build import KNOWN_CONFIGS, TINY_CONFIG, build_random_sam, build_sam_from_config, save_checkpoint
from engine.segment.sam.checkpoint import detect_config
from engine.segment.sam.decode import FastMaskDecoder
from engine.segment.sam.encode import encoder_grid
from engine.segment.sam.render import render_mask
from engine.types import Embedding, Prompt


def make_frame(height: int, width: int) -> np.ndarray:
    """A height×width×3 uint8 RGB frame: a gradient with a disc and a bar."""
    yy, xx = np.mgrid[0:height, 0:width]
    frame = np.stack([xx * 200 // width, yy * 200 // height, np.full_like(xx, 60)], -1)
    disc = (yy - height * 0.45) ** 2 + (xx - width * 0.4) ** 2 < (min(height, width) * 0.25) ** 2
    frame[disc] = (230, 40, 40)
    frame[int(height * 0.7) : int(height * 0.8), int(width * 0.1) : int(width * 0.9)] = (20, 20, 220)
    return frame.astype(np.uint8)


@pytest.fixture(scope="module")
def tiny_model():
    return build_random_sam("tiny", seed=0)


@pytest.fixture(scope="module")
def checkpoint(tiny_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "tiny_sam.pth"
    save_checkpoint(tiny_model, path)
    return path


@pytest.fixture(scope="module")
def segmenter(checkpoint):
    return SamSegmenter.from_checkpoint(checkpoint, device="cpu")


@pytest.fixture(scope="module")
def frame():
    return make_frame(240, 320)


@pytest.fixture(scope="module")
def embedding(segmenter, frame):
    return segmenter.prepare(frame, 1.0)


# -- loading ----------------------------------------------------------------------------


def test_from_checkpoint_loads_the_saved_weights(segmenter, tiny_model):
    assert segmenter.name == "sam"
    assert segmenter.model.startswith("vit_64x2-") and len(segmenter.model) == len("vit_64x2-") + 8
    loaded = segmenter.sam.state_dict()
    for name, tensor in tiny_model.state_dict().items():
        assert torch.equal(loaded[name], tensor), name
    assert torch.equal(segmenter.sam.pixel_std, tiny_model.pixel_std)
    assert not segmenter.sam.training


def test_make_segmenter_builds_sam_from_a_checkpoint(checkpoint, monkeypatch):
    explicit = make_segmenter("sam", str(checkpoint), device="cpu")
    assert isinstance(explicit, SamSegmenter) and explicit.device.type == "cpu"
    monkeypatch.setenv("FRAMEWISE_SAM_CHECKPOINT", str(checkpoint))
    implied = make_segmenter(device="cpu")
    assert isinstance(implied, SamSegmenter) and implied.model == explicit.model


def test_model_name_follows_the_weights(checkpoint, tmp_path):
    copy = tmp_path / "copy.pth"
    shutil.copy(checkpoint, copy)
    other = tmp_path / "other.pth"
    save_checkpoint(build_random_sam("tiny", seed=1), other)
    name = SamSegmenter.from_checkpoint(checkpoint, device="cpu").model
    assert SamSegmenter.from_checkpoint(copy, device="cpu").model == name
    assert SamSegmenter.from_checkpoint(other, device="cpu").model != name


@pytest.mark.parametrize("name", ["vit_b", "vit_l", "vit_h"])
def test_detects_the_published_architectures(name):
    with torch.device("meta"):  # shapes only: no memory, no initialisation
        state_dict = build_sam_from_config(KNOWN_CONFIGS[name]).state_dict()
    config = detect_config(state_dict)
    assert config == KNOWN_CONFIGS[name]
    assert config.name == name


def test_detects_a_custom_architecture(tiny_model):
    config = detect_config(tiny_model.state_dict())
    assert config == TINY_CONFIG
    assert config.encoder_global_attn_indexes == (1,) and config.encoder_num_heads == 2
    assert config.name == "vit_64x2"


class Sneaky:
    """Unpickling this would create a marker file: weights-only loading must refuse it."""

    marker = ""

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _bad_checkpoints(directory, good: bytes, tiny_model) -> dict[str, str]:
    """name -> path of one broken checkpoint of each kind."""
    paths = {}

    def write(name: str, data: bytes) -> None:
        paths[name] = str(directory / f"{name}.pth")
        with open(paths[name], "wb") as stream:
            stream.write(data)

    write("truncated", good[: len(good) // 2])
    write("empty", b"")
    write("random_bytes", np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    write("plain_pickle", pickle.dumps({"a": 1}))
    for name, obj in {
        "unrelated_tensors": {"conv.weight": torch.zeros(3, 3), "fc.bias": torch.ones(4)},
        "a_tensor": torch.zeros(4),
        "no_tensors": {"epoch": 3},
    }.items():
        paths[name] = str(directory / f"{name}.pth")
        torch.save(obj, paths[name])
    state = tiny_model.state_dict()
    missing = {k: v for k, v in state.items() if k != "mask_decoder.iou_token.weight"}
    paths["missing_key"] = str(directory / "missing_key.pth")
    torch.save(missing, paths["missing_key"])
    reshaped = dict(state)
    reshaped["mask_decoder.iou_token.weight"] = torch.zeros(1, 128)
    paths["wrong_shape"] = str(directory / "wrong_shape.pth")
    torch.save(reshaped, paths["wrong_shape"])
    return paths


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_broken_checkpoints_raise_checkpoint_error_naming_the_file(checkpoint, tiny_model, tmp_path):
    paths = _bad_checkpoints(tmp_path, checkpoint.read_bytes(), tiny_model)
    paths["missing"] = str(tmp_path / "nowhere" / "sam.pth")
    paths["directory"] = str(tmp_path)
    for kind, path in paths.items():
        with pytest.raises(CheckpointError) as caught:
            SamSegmenter.from_checkpoint(path, device="cpu")
        message = str(caught.value)
        assert path in message, kind
        assert "\n" not in message, kind
    for kind, says in {
        "truncated": "truncated or not a torch checkpoint",
        "random_bytes": "truncated or not a torch checkpoint",
        "plain_pickle": "truncated or not a torch checkpoint",
        "empty": "is empty",
        "unrelated_tensors": "not a SAM state dict",
        "a_tensor": "not a state dict",
        "missing_key": (
            "does not fit the vit_64x2 architecture its shapes suggest: tensor 'mask_decoder.iou_token.weight' is missing"
        ),
        "wrong_shape": "tensor 'mask_decoder.iou_token.weight' is 1x128, the architecture needs 1x256",
        "missing": "no such file",
    }.items():
        with pytest.raises(CheckpointError, match=re.escape(says)) as caught:
            SamSegmenter.from_checkpoint(paths[kind], device="cpu")
        if kind not in ("missing", "unrelated_tensors", "a_tensor", "missing_key", "wrong_shape"):
            assert caught.value.__cause__ is not None, kind  # the loader's own error, kept


def test_pickled_objects_are_refused_without_running_them(tmp_path):
    marker = tmp_path / "code_ran"
    Sneaky.marker = str(marker)
    path = tmp_path / "sneaky.pth"
    torch.save({"model": Sneaky()}, path)
    with pytest.raises(CheckpointError, match="pickled Python object") as caught:
        SamSegmenter.from_checkpoint(path, device="cpu")
    assert str(path) in str(caught.value)
    assert not marker.exists()


def test_wrapped_state_dict_is_accepted(tiny_model, tmp_path):
    path = tmp_path / "wrapped.pth"
    torch.save({"model": tiny_model.state_dict(), "epoch": 3}, path)
    assert SamSegmenter.from_checkpoint(path, device="cpu").model.startswith("vit_64x2-")


# -- crafted checkpoints (issue #17) ------------------------------------------------------------


class RunsAShell:
    """Unpickling this would run ``touch marker`` through os.system."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("form", ["torch zip", "plain pickle protocol 4"])
@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_checkpoint_calling_os_system_says_what_was_refused(tmp_path, form):
    """torch 2.14 words the refusal "unsupported GLOBAL posix.system whose module posix is
    blocked", which the old match missed ("truncated or not a torch checkpoint"); a
    protocol-4 pickle is refused at its first opcode, before torch names any global."""
    import os

    marker = tmp_path / "code_ran"
    path = tmp_path / "evil.pth"
    payload = {"image_encoder.pos_embed": torch.zeros(1, 2, 2, 4), "extra": RunsAShell(str(marker))}
    if form == "torch zip":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=4))
    with pytest.raises(CheckpointError) as caught:
        SamSegmenter.from_checkpoint(path, device="cpu")
    message = str(caught.value)
    assert message == (
        f"SAM checkpoint {path}: refused: it holds pickled Python objects (GLOBAL {os.system.__module__}.system) "
        "that a weights-only load does not run; framewise loads tensors only"
    )
    assert not marker.exists()


def _segment_with(capsys, checkpoint) -> tuple[int, str]:
    from engine.cli.main import main

    still = Path(__file__).resolve().parents[2] / "sample_media" / "still.jpg"
    code = main(["segment", str(still), "--backend", "sam", "--checkpoint", str(checkpoint), "--point", "100,100"])
    return code, capsys.readouterr().err


def test_a_stride_0_view_declaring_10_gb_is_refused_before_any_copy(tmp_path, capsys):
    """The shape of the 20 MB file that asked for a 10.7 GB allocation: a stride-0 fp16 view
    (here over 2 stored bytes) that ``.float()`` materialised. Refused through the CLI, in
    one line naming the tensor, without allocating it."""
    path = tmp_path / "stride0.pth"
    torch.save({"image_encoder.pos_embed": torch.zeros(1, dtype=torch.float16).expand(40960, 65536)}, path)
    assert path.stat().st_size < 2000
    code, err = _segment_with(capsys, path)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert (
        f"SAM checkpoint {path}: tensor 'image_encoder.pos_embed' has stride 0 in dimension 0 (shape (40960, 65536)): "
        "a view that repeats 2 bytes of stored data as 5.4 GB; refused before it is copied"
    ) in err


@pytest.mark.parametrize(
    "key, tensor, words",
    [
        ("image_encoder.pos_embed", lambda t: torch.zeros(1, dtype=t.dtype).expand(t.shape), "has stride 0 in dimension"),
        ("mask_decoder.iou_token.weight", lambda t: torch.zeros(t.shape, dtype=torch.int64),
         "tensor 'mask_decoder.iou_token.weight' holds int64, the architecture needs floating point"),
        ("mask_decoder.iou_token.weight", lambda t: torch.zeros(t.shape, dtype=torch.complex64), "has dtype complex64"),
        ("mask_decoder.extra", lambda t: torch.zeros(3), "unexpected tensor 'mask_decoder.extra'"),
    ],
    ids=["stride 0 in a SAM", "int64 weight", "complex weight", "extra tensor"],
)
def test_a_sam_checkpoint_with_one_crafted_tensor_is_refused_naming_it(tiny_model, tmp_path, key, tensor, words):
    state = dict(tiny_model.state_dict())
    state[key] = tensor(state.get(key, torch.zeros(1)))
    path = tmp_path / "crafted.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=re.escape(words)) as caught:
        SamSegmenter.from_checkpoint(path, device="cpu")
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


# -- prepare and the quality knob ----------------------------------------------------------


def test_prepare_gives_numpy_arrays_of_documented_shapes(embedding):
    arrays = embedding.arrays
    assert embedding.backend == "sam" and embedding.frame_size == (240, 320) and embedding.quality == 1.0
    assert all(isinstance(a, np.ndarray) for a in arrays.values())
    assert arrays["features"].shape == (1, 256, 64, 64) and arrays["features"].dtype == np.float16
    assert arrays["input_size"].tolist() == [768, 1024]  # long side 1024, as SamPredictor
    assert arrays["original_size"].tolist() == [240, 320]
    assert arrays["encoder_side"].tolist() == [1024]
    assert np.isfinite(arrays["features"]).all() and arrays["features"].astype(np.float32).std() > 0.1


def test_quality_maps_to_window_multiples_of_the_token_grid():
    assert [encoder_grid(q) for q in (0.2, 0.4, 0.6, 0.8, 1.0)] == [14, 28, 42, 56, 64]
    grids = [encoder_grid(q) for q in np.linspace(0.2, 1.0, 41)]
    assert grids == sorted(grids)


def test_lower_quality_encodes_a_smaller_input(segmenter, frame):
    low = segmenter.prepare(frame, 0.4)
    assert low.arrays["features"].shape == (1, 256, 28, 28)
    assert low.arrays["encoder_side"].tolist() == [448]
    assert low.arrays["input_size"].tolist() == [336, 448]
    assert low.quality == 0.4
    with pytest.raises(PromptError):
        segmenter.prepare(frame, 0.1)


def test_position_embeddings_follow_the_token_grid(segmenter):
    encoder = segmenter.encoder
    full = segmenter.sam.image_encoder.pos_embed
    assert encoder.pos_embed(64) is full
    resized = encoder.pos_embed(28)
    assert resized.shape == (1, 28, 28, 64)
    # A token keeps the position code of the same place in the square: with codes that are
    # the token centre's x and y, the 28-grid codes are the 28-grid centres.
    model = build_random_sam("tiny")
    centres = (torch.arange(64) + 0.5) / 64
    with torch.no_grad():
        model.image_encoder.pos_embed.zero_()
        model.image_encoder.pos_embed[0, :, :, 0] = centres[None, :]
        model.image_encoder.pos_embed[0, :, :, 1] = centres[:, None]
    codes = SamSegmenter(model, "ramp", device="cpu").encoder.pos_embed(28)[0]
    expected = (torch.arange(28) + 0.5) / 28
    inner = slice(2, -2)  # away from the edges, where resampling clamps
    torch.testing.assert_close(codes[5, inner, 0], expected[inner], atol=2e-3, rtol=0)
    torch.testing.assert_close(codes[inner, 5, 1], expected[inner], atol=2e-3, rtol=0)
    # Global blocks' relative tables (2·64−1 rows) are resampled to 2·28−1 by segment_anything.
    rel = segmenter.sam.image_encoder.blocks[1].attn.rel_pos_h
    assert rel.shape[0] == 127
    assert get_rel_pos(28, 28, rel.detach()).shape == (28, 28, rel.shape[1])


def test_the_resized_position_embedding_is_used(frame):
    model = build_random_sam("tiny", seed=0)
    a = SamSegmenter(model, "a", device="cpu").prepare(frame, 0.4).arrays["features"]
    with torch.no_grad():
        model.image_encoder.pos_embed.mul_(0.0)
    b = SamSegmenter(model, "b", device="cpu").prepare(frame, 0.4).arrays["features"]
    assert np.abs(a.astype(np.float32) - b.astype(np.float32)).mean() > 1e-3


# -- predict --------------------------------------------------------------------------------


def test_one_point_gives_three_candidates_best_first(segmenter, embedding):
    proposal = segmenter.predict(embedding, Prompt([[160, 100]], [1]))
    assert len(proposal) == 3
    assert proposal.scores.dtype == np.float32 and list(proposal.scores) == sorted(proposal.scores, reverse=True)
    assert proposal.logits.shape == (3, 256, 256) and proposal.logits.dtype == np.float32
    mask = proposal.mask(0)
    assert mask.shape == (240, 320) and mask.dtype == bool
    # Best first: scores are SamPredictor's predicted IoUs, sorted.
    _, scores, _ = segmenter.sam_predictor(embedding).predict(np.array([[160.0, 100.0]]), np.array([1]))
    np.testing.assert_allclose(proposal.scores, np.sort(scores)[::-1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "prompt",
    [
        Prompt([[160, 100], [40, 200]], [1, 0]),
        Prompt(box=[100, 50, 250, 180]),
        Prompt([[160, 100]], [1], box=[100, 50, 250, 180]),
    ],
)
def test_unambiguous_prompts_give_one_candidate(segmenter, embedding, prompt):
    proposal = segmenter.predict(embedding, prompt)
    assert len(proposal) == 1 and proposal.logits.shape == (1, 256, 256)
    assert proposal.mask(0).shape == (240, 320)


@pytest.mark.parametrize("quality", [1.0, 0.4])
def test_logits_feed_back_as_mask_input(segmenter, frame, embedding, quality):
    prepared = embedding if quality == 1.0 else segmenter.prepare(frame, quality)
    first = segmenter.predict(prepared, Prompt([[160, 100]], [1]))
    follow_up = Prompt([[160, 100], [40, 200]], [1, 0], mask_input=first.logits[0][None])
    with_mask = segmenter.predict(prepared, follow_up)
    without = segmenter.predict(prepared, Prompt([[160, 100], [40, 200]], [1, 0]))
    assert with_mask.logits.shape == (1, 256, 256)
    assert np.abs(with_mask.logits - without.logits).mean() > 1e-3  # the mask input is used
    if quality == 1.0:  # and used as SamPredictor uses it
        _, _, logits = segmenter.sam_predictor(prepared).predict(
            follow_up.points, follow_up.labels, mask_input=follow_up.mask_input, multimask_output=False
        )
        np.testing.assert_allclose(with_mask.logits, logits, atol=1e-3)


@pytest.mark.parametrize("size", [(240, 320), (301, 200)])
def test_fast_render_matches_sam_predictor(segmenter, tiny_model, size):
    frame = make_frame(*size)
    embedding = segmenter.prepare(frame, 1.0)
    predictor = SamPredictor(tiny_model)  # independent path: its own resize and encoder pass
    predictor.set_image(frame)
    height, width = size
    for prompt in (Prompt([[width * 0.4, height * 0.45]], [1]), Prompt(box=[width * 0.2, height * 0.2, width * 0.7, height * 0.9])):
        proposal = segmenter.predict(embedding, prompt)
        masks, scores, _ = predictor.predict(
            prompt.points if len(prompt.points) else None,
            prompt.labels if len(prompt.points) else None,
            box=prompt.box,
            multimask_output=len(proposal) > 1,
        )
        for k, index in enumerate(np.argsort(-scores)):
            assert mask_iou(proposal.mask(k), masks[index]) >= 0.99, (size, k)


@pytest.mark.parametrize("grid", [64, 28])
def test_fast_decoder_equals_the_stock_decoder(tiny_model, grid):
    fast = FastMaskDecoder(tiny_model)
    generator = torch.Generator().manual_seed(grid)
    features = torch.randn(1, 256, grid, grid, generator=generator)
    pe = tiny_model.prompt_encoder.pe_layer((grid, grid))[None]
    prompt_encoder = tiny_model.prompt_encoder
    no_mask = prompt_encoder.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(1, -1, grid, grid)
    # (points, with a mask input, multimask); later cases reuse the frame cache of the first.
    # Prompt tokens = 5 output tokens + points + 1 padding point: the cases take both the
    # token-side attention (fewer tokens than channels per head) and the image-side one.
    cases = [(1, False, True), (3, False, False), (3, True, False), (1, True, True), (12, True, False), (2, False, False)]
    token_counts = [5 + points + 1 for points, _, _ in cases]
    assert min(token_counts) < fast._head_channels <= max(token_counts)
    with torch.inference_mode():
        for points, masked, multimask in cases:
            coords = torch.rand(1, points, 2, generator=generator) * 1000
            labels = torch.randint(0, 2, (1, points), generator=generator)
            sparse, _ = prompt_encoder(points=(coords, labels), boxes=None, masks=None)
            mask_logits = torch.randn(1, 1, 4 * grid, 4 * grid, generator=generator)
            dense = prompt_encoder.mask_downscaling(mask_logits)
            want_masks, want_iou = tiny_model.mask_decoder(
                features, pe, sparse, dense if masked else no_mask, multimask
            )
            masks, iou = fast.decode(features, pe, sparse, mask_logits if masked else None, multimask)
            assert masks.shape == want_masks.shape == (1, 3 if multimask else 1, 4 * grid, 4 * grid)
            torch.testing.assert_close(masks, want_masks, atol=1e-5, rtol=1e-4)
            torch.testing.assert_close(iou, want_iou, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("frame_size", [(1080, 1920), (480, 854), (333, 250)])
@pytest.mark.parametrize("blob", [(30, 40, 5), (0, 0, 3), (140, 250, 8), (255, 255, 4)])
def test_render_mask_equals_two_full_resizes(frame_size, blob):
    """The cropped render gives SamPredictor's two full-frame bilinear resizes."""
    height, width = frame_size
    scale = 1024 / max(height, width)
    input_size = (int(height * scale + 0.5), int(width * scale + 0.5))
    yy, xx = np.mgrid[0:256, 0:256]
    cy, cx, radius = blob
    rng = np.random.default_rng(sum(blob))
    logits = (radius - np.hypot(yy - cy, xx - cx) + rng.normal(0, 0.8, (256, 256))).astype(np.float32)
    reference = F.interpolate(torch.from_numpy(logits)[None, None], (1024, 1024), mode="bilinear", align_corners=False)
    reference = reference[..., : input_size[0], : input_size[1]]
    reference = F.interpolate(reference, frame_size, mode="bilinear", align_corners=False)[0, 0].numpy() > 0
    fast = render_mask(logits, input_size, frame_size)
    assert fast.shape == frame_size and fast.dtype == bool
    assert np.logical_xor(fast, reference).sum() <= max(2, 0.002 * reference.sum())


def test_render_of_all_negative_logits_is_empty():
    mask = render_mask(np.full((256, 256), -3.0, np.float32), (576, 1024), (1080, 1920))
    assert mask.shape == (1080, 1920) and not mask.any()


def test_embedding_round_trips_through_npz(segmenter, embedding, tmp_path):
    path = tmp_path / "embedding.npz"
    np.savez(path, **embedding.arrays)
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    restored = Embedding("sam", embedding.model, embedding.quality, embedding.frame_size, arrays)
    prompt = Prompt([[160, 100]], [1])
    before = segmenter.predict(embedding, prompt)
    after = segmenter.predict(restored, prompt)
    np.testing.assert_array_equal(before.scores, after.scores)
    np.testing.assert_array_equal(before.logits, after.logits)
    np.testing.assert_array_equal(before.mask(0), after.mask(0))


def test_bad_prompts_raise_prompt_error(segmenter, embedding):
    with pytest.raises(PromptError, match="outside"):
        segmenter.predict(embedding, Prompt([[320.5, 10]], [1]))
    with pytest.raises(PromptError, match="outside"):
        segmenter.predict(embedding, Prompt([[10, -3]], [1]))
    with pytest.raises(PromptError, match="does not overlap"):
        segmenter.predict(embedding, Prompt(box=[400, 10, 500, 100]))
    with pytest.raises(PromptError, match="empty box"):
        Prompt(box=[50, 50, 50, 90])
    with pytest.raises(PromptError, match="mask_input"):
        segmenter.predict(embedding, Prompt([[10, 10]], [1], mask_input=np.zeros((2, 256, 256), np.float32)))
    foreign = Embedding("sam", "vit_b-other", 1.0, embedding.frame_size, embedding.arrays)
    with pytest.raises(PromptError, match="prepare the frame"):
        segmenter.predict(foreign, Prompt([[10, 10]], [1]))


def test_edge_points_are_inside(segmenter, embedding):
    proposal = segmenter.predict(embedding, Prompt([[0, 0], [319, 239]], [1, 1]))
    assert proposal.mask(0).shape == (240, 320)


# -- benchmarks (with the tiny model standing in for vit_b) ----------------------------------


def test_benchmarks_report_ratios(monkeypatch, tiny_model):
    from engine.evaluation import bench_click as click
    from engine.evaluation import bench_encode as encode

    def fake_backend(backend: str):
        if backend == "classic":
            raise ImportError("no classic here")
        return SamSegmenter(tiny_model, "tiny-random", device="cpu")

    monkeypatch.setattr(click, "make_bench_segmenter", fake_backend)
    monkeypatch.setattr(encode, "make_bench_segmenter", fake_backend)
    result = click.bench_click(sizes=((120, 160),), clicks=3, progress=False, sam_qualities=(1.0, 0.4))
    assert result["skipped"] == {"classic": "not available: no classic here"}
    full, low = result["runs"]
    assert full["quality"] == 1.0 and full["baseline"]["name"] == "SamPredictor.predict"
    assert full["speedup_p50"] > 0 and full["p95_ms"] >= full["p50_ms"] > 0
    assert "baseline" not in low
    text = click.format_click(result)
    assert "SamPredictor" in text and "skipped" in text
    encoded = encode.bench_encode(qualities=(0.2, 1.0), backends=("sam", "classic"), size=(120, 160), progress=False)
    levels = encoded["backends"]["sam"]["levels"]
    assert [lv["input_side"] for lv in levels] == [224, 1024]
    assert levels[1]["speedup_vs_1.0"] == 1.0
    assert encoded["backends"]["sam"]["baseline"]["seconds"] > 0
    assert "vs 1.0" in encode.format_encode(encoded)
    import json

    json.dumps(result), json.dumps(encoded)
