"""SAM 2 / 2.1 checkpoints: the variant detected from the tensors, strict loading, and one
`CheckpointError` line naming the file for every way a file can be wrong."""

from __future__ import annotations

import pickle
import re

import numpy as np
import pytest
import torch

pytest.importorskip("sam2")

from engine.errors import CheckpointError  # noqa: E402
from engine.segment import make_segmenter  # noqa: E402
from engine.segment.sam.build import build_random_sam, save_checkpoint  # noqa: E402
from engine.segment.sam.segmenter import SamSegmenter  # noqa: E402
from engine.segment.sam2.build import (  # noqa: E402
    ALL_VARIANTS,
    Sam2Variant,
    build_random_sam2,
    save_sam2_checkpoint,
    state_dict_shapes,
)
from engine.segment.sam2.checkpoint import detect_variant  # noqa: E402
from engine.segment.sam2.segmenter import Sam2Segmenter  # noqa: E402


@pytest.fixture(scope="module")
def tiny_net():
    return build_random_sam2("tiny", version="2.1", image_size=256, seed=0)


@pytest.fixture(scope="module")
def checkpoint(tiny_net, tmp_path_factory):
    path = tmp_path_factory.mktemp("sam2") / "sam2.1_hiera_tiny.pt"
    save_sam2_checkpoint(tiny_net, path)
    return path


@pytest.mark.parametrize("variant", ALL_VARIANTS, ids=lambda v: v.name)
def test_detects_every_published_variant(variant):
    """From the shapes of the packaged config's model (meta tensors: no memory, no init)."""
    assert detect_variant(state_dict_shapes(variant)) == variant


def test_variant_names_are_the_official_file_stems():
    assert [v.name for v in ALL_VARIANTS] == [
        "sam2_hiera_tiny", "sam2_hiera_small", "sam2_hiera_base_plus", "sam2_hiera_large",
        "sam2.1_hiera_tiny", "sam2.1_hiera_small", "sam2.1_hiera_base_plus", "sam2.1_hiera_large",
    ]
    assert Sam2Variant("2.1", "base_plus").config_file == "configs/sam2.1/sam2.1_hiera_b+.yaml"
    with pytest.raises(ValueError, match="unknown SAM 2 size"):
        Sam2Variant("2.1", "huge")


def test_from_checkpoint_loads_the_saved_weights(checkpoint, tiny_net):
    segmenter = Sam2Segmenter.from_checkpoint(checkpoint, device="cpu")
    assert segmenter.name == "sam2"
    assert re.fullmatch(r"sam2\.1_hiera_tiny-[0-9a-f]{8}", segmenter.model)
    loaded = segmenter.net.state_dict()
    for name, tensor in tiny_net.state_dict().items():
        assert torch.equal(loaded[name], tensor), name
    assert segmenter.net.image_size == 1024 and not segmenter.net.training  # the published square


def test_a_sam2_checkpoint_is_told_from_a_sam2_1_one(tmp_path):
    path = tmp_path / "sam2_hiera_tiny.pt"
    save_sam2_checkpoint(build_random_sam2("tiny", version="2", image_size=256), path)
    assert Sam2Segmenter.from_checkpoint(path, device="cpu").model.startswith("sam2_hiera_tiny-")


def test_make_segmenter_reads_the_sam2_environment_variable(checkpoint, monkeypatch):
    monkeypatch.delenv("FRAMEWISE_SAM_CHECKPOINT", raising=False)
    monkeypatch.setenv("FRAMEWISE_SAM2_CHECKPOINT", str(checkpoint))
    explicit = make_segmenter("sam2", device="cpu")
    implied = make_segmenter(device="cpu")  # no SAM checkpoint, a SAM 2 one: sam2
    assert isinstance(explicit, Sam2Segmenter) and isinstance(implied, Sam2Segmenter)
    assert implied.model == explicit.model
    monkeypatch.delenv("FRAMEWISE_SAM2_CHECKPOINT")
    with pytest.raises(CheckpointError, match=re.escape("pass --checkpoint PATH or set $FRAMEWISE_SAM2_CHECKPOINT")):
        make_segmenter("sam2", device="cpu")


