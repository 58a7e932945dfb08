"""SAM 2's per-frame model calls, made as its video predictor makes them.

`Sam2Tracker.condition` turns a mask prompt into a conditioning frame's output
(`SAM2VideoPredictor.add_new_mask` then its propagation preflight); `Sam2Tracker.track`
tracks one object on one frame against its memory (`propagate_in_video`'s
`_run_single_frame_inference`) and keeps the result in that memory. Both call sam2's own
methods (`track_step`, `_encode_new_memory`, `fill_holes_in_mask_scores`) on features from
`engine.propagation.sam2_frames`; only the bookkeeping is ours. Call them under
``torch.inference_mode()`` (and autocast on a GPU). torch is imported inside them.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

import numpy as np

from engine.propagation.sam2_bank import MemoryReach, ObjectMemory, Output
from engine.propagation.sam2_frames import FrameFeatures


def has_compiled_extension() -> bool:
    """sam2's CUDA extension (its hole filling needs it) is installed."""
    try:
        return importlib.util.find_spec("sam2._C") is not None
    except (ImportError, ValueError):
        return False


class Sam2Tracker:
    """The model calls of one run on ``net`` (a `SAM2Base` in eval mode).

    fill_hole_area: SAM 2's hole filling of low-resolution masks (skipped without sam2's
    compiled extension, as the video predictor then skips it too, with a warning).
    """

    def __init__(self, net: Any, fill_hole_area: int = 0) -> None:
        self.net = net
        self.reach = MemoryReach.of(net)
        self._fill_hole_area = fill_hole_area if fill_hole_area > 0 and has_compiled_extension() else 0
        self._position: list[Any] | None = None  # the memories' positional encoding, one copy

    def compact(self, out: Output) -> Output:
        """What SAM 2's video predictor keeps of a frame's output; the spatial memory in
        bfloat16 as it stores it (the memory attention reads it so)."""
        import torch

        pred_masks = out["pred_masks"]
        if self._fill_hole_area:
            misc = importlib.import_module("sam2.utils.misc")
            pred_masks = misc.fill_holes_in_mask_scores(pred_masks, self._fill_hole_area)
        compact = {"pred_masks": pred_masks, "obj_ptr": out["obj_ptr"],
                   "object_score_logits": out["object_score_logits"],
                   "maskmem_pos_enc": self._shared_position(out["maskmem_pos_enc"])}
        features = out["maskmem_features"]
        compact["maskmem_features"] = None if features is None else features.to(torch.bfloat16)
        return compact

    def _shared_position(self, position: list[Any] | None) -> list[Any] | None:
        """The memories' positional encoding is the same on every frame: one copy is kept
        (as the video predictor's ``constants``)."""
        if position is None:
            return None
        if self._position is None:
            self._position = [x[0:1].clone() for x in position]
        return self._position

    def condition(self, features: FrameFeatures, mask: np.ndarray, *, total: int) -> Output:
        """The conditioning output of a mask prompt (H×W bool), as `add_new_mask` and the
        propagation preflight of `SAM2VideoPredictor` make it: the mask resized to the
        model's square input, tracked as an initial conditioning frame, then its
        low-resolution mask encoded into memory as a prompt's (binarised when the model
        says so)."""
        import torch
        import torch.nn.functional as F

        size = int(self.net.image_size)
        prompt = torch.from_numpy(np.ascontiguousarray(mask)).to(self.net.device)[None, None].float()
        if prompt.shape[-2:] != (size, size):
            prompt = F.interpolate(prompt, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
            prompt = (prompt >= 0.5).float()
        out = self.net.track_step(
            frame_idx=features.frame_index, is_init_cond_frame=True, current_vision_feats=features.vision_feats,
            current_vision_pos_embeds=features.vision_pos_embeds, feat_sizes=features.feat_sizes, point_inputs=None,
            mask_inputs=prompt, output_dict={"cond_frame_outputs": {}, "non_cond_frame_outputs": {}},
            num_frames=total, track_in_reverse=False, run_mem_encoder=False)
        compact = self.compact(out)
        high_res = F.interpolate(compact["pred_masks"], size=(size, size), mode="bilinear", align_corners=False)
        if not getattr(self.net, "binarize_mask_from_pts_for_mem_enc", False):
            # The video predictor builds its model to binarise a prompt's mask for memory; a
            # model built for images does not, and gets logits whose sigmoid is exactly 1 or ~0
            # (the memory encoder's x·20 − 10 then gives exactly ±10, as binarised).
            high_res = torch.where(high_res > 0, 100.0, -100.0)
        memory, position = self.net._encode_new_memory(
            current_vision_feats=features.vision_feats, feat_sizes=features.feat_sizes, pred_masks_high_res=high_res,
            object_score_logits=compact["object_score_logits"], is_mask_from_pts=True)
        compact["maskmem_features"] = memory.to(torch.bfloat16)
        compact["maskmem_pos_enc"] = self._shared_position(position)
        return compact

    def track(self, features: FrameFeatures, memory: ObjectMemory, direction: int,
              total: int) -> tuple[np.ndarray, float]:
        """Track ``memory``'s object on ``features``' frame (``total``: the video's frame
        count, which SAM 2's pointer positions use); its output joins the memory, which then
        forgets what the next frame cannot read. Returns the H×W float32 mask logits at the
        frame's size (> 0: the mask) and the presence in [0, 1]."""
        import torch.nn.functional as F

        out = self.net.track_step(
            frame_idx=features.frame_index, is_init_cond_frame=False, current_vision_feats=features.vision_feats,
            current_vision_pos_embeds=features.vision_pos_embeds, feat_sizes=features.feat_sizes,
            point_inputs=None, mask_inputs=None, output_dict=memory.output_dict, num_frames=total,
            track_in_reverse=direction < 0, run_mem_encoder=True)
        compact = self.compact(out)
        low_res = compact.pop("pred_masks")  # not read as memory: not kept
        full = F.interpolate(low_res.float(), size=(features.height, features.width), mode="bilinear",
                             align_corners=False)
        logits = full[0, 0].cpu().numpy().astype(np.float32, copy=False)
        presence = float(compact["object_score_logits"].float().sigmoid().item())
        memory.remember(features.frame_index, compact)
        memory.forget(features.frame_index + direction, direction, self.reach)
        return logits, presence
