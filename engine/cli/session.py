"""``framewise session export`` and ``framewise replay``: prompt sessions on the command line.

    framewise session export PROJECT --out S.json [--media NAME]
    framewise replay S.json MEDIA --project DIR [--map index|time] [--backend ...] [--ontology FILE] [--json]

``session export`` records the segmenter (backend, model, quality) that the media's first
``open`` event names; projects recorded before the Editor stored it fall back to classic
at the default quality, and the output says so. ``replay`` validates the session and opens
the media and the segmenter before it creates or writes anything, and writes the whole
replay as one transaction: a failure leaves no new project folder and an existing project
unchanged. Replaying on a media other than the session's (another fingerprint) is allowed
and noted in the summary.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from engine.errors import ProjectError, SessionFormatError

# Engine modules are imported inside the handlers, not here: every command module is
# imported to build the parser, and what the handlers use costs ~0.2 s to import (measured:
# 0.23 s against 0.05 s for the parser alone), which `framewise --help` would pay.

# Batch replay has no cursor to run ahead of: embed only the frames it visits.
_REPLAY_SERVER = {"window": (0, 0)}
MAP_MODES = ("index", "time")  # engine.sessions.replay.MAP_MODES, spelled out to keep --help light


def register(subparsers: argparse._SubParsersAction) -> None:
    session = subparsers.add_parser(
        "session",
        help="prompt sessions: export a project's event log as versioned JSON",
        description="Work with prompt sessions (format framewise-session, version 1).",
    )
    tasks = session.add_subparsers(dest="session_command", required=True, metavar="TASK")
    export = tasks.add_parser(
        "export",
        help="write one media's events of a project as a session JSON file",
        description="Write one media's events (prompts, applies, edits, undo/redo) of a project as a "
        "session file that `framewise replay` can replay on the same or another media.",
    )
    export.add_argument("project", help="project folder")
    export.add_argument("--out", required=True, metavar="S.json", help="session file to write")
    export.add_argument("--media", metavar="NAME", help="the media to export (needed when the project has several)")
    export.add_argument(
        "--backend",
        choices=("classic", "sam", "sam2"),
        default=None,
        help="segmenter to record (default: the one the project recorded; classic for older projects)",
    )
    export.add_argument("--model", help="model name to record (default: the recorded one, or the backend's default)")
    export.add_argument(
        "--quality", type=float, default=None, help="starting quality to record (default: the recorded one, or 0.6)"
    )
    export.add_argument("--json", action="store_true", help="print JSON")
    export.set_defaults(handler=export_command)

    replay = subparsers.add_parser(
        "replay",
        help="replay a session on a media into a project",
        description="Replay a session's events on MEDIA through the Editor, writing labels into a project "
        "(created when missing). Coordinates scale to the media's frame size; events that do not fit it "
        "are reported and skipped.",
    )
    replay.add_argument("session", help="session JSON file (framewise session export)")
    replay.add_argument("media", help="video, image, image folder or glob to replay on")
    replay.add_argument("--project", required=True, metavar="DIR", help="project folder (created when missing)")
    replay.add_argument(
        "--map",
        choices=MAP_MODES,
        default="index",
        help="match session frames to the media's by index (default) or by time",
    )
    replay.add_argument(
        "--backend", choices=("classic", "sam", "sam2"), default=None, help="segmenter (default: the session's)"
    )
    replay.add_argument(
        "--checkpoint", metavar="PATH",
        help="SAM or SAM 2 checkpoint; also $FRAMEWISE_SAM_CHECKPOINT / $FRAMEWISE_SAM2_CHECKPOINT",
    )
    replay.add_argument("--device", help="torch device for SAM (default: cuda when available)")
    replay.add_argument(
        "--ontology", metavar="FILE", help="classes as JSON for a new project (default: the session's classes)"
    )
    replay.add_argument("--json", action="store_true", help="print JSON")
    replay.set_defaults(handler=replay_command)


def _pick_media(project, wanted: str | None):
    media = project.media()
    names = [info.name for info in media]
    if not media:
        raise ProjectError(f"{project.folder}: the project has no media")
    if wanted is None:
        if len(media) > 1:
            raise ProjectError(
                f"{project.folder}: the project has {len(media)} media; choose one with --media: {', '.join(names)}"
            )
        return media[0]
    matches = [info for info in media if info.name == wanted] or [
        info for info in media if Path(info.name).name == wanted or Path(info.name) == Path(wanted)
    ]
    if len(matches) != 1:
        how = "no" if not matches else "more than one"
        raise ProjectError(f"{project.folder}: {how} media matches --media {wanted!r}; media: {', '.join(names)}")
    return matches[0]


def _segmenter_info(args: argparse.Namespace, events) -> tuple:
    """(SegmenterInfo to record, whether the project recorded one)."""
    from engine.sessions.record import SegmenterInfo, recorded_segmenter
    from engine.types import QUALITY_DEFAULT, check_quality

    recorded = recorded_segmenter(events)
    backend = args.backend or (recorded.backend if recorded else "classic")
    model = args.model
    if model is None and recorded is not None and recorded.backend == backend:
        model = recorded.model
    if model is None and backend == "classic":
        from engine.segment.classic.segmenter import ClassicSegmenter

        model = ClassicSegmenter.model
    quality = args.quality if args.quality is not None else (recorded.quality if recorded else QUALITY_DEFAULT)
    return SegmenterInfo(backend, model or "unknown", check_quality(quality)), recorded is not None


def export_command(args: argparse.Namespace) -> int:
    from engine.project import Project
    from engine.sessions.record import events_of_media, session_from_log, write_session

    with Project.open(args.project, read_only=True) as project:
        info = _pick_media(project, args.media)
        events = events_of_media(project.events(), project.events(info.name))
        if not events:
            raise ProjectError(f"{project.folder}: no events recorded for media {info.name!r}")
        segmenter, recorded = _segmenter_info(args, events)
        data = session_from_log(events, info, project.ontology, segmenter)
    path = write_session(args.out, data)
    result = {
        "session": str(path),
        "media": info.name,
        "events": len(data["events"]),
        "segmenter": data["segmenter"],
        "segmenter_recorded": recorded,
    }
    text = (
        f"wrote {path}: {len(data['events'])} events of {info.name} "
        f"({segmenter.backend}, quality {segmenter.quality:g})"
    )
    if not recorded and args.backend is None:
        text += "\n  note: the project does not record its segmenter (older framewise); assumed classic"
    print(json.dumps(result, indent=2) if args.json else text)
    return 0


def replay_command(args: argparse.Namespace) -> int:
    from engine.editing.editor import Editor
    from engine.media.open import open_media
    from engine.ontology import Ontology
    from engine.project import open_or_create
    from engine.segment import BACKENDS, make_segmenter
    from engine.sessions.record import load_session
    from engine.sessions.replay import replay_session

    # Everything that can fail on the inputs fails here, before a project folder exists.
    session = load_session(args.session)
    backend = args.backend or session.segmenter.backend
    if backend not in BACKENDS:
        raise SessionFormatError(
            f"{args.session}: segmenter.backend: {backend!r} is not a backend of this framewise "
            f"({', '.join(BACKENDS)}); choose one with --backend"
        )
    ontology = Ontology.load(args.ontology) if args.ontology else session.ontology
    source = open_media(args.media)
    try:
        segmenter = make_segmenter(backend, args.checkpoint, args.device)
        folder = Path(args.project)
        with open_or_create(folder, ontology) as (project, _):
            editor = Editor(
                segmenter,
                project.ontology,
                store=project,
                quality=session.segmenter.quality,
                frame_server_options=_REPLAY_SERVER,
            )
            with editor, project.transaction():  # all or nothing
                report = replay_session(session, source, editor, map=args.map)
                media_name = editor.media_name
            replayed = next((info for info in project.media() if info.name == media_name), None)
    finally:
        source.close()
    notes = []
    if replayed is not None and replayed.fingerprint != session.media.fingerprint:
        notes.append(
            f"{media_name} is not the media the session was recorded on ({session.media.name}, "
            f"{session.media.width}x{session.media.height}, {session.media.frames} frames; the fingerprints differ): "
            f"coordinates were scaled to {replayed.width}x{replayed.height} and frames matched by {args.map}"
        )
    result = {
        "session": str(args.session),
        "media": media_name,
        "project": str(folder),
        "map": args.map,
        "backend": segmenter.name,
        "same_media": not notes,
        "events": len(session.events),
        "applied": report.applied,
        "labels": [
            {"object_id": label.object_id, "frame": label.frame_index, "class": label.class_name}
            for label in report.labels
        ],
        "skipped": [{"index": s.index, "kind": s.kind, "reason": s.reason} for s in report.skipped],
        "notes": notes,
    }
    lines = [
        f"replayed {report.applied} of {len(session.events)} events on {media_name} into {folder}: "
        f"{len(report.labels)} labels written, {len(report.skipped)} events skipped"
    ]
    lines += [f"  note: {note}" for note in notes]
    lines += [f"  skipped event {s.index} ({s.kind}): {s.reason}" for s in report.skipped]
    print(json.dumps(result, indent=2) if args.json else "\n".join(lines))
    return 0
