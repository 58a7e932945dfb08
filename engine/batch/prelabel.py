"""Headless pre-labelling: many media, each into its own project, propagated to the end.

    run_prelabel(["a.mp4", "b.mp4"], PrelabelOptions(out_dir="out", init_masks="masks"))

For each media a project folder ``OUT/<name>/`` is written by `prelabel_one` (``<name>``:
the media's stem, see `engine.batch.outputs`; media sharing one get ``<name>-<hash>``):

- ``session``: the session is replayed through an `Editor` on the media (as
  `framewise replay` does). Its ``propagate`` events (recorded with permanent drawing on)
  are replayed and carry the objects as far as the recorded runs went. **A session
  without any propagate event** is taken as prompts only: after the replay, every frame
  holding confirmed labels is propagated forwards (earliest first) to the end of the
  media, each object stopping at its next confirmed frame.
- ``init_masks``: a DAVIS-style id mask of the first frame (``DIR/<name>/00000.png``, or
  ``DIR/00000.png`` when there is a single media; palette or grey PNG, value = object id)
  gives one confirmed ``manual`` label per object of the ontology's first polygon class;
  they are propagated to the end.

Safety (`engine.batch.outputs`): the run holds an exclusive lock on ``OUT`` (a second run
is refused at once); every path written or removed is checked to lie inside ``OUT`` with
no symbolic link on the way; prelabel only replaces a folder it marked as its own
(``OUT/<name>/prelabel.json``) and that the manifest lists for the same media.

Resuming (`engine.batch.manifest`): ``OUT/manifest.json`` (written atomically after each
media) records per media its status (running / done / failed), one-line error, frames,
labels, seconds and the *input key*: a hash of the media fingerprint, the session or mask
file and the options that change labels. A re-run skips a media that is done with the
same key while its project holds the recorded label count. A media whose run was killed
(still ``running``, same key, its first frame's labels or session replay committed) is
*resumed*: each object is carried on from the last frame that holds its committed label
(``resumed_from`` says the earliest). Any other media is redone from scratch: the files
prelabel writes in its folder are removed first.

`prelabel_one` is a plain top-level function of picklable arguments, so a scheduler (Ray,
multiprocessing) can run media in parallel; only the driver (`run_prelabel`,
`engine.batch.corpus`) touches the manifest and holds the lock.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from engine.batch.executors import worker_segmenter
from engine.batch.manifest import MANIFEST_FORMAT as MANIFEST_FORMAT
from engine.batch.manifest import MediaResult, Plan, PrelabelSummary, plan_run, read_manifest, result_entry, running_entry
from engine.batch.outputs import MANIFEST as MANIFEST
from engine.batch.outputs import MARKER, claim, folder_state, inside, out_lock, project_name, remove, write_marker
from engine.editing.editor import Editor
from engine.errors import FramewiseError, MediaError, ProjectError
from engine.geometry import mask_to_polygon
from engine.media.fingerprint import media_fingerprint, media_stem
from engine.media.images import read_id_mask
from engine.media.open import open_media
from engine.ontology import Ontology, default_ontology
from engine.preview.video import write_preview, write_preview_pngs
from engine.project import Project
from engine.sessions.record import load_session
from engine.sessions.replay import replay_session
from engine.types import QUALITY_DEFAULT, Label, LabelSource, ShapeType, check_quality

DONE_MARKER = MARKER  # OUT/<name>/prelabel.json: status running while it works, the MediaResult once done
PREVIEW = "preview.mp4"
# What prelabel writes into a media's folder besides its marker (removed before it is redone).
_PROJECT_FILES = ("project.sqlite", "project.sqlite-wal", "project.sqlite-shm", "project.sqlite-journal")
_PREVIEW_GLOBS = ("preview_*.png", f"{PREVIEW}.*.tmp")
# Batch work has no cursor to run ahead of: embed only the frames visited.
_SERVER = {"window": (0, 0)}


@dataclass(frozen=True)
class PrelabelOptions:
    """What to pre-label with (plain values only: picklable for a scheduler).

    out_dir: the folder holding one project per media and the manifest.
    session / init_masks: exactly one: a session JSON file, or a folder of first-frame masks.
    backend, checkpoint, device: the segmenter (`engine.segment.make_segmenter`); backend
        None = the session's, else classic (sam when a checkpoint is given).
    quality: segmenter quality; None = the session's, else 0.6.
    map: how session frames match the media's: ``index`` or ``time``.
    ontology: classes JSON file (init_masks only; default `default_ontology`).
    until: the last frame propagations started here may reach (None = the media's end).
    preview: write ``preview.mp4`` (overlays, H.264); preview_png: that many overlay PNGs.
    single: the run has one media (then ``init_masks/00000.png`` is accepted).
    progress: draw a tqdm bar per media on stderr.
    plans: the driver's `Plan` per media (its folder name, input key, resume or not);
        a media without one (`prelabel_one` called alone) gets `project_name` and a full run.
    """

    out_dir: str
    session: str | None = None
    init_masks: str | None = None
    backend: str | None = None
    checkpoint: str | None = None
    device: str | None = None
    quality: float | None = None
    map: str = "index"
    ontology: str | None = None
    until: int | None = None
    preview: bool = False
    preview_png: int = 0
    single: bool = False
    progress: bool = True
    plans: tuple[Plan, ...] = ()

    def plan(self, media: str) -> Plan | None:
        return next((plan for plan in self.plans if plan.media == media), None)

    def __post_init__(self) -> None:
        if (self.session is None) == (self.init_masks is None):
            raise ValueError("give exactly one of session and init_masks")


def _file_hash(path: str | Path) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError as exc:
        raise MediaError(f"{path}: cannot read: {exc}") from exc


def init_mask_path(media: str, options: PrelabelOptions, name: str | None = None) -> Path:
    """``DIR/<name>/00000.png`` (the project folder name, else the media's plain stem), or
    ``DIR/00000.png`` for a single media."""
    if options.init_masks is None:
        raise ValueError("init_mask_path needs options.init_masks")
    root = Path(options.init_masks)
    plan = options.plan(media)
    names = (name, plan.name if plan else None, project_name(media), media_stem(media))
    tried = [root / stem / "00000.png" for stem in dict.fromkeys(n for n in names if n)]
    if options.single:
        tried.append(root / "00000.png")
    for path in tried:
        if path.is_file():
            return path
    raise MediaError(f"{media}: no first-frame mask: tried {', '.join(str(p) for p in tried)}")


def input_key(media: str, options: PrelabelOptions, name: str | None = None) -> str:
    """A hash of everything that decides a media's labels and outputs (see module docstring)."""
    parts = {
        "media": media_fingerprint(media),
        "session": _file_hash(options.session) if options.session else None,
        "init_mask": _file_hash(init_mask_path(media, options, name)) if options.init_masks else None,
        "ontology": _file_hash(options.ontology) if options.ontology else None,
        **{k: getattr(options, k) for k in ("backend", "checkpoint", "quality", "map", "until", "preview", "preview_png")},
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def clear_outputs(out: Path, folder: Path, *, project: bool = True) -> None:
    """Remove what prelabel wrote in ``folder`` besides its marker (the project too unless
    ``project`` is False); each path checked by `engine.batch.outputs.inside`."""
    for name in _PROJECT_FILES if project else ():
        remove(out, folder / name)
    remove(out, folder / PREVIEW)
    for pattern in _PREVIEW_GLOBS:
        for path in sorted(folder.glob(pattern)):
            remove(out, path)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if isinstance(exc, FramewiseError) else f"{type(exc).__name__}: {text}"


class _Bar:
    """A tqdm bar of frames holding labels (monotonic), fed by the Editor's progress."""

    def __init__(self, total: int, desc: str, enabled: bool) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc=desc, unit="frame", file=sys.stderr, disable=not enabled, leave=True)
        self.seen: set[int] = set()

    def mark(self, frame_index: int) -> None:
        if int(frame_index) in self.seen:
            return
        self.seen.add(int(frame_index))
        self.bar.n = len(self.seen)
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


def prelabel_one(media: str, options: PrelabelOptions) -> MediaResult:
    """Pre-label one media into ``OUT/<name>/`` (see the module docstring); never raises
    for a bad media: the result says ``failed`` with a one-line error."""
    plan = options.plan(media)
    name = plan.name if plan is not None else project_name(media)
    folder = Path(options.out_dir) / name
    started = time.perf_counter()
    try:
        Path(options.out_dir).mkdir(parents=True, exist_ok=True)
        out = Path(options.out_dir).resolve()
        folder = inside(out, out / name)
        _, marker = folder_state(out, name)  # raises for a folder that is not prelabel's
        resume = (plan is not None and plan.resume and marker is not None and marker.get("status") == "running"
                  and marker.get("seeded") is True and marker.get("key") == plan.key)
        if resume and marker is not None:
            clear_outputs(out, folder, project=False)
        else:
            marker = {"status": "running", "media": str(media), "key": plan.key if plan else None, "seeded": False}
            claim(out, name, marker)
            clear_outputs(out, folder)
        for project_file in _PROJECT_FILES:
            inside(out, folder / project_file)
        result = _prelabel(media, options, out, folder, started, marker if resume else None)
        write_marker(out, folder, asdict(result))
    except Exception as exc:  # one media's failure must not stop the others
        return MediaResult(str(media), name, "failed", str(folder), error=_one_line(exc),
                           seconds=round(time.perf_counter() - started, 3))
    return result


def _prelabel(media: str, options: PrelabelOptions, out: Path, folder: Path, started: float,
              resume: dict[str, Any] | None) -> MediaResult:
    """A full run (``resume`` None) or the continuation of a killed one (``resume``: the
    folder's running marker, which holds the editor's quality after the seeding)."""
    # hook (engine/batch/executors.py): one segmenter per worker process, reused across its media
    session = None
    if options.session:
        session = load_session(options.session)
        ontology = session.ontology
    else:
        ontology = Ontology.load(options.ontology) if options.ontology else default_ontology()
        id_mask = read_id_mask(init_mask_path(media, options, folder.name))
    backend = options.backend or (session.segmenter.backend if session and not options.checkpoint else None)
    quality = options.quality if options.quality is not None else (session.segmenter.quality if session else QUALITY_DEFAULT)
    if resume is not None:
        quality = check_quality(resume.get("quality", quality))
    plan = options.plan(media)
    source = open_media(media)
    resumed_from = None
    try:
        segmenter = worker_segmenter(backend, options.checkpoint, options.device)
        bar = _Bar(len(source), folder.name, options.progress)
        last = len(source) - 1 if options.until is None else max(0, min(int(options.until), len(source) - 1))
        try:
            with Project.open(folder) if resume is not None else Project.create(folder, ontology) as project:
                editor = Editor(segmenter, project.ontology, store=project, quality=quality, frame_server_options=_SERVER)
                editor.on_progress = lambda progress: bar.mark(progress.frame_index)
                with editor:
                    if resume is not None:
                        editor.open(source)
                        resumed_from = _carry(editor, last, resume=True) if resume.get("carry") else last
                    else:
                        carry = _seed(editor, session, source, id_mask if session is None else None, media, options)
                        marker = {"status": "running", "media": str(media), "seeded": True, "carry": carry,
                                  "quality": editor.quality, "key": plan.key if plan else None}
                        write_marker(out, folder, marker)
                        if carry:
                            _carry(editor, last)
                    for label in editor.labels():
                        bar.mark(label.frame_index)
                    labels = editor.labels()
                    preview, pngs = _previews(out, folder, source, labels, project.ontology, options)
        finally:
            bar.close()
    finally:
        source.close()
    return MediaResult(
        str(media), folder.name, "done", str(folder),
        frames=len({label.frame_index for label in labels}),
        labels=len(labels),
        objects=len({label.object_id for label in labels}),
        flagged=sum(label.review for label in labels),
        seconds=round(time.perf_counter() - started, 3),
        preview=preview, pngs=pngs, resumed_from=resumed_from,
    )


def _seed(editor, session, source, id_mask: np.ndarray | None, media: str, options: PrelabelOptions) -> bool:
    """The labels propagation starts from: the session replayed, or the first-frame masks
    imported. True when prelabel then carries them on itself (`_carry`)."""
    if session is not None:
        replay_session(session, source, editor, map=options.map)
        # A session with propagate events carried its objects itself; one without is prompts only.
        return not any(event.kind == "propagate" for event in session.events)
    assert id_mask is not None
    _from_masks(editor, source, id_mask, media)
    return True


def _carry(editor, last: int, *, resume: bool = False) -> int | None:
    """Propagate forwards to ``last`` from every frame holding confirmed labels (earliest
    first), each object stopping at its next confirmed frame. An object that already has
    propagated labels after a confirmed frame (a killed run) goes on from the last of them,
    unless that one was flagged (the object stopped there) or is the end. Returns the
    earliest frame started from when ``resume`` (``last`` when nothing was left)."""
    by_object: dict[int, dict[int, Any]] = {}
    for label in editor.labels():
        by_object.setdefault(label.object_id, {})[label.frame_index] = label
    starts: dict[int, list[int]] = {}
    for object_id, frames in by_object.items():
        anchors = sorted(f for f, label in frames.items() if label.confirmed and not label.review)
        for i, anchor in enumerate(anchors):
            end = min(anchors[i + 1] - 1, last) if i + 1 < len(anchors) else last
            if anchor >= last or end <= anchor:
                continue
            reached = max(f for f in frames if anchor <= f <= end)
            if reached < end and (reached == anchor or not frames[reached].review):
                starts.setdefault(reached, []).append(object_id)
    for frame_index in sorted(starts):
        editor.goto(frame_index)
        editor.propagate(1, until=last, object_ids=sorted(starts[frame_index]))
    return (min(starts) if starts else last) if resume else None


def _from_masks(editor, source, id_mask: np.ndarray, media: str) -> None:
    width, height = source.size
    if id_mask.shape != (height, width):
        raise MediaError(f"{media}: the first-frame mask is {id_mask.shape[1]}x{id_mask.shape[0]}, the frames {width}x{height}")
    polygon_classes = [c.name for c in editor.ontology if c.shape == ShapeType.POLYGON]
    if not polygon_classes:
        raise MediaError(f"{media}: the ontology has no polygon class for the first-frame masks")
    editor.open(source)
    object_ids = [int(v) for v in np.unique(id_mask) if v != 0]
    if not object_ids:
        raise MediaError(f"{media}: the first-frame mask holds no object (all 0)")
    with editor.store.group("import"):
        for object_id in object_ids:
            polygon = mask_to_polygon(id_mask == object_id)
            if polygon.parts:
                editor.store.put(Label(object_id, 0, polygon_classes[0], polygon, source=LabelSource.MANUAL, score=1.0,
                                       confirmed=True, media=editor.media_name), kind="import")


def _previews(out: Path, folder: Path, source, labels, ontology, options: PrelabelOptions) -> tuple[str | None, list[str]]:
    preview = str(write_preview(inside(out, folder / PREVIEW), source, labels, ontology)) if options.preview else None
    pngs = [str(p) for p in write_preview_pngs(inside(out, folder), source, labels, ontology, options.preview_png)]
    return preview, pngs


# -- the driver: lock, manifest, plans, summary ------------------------------------------
def prepare_out(options: PrelabelOptions) -> Path:
    """The output folder, created, resolved (every write is checked against it)."""
    try:
        Path(options.out_dir).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ProjectError(f"{options.out_dir}: cannot create the output folder ({exc.strerror or exc})") from exc
    return Path(options.out_dir).resolve()


def plan_prelabel(media: list[str], options: PrelabelOptions, out: Path):
    """The manifest and a `Plan` per media (run under the lock)."""
    manifest = read_manifest(out)
    plans = plan_run(out, manifest, media, lambda item, name: input_key(item, options, name))
    return manifest, plans


def run_prelabel(media: list[str], options: PrelabelOptions, run_one=prelabel_one) -> PrelabelSummary:
    """Pre-label every media in turn under the lock on ``OUT``, skipping those done with
    the same inputs; the manifest is rewritten (atomically) before and after each media."""
    out = prepare_out(options)
    with out_lock(out):
        manifest, plans = plan_prelabel(media, options, out)
        options = replace(options, plans=tuple(plans))
        results: dict[str, MediaResult] = {}
        for plan in plans:
            if plan.result is not None:
                result = plan.result
            else:
                manifest.set(plan.name, running_entry(plan))
                manifest.write(out)
                result = run_one(plan.media, options)
            if plan.result is None or plan.record:
                manifest.set(plan.name, result_entry(result, plan.key))
                manifest.write(out)
            results[plan.media] = result
    return PrelabelSummary([results[item] for item in media])
