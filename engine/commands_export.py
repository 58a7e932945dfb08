"""``framewise export`` and ``framewise import``: a project's labels to and from annotation formats.

    framewise export PROJECT --format coco|yolo|cvat-video|mot|davis --out DIR [--media NAME] [--json]
    framewise import PROJECT --format coco|cvat-video FILE [--json]

``import`` creates the project (with the file's classes) when the folder holds none, and
otherwise merges into it as one undoable change (`engine.export.project_io`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

# Kept here (and tested equal to engine.export's) so `framewise --help` imports nothing heavy.
FORMATS = ("coco", "yolo", "cvat-video", "mot", "davis")
IMPORT_FORMATS = ("coco", "cvat-video")


def register(subparsers: argparse._SubParsersAction) -> None:
    export = subparsers.add_parser(
        "export",
        help="write a project's labels as COCO, YOLO, CVAT for video, MOTChallenge or DAVIS",
        description="Write a project's labels in an annotation format under --out: coco "
        "(annotations.json), yolo (data.yaml, labels/), cvat-video (<media>.xml), mot "
        "(<media>/gt/gt.txt) or davis (<media>/<frame>.png). Frames themselves are not written.",
    )
    export.add_argument("project", help="project folder")
    export.add_argument("--format", required=True, choices=FORMATS, dest="export_format")
    export.add_argument("--out", required=True, metavar="DIR", help="output folder (created when missing)")
    export.add_argument("--media", metavar="NAME", help="export one media only (its name or file stem)")
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
    imp.add_argument("file", help="the COCO .json or CVAT .xml file")
    imp.add_argument("--json", action="store_true", help="print JSON")
    imp.set_defaults(handler=import_command)


def export_command(args: argparse.Namespace) -> int:
    from engine.export import Dataset, export_dataset
    from engine.project import Project

    with Project.open(args.project) as project:
        dataset = Dataset.from_project(project)
    if args.media:
        dataset = dataset.select(args.media)
    out = Path(args.out)
    paths = export_dataset(dataset, args.export_format, out)
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


def import_command(args: argparse.Namespace) -> int:
    from engine.errors import ProjectError
    from engine.export import import_dataset
    from engine.project import PROJECT_FILE, Project

    dataset = import_dataset(args.import_format, args.file)
    folder = Path(args.project)
    created = not (folder / PROJECT_FILE).exists()
    if created and folder.exists() and not folder.is_dir():
        raise ProjectError(f"{folder}: not a folder")
    project = Project.create(folder, dataset.ontology) if created else Project.open(folder)
    with project:
        summary = dataset.to_project(project)
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
