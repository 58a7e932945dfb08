"""Headless pre-labelling: many media, each into its own project, propagated to the end.

    run_prelabel(["a.mp4", "b.mp4"], PrelabelOptions(out_dir="out", init_masks="masks"))

For each media a project folder ``OUT/<media stem>/`` is written by `prelabel_one`:

- ``session``: the session is replayed through an `Editor` on the media (as
  `framewise replay` does). Its ``propagate`` events (recorded with permanent drawing on)
  are replayed and carry the objects as far as the recorded runs went. **A session
  without any propagate event** is taken as prompts only: after the replay, every frame
  holding confirmed labels is propagated forwards (earliest first) to the end of the
  media, each object stopping at its next confirmed frame.
- ``init_masks``: a DAVIS-style id mask of the first frame (``DIR/<stem>/00000.png``, or
  ``DIR/00000.png`` when there is a single media; palette or grey PNG, value = object id)
  gives one confirmed ``manual`` label per object of the ontology's first polygon class;
  they are propagated to the end.

Resuming: ``OUT/manifest.json`` (written atomically after each media) records per media
its status (running / done / failed), one-line error, frames, labels, seconds and the
*input key*: a hash of the media fingerprint, the session or mask file and the options
that change labels. A re-run skips a media that is done with the same key and whose
project still holds its done marker (``OUT/<stem>/prelabel.json``); any other is redone
from scratch: the files prelabel writes in its folder are removed first.

`prelabel_one` is a plain top-level function of picklable arguments, so a scheduler (Ray,
multiprocessing) can run media in parallel; only `run_prelabel` touches the manifest.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from engine.batch.executors import worker_segmenter
from engine.editing.editor import Editor
from engine.errors import FramewiseError, MediaError, ProjectError
from engine.fileio import atomic_write_json
from engine.geometry import mask_to_polygon
from engine.media.fingerprint import media_fingerprint, media_stem
from engine.media.images import read_id_mask
from engine.media.open import open_media
from engine.ontology import Ontology, default_ontology
from engine.preview.video import write_preview, write_preview_pngs
from engine.project import Project
from engine.sessions.record import load_session
from engine.sessions.replay import replay_session
from engine.types import QUALITY_DEFAULT, Label, LabelSource, ShapeType

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "framewise-prelabel"
DONE_MARKER = "prelabel.json"
PREVIEW = "preview.mp4"
# What prelabel writes into a media's folder (removed before it is redone).
_OWN_FILES = ("project.sqlite", "project.sqlite-wal", "project.sqlite-shm", "project.sqlite-journal", PREVIEW, DONE_MARKER)
_OWN_GLOBS = ("preview_*.png", f"{PREVIEW}.*.tmp")
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

    def __post_init__(self) -> None:
        if (self.session is None) == (self.init_masks is None):
            raise ValueError("give exactly one of session and init_masks")


@dataclass(frozen=True)
class MediaResult:
    """How one media went. status: ``done``, ``failed`` or ``skipped`` (done before)."""

    media: str
    stem: str
    status: str
    project: str
    error: str | None = None
    frames: int = 0
    labels: int = 0
    objects: int = 0
    flagged: int = 0
    seconds: float = 0.0
    preview: str | None = None
    pngs: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PrelabelSummary:
    results: list[MediaResult]

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def failed(self) -> bool:
        return self.count("failed") > 0


def _file_hash(path: str | Path) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError as exc:
        raise MediaError(f"{path}: cannot read: {exc}") from exc


def init_mask_path(media: str, options: PrelabelOptions) -> Path:
    """``DIR/<stem>/00000.png``, or ``DIR/00000.png`` for a single media."""
    if options.init_masks is None:
        raise ValueError("init_mask_path needs options.init_masks")
    root = Path(options.init_masks)
    tried = [root / media_stem(media) / "00000.png"]
    if options.single:
        tried.append(root / "00000.png")
    for path in tried:
        if path.is_file():
            return path
    raise MediaError(f"{media}: no first-frame mask: tried {', '.join(str(p) for p in tried)}")


def input_key(media: str, options: PrelabelOptions) -> str:
    """A hash of everything that decides a media's labels and outputs (see module docstring)."""
    parts = {
        "media": media_fingerprint(media),
        "session": _file_hash(options.session) if options.session else None,
        "init_mask": _file_hash(init_mask_path(media, options)) if options.init_masks else None,
        "ontology": _file_hash(options.ontology) if options.ontology else None,
        **{k: getattr(options, k) for k in ("backend", "checkpoint", "quality", "map", "until", "preview", "preview_png")},
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def clear_outputs(folder: Path) -> None:
    """Remove what prelabel wrote in ``folder`` (nothing else)."""
    for name in _OWN_FILES:
        (folder / name).unlink(missing_ok=True)
    for pattern in _OWN_GLOBS:
        for path in folder.glob(pattern):
            path.unlink(missing_ok=True)


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
    """Pre-label one media into ``OUT/<stem>/`` (see the module docstring); never raises
    for a bad media: the result says ``failed`` with a one-line error."""
    stem = media_stem(media)
    folder = Path(options.out_dir) / stem
    started = time.perf_counter()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        clear_outputs(folder)
        result = _prelabel(media, options, stem, folder, started)
    except Exception as exc:  # one media's failure must not stop the others
        return MediaResult(str(media), stem, "failed", str(folder), error=_one_line(exc),
                           seconds=round(time.perf_counter() - started, 3))
    atomic_write_json(folder / DONE_MARKER, asdict(result))
    return result


def _prelabel(media: str, options: PrelabelOptions, stem: str, folder: Path, started: float) -> MediaResult:
    # hook (engine/batch/executors.py): one segmenter per worker process, reused across its media
    session = None
    if options.session:
        session = load_session(options.session)
        ontology = session.ontology
    else:
        ontology = Ontology.load(options.ontology) if options.ontology else default_ontology()
        id_mask = read_id_mask(init_mask_path(media, options))
    backend = options.backend or (session.segmenter.backend if session and not options.checkpoint else None)
    quality = options.quality if options.quality is not None else (session.segmenter.quality if session else QUALITY_DEFAULT)
    source = open_media(media)
    try:
        segmenter = worker_segmenter(backend, options.checkpoint, options.device)
        bar = _Bar(len(source), stem, options.progress)
        try:
            with Project.create(folder, ontology) as project:
                editor = Editor(segmenter, project.ontology, store=project, quality=quality, frame_server_options=_SERVER)
                editor.on_progress = lambda progress: bar.mark(progress.frame_index)
                with editor:
                    if session is not None:
                        _from_session(editor, session, source, options.map, options.until)
                    else:
                        _from_masks(editor, source, id_mask, media, options.until)
                    for label in editor.labels():
                        bar.mark(label.frame_index)
                    labels = editor.labels()
                    preview, pngs = _previews(folder, source, labels, project.ontology, options)
        finally:
            bar.close()
    finally:
        source.close()
    return MediaResult(
        str(media), stem, "done", str(folder),
        frames=len({label.frame_index for label in labels}),
        labels=len(labels),
        objects=len({label.object_id for label in labels}),
        flagged=sum(label.review for label in labels),
        seconds=round(time.perf_counter() - started, 3),
        preview=preview, pngs=pngs,
    )


def _from_session(editor, session, source, map_mode: str, until: int | None) -> None:
    replay_session(session, source, editor, map=map_mode)
    if any(event.kind == "propagate" for event in session.events):
        return
    # Prompts only: carry every confirmed frame's objects forwards, earliest frame first.
    anchors: dict[int, list[int]] = {}
    for label in editor.labels():
        if label.confirmed and not label.review:
            anchors.setdefault(label.frame_index, []).append(label.object_id)
    last = len(source) - 1 if until is None else min(int(until), len(source) - 1)
    for frame_index in sorted(anchors):
        if frame_index < last:
            editor.goto(frame_index)
            editor.propagate(1, until=last, object_ids=sorted(anchors[frame_index]))


def _from_masks(editor, source, id_mask: np.ndarray, media: str, until: int | None) -> None:
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
    editor.propagate(1, until=until)


def _previews(folder: Path, source, labels, ontology, options: PrelabelOptions) -> tuple[str | None, list[str]]:
    preview = str(write_preview(folder / PREVIEW, source, labels, ontology)) if options.preview else None
    pngs = [str(p) for p in write_preview_pngs(folder, source, labels, ontology, options.preview_png)]
    return preview, pngs


# -- the driver: manifest, skipping, summary --------------------------------------------
def read_manifest(out_dir: Path) -> dict:
    path = out_dir / MANIFEST
    if not path.exists():
        return {"format": MANIFEST_FORMAT, "version": 1, "media": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ProjectError(f"{path}: unreadable prelabel manifest: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT or not isinstance(data.get("media"), dict):
        raise ProjectError(f"{path}: not a {MANIFEST_FORMAT} manifest")
    return data


def prepare_out(media: list[str], options: PrelabelOptions) -> Path:
    """The output folder, created; refuses two media that would share a project folder."""
    out = Path(options.out_dir)
    stems: dict[str, str] = {}
    for item in media:
        stem = media_stem(item)
        if stem in stems:
            raise ProjectError(f"{item} and {stems[stem]} would share the project folder {out / stem}: rename one")
        stems[stem] = item
    out.mkdir(parents=True, exist_ok=True)
    return out


def run_prelabel(media: list[str], options: PrelabelOptions, run_one=prelabel_one) -> PrelabelSummary:
    """Pre-label every media in turn, skipping those done with the same inputs; the
    manifest is rewritten (atomically) before and after each media."""
    out = prepare_out(media, options)
    manifest = read_manifest(out)
    results = []
    for item, stem in ((m, media_stem(m)) for m in media):
        key: str | None
        error: str | None
        try:
            key = input_key(item, options)
        except (FramewiseError, OSError) as exc:
            key, error = None, _one_line(exc)
        else:
            error = None
        entry = manifest["media"].get(stem, {})
        if key and entry.get("status") == "done" and entry.get("key") == key and (out / stem / DONE_MARKER).is_file():
            results.append(MediaResult(item, stem, "skipped", str(out / stem), frames=entry.get("frames", 0),
                                       labels=entry.get("labels", 0), flagged=entry.get("flagged", 0)))
            continue
        if error is not None:
            result = MediaResult(item, stem, "failed", str(out / stem), error=error)
        else:
            manifest["media"][stem] = {"media": item, "status": "running", "key": key}
            atomic_write_json(out / MANIFEST, manifest)
            result = run_one(item, options)
        manifest["media"][stem] = {
            "media": item, "status": result.status, "key": key, "error": result.error, "frames": result.frames,
            "labels": result.labels, "flagged": result.flagged, "seconds": result.seconds,
        }
        atomic_write_json(out / MANIFEST, manifest)
        results.append(result)
    return PrelabelSummary(results)
