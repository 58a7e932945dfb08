"""`framewise annotate MEDIA --project DIR`: the label editor window.

The `framewise` console script starts here so that the UI can add its command while
`engine` never imports `ui`; every other command is `engine.cli.main`'s.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported at run time inside the functions: a headless command needs neither
    from engine.editing.editor import Editor
    from engine.project import Project


def register(sub) -> None:
    from engine.cli.main import add_backend_options

    parser = sub.add_parser(
        "annotate",
        help="label a video, image folder or image in the editor window (SAM mode, propagation)",
        description="Open the label editor on MEDIA with its labels kept in the project DIR "
        "(created on first use; every change is saved as it happens).",
    )
    parser.add_argument("media", help="video, image, image folder or glob")
    parser.add_argument("--project", required=True, metavar="DIR", help="project folder (created when missing)")
    parser.add_argument("--ontology", metavar="FILE", help="classes as JSON for a new project (default: object/box/keypoint)")
    add_backend_options(parser)
    parser.add_argument("--quality", type=float, default=0.6, help="start quality 0.2 … 1.0 (default 0.6)")
    parser.set_defaults(handler=annotate)


def open_editor(
    media: str | Path,
    project_dir: str | Path,
    *,
    ontology_file: str | None = None,
    backend: str | None = None,
    checkpoint: str | None = None,
    device: str | None = None,
    quality: float = 0.6,
) -> tuple[Editor, Project]:
    """The Editor the window drives: the media open, labels going into the project.

    Everything that can fail on bad input (media, project, checkpoint, ontology) fails here,
    before a window opens, with a `FramewiseError`.
    """
    from engine.editing.editor import Editor
    from engine.media.open import open_media
    from engine.ontology import Ontology
    from engine.project import Project
    from engine.segment import make_segmenter

    media_path = Path(media).expanduser()
    media_name = str(media_path.resolve()) if media_path.exists() else str(media)
    open_media(media_name).close()  # bad media fails here, before a project folder is made
    segmenter = make_segmenter(backend, checkpoint=checkpoint, device=device)
    folder = Path(project_dir)
    if (folder / "project.sqlite").exists():
        project = Project.open(folder)
    else:
        project = Project.create(folder, Ontology.load(ontology_file) if ontology_file else None)
    editor = Editor(segmenter, project.ontology, store=project, quality=quality)
    try:
        editor.open(media_name)
    except BaseException:
        editor.close()
        project.close()
        raise
    return editor, project


def annotate(args: argparse.Namespace) -> int:
    from engine.errors import FramewiseError

    try:
        editor, project = open_editor(
            args.media,
            args.project,
            ontology_file=args.ontology,
            backend=args.backend,
            checkpoint=args.checkpoint,
            device=args.device,
            quality=args.quality,
        )
    except FramewiseError as exc:
        # One line for the terminal, and the same reason in a dialog for the person at the screen.
        print(f"framewise: error: {exc}", file=sys.stderr)
        if os.environ.get("DISPLAY"):
            from ui.dialogs import show_startup_error

            show_startup_error(str(exc))
        return 2
    import tkinter as tk

    from ui.app import App

    try:
        root = tk.Tk()
    except tk.TclError as exc:
        editor.close()
        project.close()
        print(f"framewise: error: cannot open a window ({exc}); is DISPLAY set?", file=sys.stderr)
        return 2
    backend = str(getattr(editor.segmenter, "name", "classic"))  # classic, sam or sam2
    app = App(root, editor, backend=backend)
    root.protocol("WM_DELETE_WINDOW", root.destroy)
    try:
        root.mainloop()
    finally:
        app.close()
        project.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    from engine.cli.main import main as engine_main

    return engine_main(argv, extra_modules=("ui.cli",))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