class Sneaky:
    """Unpickling this would create a marker file: weights-only loading must refuse it."""

    marker = ""

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_broken_checkpoints_raise_one_line_naming_the_file(checkpoint, tiny_net, tmp_path):
    good = checkpoint.read_bytes()
    state = tiny_net.state_dict()
    paths: dict[str, str] = {}

    def write(name: str, data: bytes) -> None:
        paths[name] = str(tmp_path / f"{name}.pt")
        with open(paths[name], "wb") as stream:
            stream.write(data)

    def save(name: str, obj: object) -> None:
        paths[name] = str(tmp_path / f"{name}.pt")
        torch.save(obj, paths[name])

    write("truncated", good[: len(good) // 2])
    write("random_bytes", np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    write("plain_pickle", pickle.dumps({"model": 1}))
    save("no_model_key", {"weights": {"a": 1}, "epoch": 3})
    save("missing_tensor", {"model": {k: v for k, v in state.items() if k != "sam_mask_decoder.iou_token.weight"}})
    save("wrong_shape", {"model": {**state, "sam_mask_decoder.iou_token.weight": torch.zeros(1, 128)}})
    save("extra_tensor", {"model": {**state, "sam_mask_decoder.extra": torch.zeros(3)}})
    save("not_sam2", {"model": {"conv.weight": torch.zeros(3, 3)}})
    trunk = {k: v for k, v in state.items() if not k.startswith("image_encoder.trunk.blocks.11.")}
    save("unknown_size", {"model": trunk})
    sam1 = tmp_path / "sam1.pth"
    save_checkpoint(build_random_sam("tiny"), sam1)
    paths["sam1"] = str(sam1)
    paths["missing"] = str(tmp_path / "nowhere" / "sam2.pt")
    expected = {
        "truncated": "truncated or not a torch checkpoint",
        "random_bytes": "truncated or not a torch checkpoint",
        "plain_pickle": "truncated or not a torch checkpoint",
        "no_model_key": "is not a state dict (no tensors in it; it holds 'weights', 'epoch')",
        "missing_tensor": "does not fit the sam2.1_hiera_tiny architecture its shapes suggest: "
        "tensor 'sam_mask_decoder.iou_token.weight' is missing",
        "wrong_shape": "tensor 'sam_mask_decoder.iou_token.weight' is 1x128, the architecture needs 1x256",
        "extra_tensor": "unexpected tensor 'sam_mask_decoder.extra'",
        "not_sam2": "is not a SAM 2 state dict (no tensor 'image_encoder.trunk.patch_embed.proj.weight')",
        "unknown_size": "a Hiera trunk 96 wide and 11 blocks deep is none of the published sizes",
        "sam1": "this is a SAM (1) checkpoint, not a SAM 2 one: use --backend sam",
        "missing": "no such file",
    }
    assert set(expected) == set(paths)
    for kind, says in expected.items():
        with pytest.raises(CheckpointError) as caught:
            Sam2Segmenter.from_checkpoint(paths[kind], device="cpu")
        message = str(caught.value)
        assert message.startswith(f"SAM 2 checkpoint {paths[kind]}: "), (kind, message)
        assert says in message and "\n" not in message, (kind, message)


def test_a_sam2_checkpoint_given_to_the_sam_backend_says_use_sam2(checkpoint):
    with pytest.raises(CheckpointError) as caught:
        SamSegmenter.from_checkpoint(checkpoint, device="cpu")
    assert str(caught.value) == f"SAM checkpoint {checkpoint}: this is a SAM 2 checkpoint: use --backend sam2"


def test_pickled_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "code_ran"
    Sneaky.marker = str(marker)
    path = tmp_path / "sneaky.pt"
    torch.save({"model": Sneaky()}, path)
    with pytest.raises(CheckpointError, match="pickled Python object") as caught:
        Sam2Segmenter.from_checkpoint(path, device="cpu")
    assert str(caught.value).startswith(f"SAM 2 checkpoint {path}: refused")
    assert not marker.exists()


def test_the_sam2_backend_needs_no_segment_anything(checkpoint):
    """The sam2 extra alone: segment_anything made unimportable, a click still runs."""
    import subprocess
    import sys
    from pathlib import Path

    script = f"""
import sys

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "segment_anything":
            raise ModuleNotFoundError(name)

sys.meta_path.insert(0, Block())
import numpy as np
from engine.segment import make_segmenter
from engine.types import Prompt

segmenter = make_segmenter("sam2", {str(checkpoint)!r}, device="cpu")
embedding = segmenter.prepare(np.zeros((60, 80, 3), np.uint8), 0.2)
print(len(segmenter.predict(embedding, Prompt([[10, 10]], [1]))), "segment_anything" in sys.modules)
"""
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=root, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["3", "False"]
