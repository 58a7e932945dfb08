"""One object's memory for SAM 2's propagation, kept bounded on long videos.

SAM 2 (`SAM2Base._prepare_memory_conditioned_features`) reads, for the frame it tracks:
- the outputs of the object's *conditioning* frames (the frames a person gave: their
  spatial memories and object pointers), all of them unless ``max_cond_frames_in_attn``;
- the spatial memories (``maskmem_features``) of the last ``num_maskmem - 1`` frames
  before it in the direction of travel (every ``memory_temporal_stride_for_eval``-th
  frame beyond the previous one);
- the object pointers (``obj_ptr``) of up to ``max_obj_ptrs_in_encoder - 1`` frames before it.
It finds them by frame index in an ``output_dict`` of ``cond_frame_outputs`` and
``non_cond_frame_outputs``. `ObjectMemory` holds that dict for one object and, after each
frame, `ObjectMemory.forget` drops what SAM 2 can no longer read: the spatial memory of
frames past `MemoryReach.memory` and the whole output of frames past
`MemoryReach.pointers`. So a run holds at most (conditioning frames + pointer reach)
outputs per object, whatever the video's length.

An output (SAM 2's "compact" output) holds ``maskmem_features`` (1×64×h×w bfloat16, as
the video predictor stores them), ``maskmem_pos_enc`` (a list of 1×64×h×w float tensors,
the same for every frame), ``obj_ptr`` (1×C), ``object_score_logits`` (1×1) and, for
conditioning frames, ``pred_masks`` (1×1×S/4×S/4 low-resolution logits). Tensors are
torch's; this module needs no torch import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Output = dict[str, Any]
"""A SAM 2 frame output (see the module docstring)."""


@dataclass(frozen=True)
class MemoryReach:
    """How far back (in frames, in the direction of travel) SAM 2 reads: ``memory`` for
    spatial memories, ``pointers`` for object pointers."""

    memory: int
    pointers: int

    @classmethod
    def of(cls, net: Any) -> MemoryReach:
        """The reach of ``net`` (a `SAM2Base`) in evaluation."""
        num_maskmem = int(net.num_maskmem)
        stride = int(getattr(net, "memory_temporal_stride_for_eval", 1))
        # t_rel = 1 reads the previous frame; t_rel = 2 … num_maskmem - 1 read every
        # stride-th frame from (frame - 2) rounded down to the stride, one stride further each.
        memory = 1 + max(0, num_maskmem - 2) * stride if num_maskmem > 1 else 0
        pointers = max(0, int(net.max_obj_ptrs_in_encoder) - 1) if net.use_obj_ptrs_in_encoder else 0
        return cls(memory, pointers)


@dataclass
class ObjectMemory:
    """The memory of one object in one run.

    conditioning: frame index -> output of a frame the person gave (SAM 2's
        ``cond_frame_outputs``); recent: frame index -> output of a tracked frame
        (``non_cond_frame_outputs``), bounded by `forget`.
    ``output_dict`` is the dict `SAM2Base.track_step` reads (it shares both mappings).
    """

    object_id: int
    conditioning: dict[int, Output] = field(default_factory=dict)
    recent: dict[int, Output] = field(default_factory=dict)

    @property
    def output_dict(self) -> dict[str, dict[int, Output]]:
        return {"cond_frame_outputs": self.conditioning, "non_cond_frame_outputs": self.recent}

    def remember(self, frame_index: int, output: Output) -> None:
        """Keep a tracked frame's output (a conditioning frame keeps its own)."""
        if frame_index not in self.conditioning:
            self.recent[frame_index] = output

    def forget(self, next_frame: int, direction: int, reach: MemoryReach) -> None:
        """Drop what SAM 2 cannot read when it tracks ``next_frame`` or any frame after it
        in ``direction``: outputs further back than ``reach.pointers`` and spatial memories
        further back than ``reach.memory``."""
        for frame_index in list(self.recent):
            back = (next_frame - frame_index) * direction
            if back > reach.pointers:
                del self.recent[frame_index]
            elif back > reach.memory and "maskmem_features" in self.recent[frame_index]:
                self.recent[frame_index] = {"obj_ptr": self.recent[frame_index]["obj_ptr"]}

    @property
    def held(self) -> int:
        """How many frame outputs are held (conditioning + recent)."""
        return len(self.conditioning) + len(self.recent)
