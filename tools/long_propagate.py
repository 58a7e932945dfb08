"""Long work, propagation phase of ``tools/long_run.py``: one object carried over thousands
of frames by permanent drawing, the way a person runs it.

An `engine.editing.editor.Editor` with the classic segmenter (the default; ``backend=None``: warp
only, dense flow and no segmenter) labels into a `engine.project.Project`; the synthetic
ellipse's frame-0 mask is stored as a confirmed label and ``Editor.propagate`` carries it
forwards in one run: the `Propagator` with its default parameters for the backend (the
segmenter is re-prompted on every frame), embeddings through the Editor's `FrameServer`
(frame and embedding LRUs with the given budgets), one transaction per frame and one undo
step for the whole run (`engine.propagation.permanent.run_propagation`).

Measured per frame (`Meter`, ticked from the Editor's progress callback): wall and CPU
time, RSS. Sampled on ``samples`` frames spread over the run: the stored label's IoU with
the true ellipse, its polygon's vertices and JSON bytes, RSS — what would show a mask
that swells (per-frame cost growing with it) or memory that keeps growing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from tools.long_measure import MIB, Meter, Phase, rss_mib

if TYPE_CHECKING:
    from tools.long_run import Scene

PROPAGATE_CLASS = "blob"


@dataclass(frozen=True)
class PropagateOptions:
    """How the propagation phase runs.

    backend: ``classic`` (the default propagation: segmenter re-prompted every frame) or
        None (warp only: the flow-warped mask, no segmenter).
    quality: the segmenter quality (`engine.types.QUALITY_DEFAULT` when None).
    frame_cache_mib / embed_cache_mib: the Editor's FrameServer LRU budgets.
    samples: frames (spread evenly, the last one included) on which IoU, polygon size and
        RSS are recorded.
    """

    backend: str | None = "classic"
    quality: float | None = None
    frame_cache_mib: int = 256
    embed_cache_mib: int = 512
    samples: int = 10


def propagate(path: Path, scene: Scene, frames: int, project_dir: Path, options: PropagateOptions = PropagateOptions(),
              *, on_frame: Callable[[int], None] | None = None) -> Phase:
    """Carry ``scene``'s ellipse from frame 0 over ``frames`` frames of the video at ``path``
    with ``Editor.propagate`` into a new project in ``project_dir``; a `Phase`.

    scene: the video's `tools.long_run.Scene` (``scene.mask(i)``: frame i's true H×W bool mask).
    on_frame: called with the number of frames done after each frame (e.g. to profile).
    """
    from engine.editing.editor import Editor
    from engine.geometry import mask_iou, mask_to_polygon, shape_to_mask
    from engine.media.open import open_media
    from engine.ontology import Ontology
    from engine.project import Project
    from engine.types import QUALITY_DEFAULT, Label, LabelClass, shape_to_json

    segmenter = None
    if options.backend is not None:
        from engine.segment import make_segmenter

        segmenter = make_segmenter(options.backend)
    quality = QUALITY_DEFAULT if options.quality is None else options.quality
    ontology = Ontology([LabelClass(PROPAGATE_CLASS, "polygon", "#ff7f0e", "1")])
    server = {"frame_cache_bytes": options.frame_cache_mib * MIB, "embed_cache_bytes": options.embed_cache_mib * MIB}
    with open_media(path) as source, Project.create(project_dir, ontology) as project:
        frames = min(frames, len(source) - 1)
        height, width = source.shape
        every = max(1, frames // max(1, options.samples))
        wanted = {f for f in range(every, frames + 1, every)} | {frames}
        samples: list[dict] = []
        editor = Editor(segmenter, project.ontology, store=project, quality=quality, frame_server_options=server)
        with editor:
            editor.open(source)
            media = editor.media_name
            project.put(Label(1, 0, PROPAGATE_CLASS, mask_to_polygon(scene.mask(0)), source="manual",
                              confirmed=True, media=media))
            meter = Meter("propagate")

            def progress(state) -> None:
                meter.tick()
                if state.frame_index in wanted:
                    samples.append(_sample(project.get(media, state.frame_index, 1), state.frame_index))
                if on_frame is not None:
                    on_frame(state.done)

            def _sample(label: Label | None, frame_index: int) -> dict:
                found = {"frame": frame_index, "rss_mib": round(rss_mib(), 1)}
                if label is None:
                    return found | {"iou": 0.0, "vertices": 0, "polygon_bytes": 0}
                mask = shape_to_mask(label.shape, height, width)
                return found | {
                    "iou": round(float(mask_iou(mask, scene.mask(frame_index))), 4),
                    "vertices": label.shape.num_vertices,
                    "polygon_bytes": len(json.dumps(shape_to_json(label.shape, decimals=None))),
                    "review": bool(label.review),
                }

            editor.on_progress = progress
            result = editor.propagate(1, until=frames)
            state = editor.server.cache_state()
        labels = project.labels(media)
        db_mib = sum(p.stat().st_size for p in project_dir.iterdir() if p.is_file()) / MIB
        last = samples[-1] if samples else {"iou": 0.0}
        return meter.done(
            backend=options.backend or "warp", quality=quality, size=f"{width}x{height}",
            written=result.written, stored=len(labels), flagged=sum(label.review for label in labels),
            last_frame=result.last, iou_last=last["iou"], iou_min=min((s["iou"] for s in samples), default=0.0),
            project_mib=round(db_mib, 1),
            frame_cache_mib=round(state.frame_bytes / MIB, 1), frame_budget_mib=options.frame_cache_mib,
            embed_cache_mib=round(state.embedding_bytes / MIB, 1), embed_budget_mib=options.embed_cache_mib,
            embeddings_cached=state.embeddings_cached, embeddings_computed=state.computed,
            samples=samples,
        )
