"""``framewise export`` and ``framewise import``: a project's labels to and from annotation formats.

    framewise export PROJECT --format coco|yolo|cvat-video|cvat-images|mot|davis|label-studio|labelme --out DIR [--media NAME]
        [--overwrite] [--with-frames] [--json]
    framewise import PROJECT --format coco|cvat-video|cvat-images|label-studio|labelme FILE [--ontology FILE] [--json]
    framewise import PROJECT --format yolo|mot|davis PATH [--media MEDIA] [--ontology FILE] [--json]

``import`` creates the project (with the file's classes, or ``--ontology``'s) when the
folder holds none, and otherwise merges into it as one undoable change
(`engine.formats.project_io`). Every input is read and checked before anything is written;
a failing command leaves no new project, folder or partial export behind.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

# Engine modules are imported inside the handlers, not here: every command module is
# imported to build the parser, and what the handlers use costs ~0.2 s to import (measured:
# 0.23 s against 0.05 s for the parser alone), which `framewise --help` would pay.

# Kept here (and tested equal to engine.formats's) so `framewise --help` imports nothing heavy.
FORMATS = ("coco", "yolo", "cvat-video", "cvat-images", "mot", "davis", "label-studio", "labelme")
IMPORT_FORMATS = ("coco", "cvat-video", "cvat-images", "label-studio", "labelme", "yolo", "mot", "davis")


def with_format_warnings(call: Callable[[], T]) -> T:
    """``call()``, printing each `engine.errors.FormatWarning` it issues (what a format could
    not carry, with a count) as ``framewise: warning: …`` on stderr."""
    from engine.errors import FormatWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FormatWarning)
        value = call()
    for warning in caught:
        if issubclass(warning.category, FormatWarning):
            print(f"framewise: warning: {warning.message}", file=sys.stderr)
        else:
            warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    export = subparsers.add_parser(
        "export",
        help="write a project's labels as COCO, YOLO, CVAT for video, MOTChallenge, DAVIS, Label Studio or LabelMe",
        description="Write a project's labels in an annotation format under --out: coco "
        "(annotations/instances_default.json), yolo (data.yaml, labels/), cvat-video and cvat-images (<media>.xml), mot "
        "(<media>/gt/gt.txt), davis (<media>/<frame>.png), label-studio (label-studio.json) or labelme "
        "(<media>/<frame>.json); per-frame files only for labelled frames. "
        "Frames themselves are written only with --with-frames. A non-empty --out is refused unless "
        "--overwrite. The project is only read, and nothing is written through a symbolic link below --out.",
    )
    export.add_argument("project", help="project folder")
    export.add_argument("--format", required=True, choices=FORMATS, dest="export_format")
    export.add_argument("--out", required=True, metavar="DIR", help="output folder (created when missing)")
    export.add_argument("--media", metavar="NAME", help="export one media only (its name or file stem)")
    export.add_argument(
        "--overwrite", action="store_true",
        help="replace everything --out holds (default: a non-empty --out is refused)",
    )
    export.add_argument(
        "--with-frames", action="store_true",
        help="also write the frames the labels are on, decoded from the project's media (coco: images/default/, "
        "yolo: images/train/, labelme: beside each .json, "
        "cvat-images: images/<media>/)",
    )
    export.add_argument("--json", action="store_true", help="print JSON")
    export.set_defaults(handler=export_command)

    imp = subparsers.add_parser(
        "import",
        help="read COCO or CVAT for video labels into a project",
        description="Read a COCO JSON or CVAT for video XML file into a project, creating the project "
        "with the file's classes when the folder holds none. Importing the same file again replaces "
        "the labels it brought.",
    )
    imp.add_argument("project", help="project folder")
    imp.add_argument("--format", required=True, choices=IMPORT_FORMATS, dest="import_format")
    imp.add_argument("file", help="the COCO .json, CVAT .xml or Label Studio .json file, or a folder of LabelMe .json files"
                     "; yolo: data.yaml; mot: a sequence folder (or a folder of them); davis: a folder of <frame>.png")
    imp.add_argument(
        "--media", metavar="MEDIA", help="yolo labels without their images: the video or image folder they label"
    )
    imp.add_argument(
        "--ontology", metavar="FILE", help="classes as JSON for a new project (default: the file's classes)"
    )
    imp.add_argument("--json", action="store_true", help="print JSON")
    imp.set_defaults(handler=import_command)


def export_command(args: argparse.Namespace) -> int:
    from engine.errors import ExportError
    from engine.formats import dataset_from_project, export_dataset
    from engine.formats.media_frames import MediaLocator
    from engine.formats.outdir import export_staged
    from engine.formats.writers import ExportOptions
    from engine.project import Project

    # Read-only: an export never changes the project file (an older schema is migrated in memory).
    with Project.open(args.project, read_only=True) as project:
        dataset = dataset_from_project(project)
        where = project.path
    if args.media:
        dataset = dataset.select(args.media)
    try:
        dataset.check()  # the limits too: a project may come from an older version or be crafted
    except ExportError as exc:
        raise ExportError(f"{where}: cannot export: {exc}") from exc
    out = Path(args.out)
    if args.overwrite:
        _check_overwrite(out, Path(args.project), dataset)
    options = ExportOptions(with_frames=args.with_frames, locate=MediaLocator(Path(args.project)))
    paths = export_staged(
        lambda folder: with_format_warnings(lambda: export_dataset(dataset, args.export_format, folder, options)),
        out,
        existing="overwrite" if args.overwrite else "refuse",
    )
    result = {
        "format": args.export_format,
        "out": str(out),
        "files": len(paths),
        "media": len(dataset.media),
        "labels": len(dataset.labels),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"wrote {len(paths)} files ({args.export_format}) for {len(dataset.labels)} labels to {out}")
    return 0


def _check_overwrite(out: Path, project: Path, dataset) -> None:
    """`ExportError` when ``--overwrite`` would delete the project, its media, the home
    folder or the file-system root (everything --out holds is replaced)."""
    from engine.errors import ExportError

    target = out.expanduser().resolve()
    guarded = [("the project", project.expanduser().resolve())]
    guarded += [(f"media {info.name!r}", Path(info.name).expanduser().resolve()) for info in dataset.media]
    for what, path in guarded:
        if path == target or target in path.parents:
            raise ExportError(f"{out}: --overwrite would delete {what} ({path}); choose another --out")
    if target == Path(target.anchor) or target == Path.home().resolve():
        raise ExportError(f"{out}: --overwrite will not empty the home folder or the file-system root")


def import_command(args: argparse.Namespace) -> int:
    from engine.formats import dataset_to_project, import_dataset
    from engine.ontology import Ontology
    from engine.project import open_or_create

    # Read and check every input first: a bad file never leaves a project folder behind.
    dataset = with_format_warnings(lambda: import_dataset(args.import_format, args.file, media=args.media))
    ontology = Ontology.load(args.ontology) if args.ontology else None
    folder = Path(args.project)
    with open_or_create(folder, ontology or dataset.ontology) as (project, created):
        summary = dataset_to_project(dataset, project)  # one transaction: all or nothing
    result = {
        "project": str(folder),
        "created": created,
        "media_added": summary.media_added,
        "labels": summary.labels,
        "objects": summary.objects,
        "remapped_objects": [
            {"media": media, "from": old, "to": new} for (media, old), new in sorted(summary.remapped_objects.items())
        ],
    }
    if args.json:
        print(json.dumps(result))
    else:
        what = "created" if created else "updated"
        print(
            f"{what} {folder}: {summary.labels} labels of {summary.objects} objects, "
            f"{summary.media_added} media added, {len(summary.remapped_objects)} objects given new ids"
        )
    return 0
