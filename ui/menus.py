"""The menu bar: File (open, export, quit), Edit (undo, redo), View, SAM, Help (shortcuts)."""

from __future__ import annotations

import tkinter as tk
from functools import partial
from pathlib import Path
from tkinter import filedialog, messagebox
from typing import TYPE_CHECKING

from engine.media.source import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS
from ui.dialogs import ask_folder
from ui.keys import shortcut_table
from ui.shortcut_sheet import ShortcutSheet, shortcut_rows

if TYPE_CHECKING:
    from ui.app import App

EXPORT_FORMATS = (
    ("COCO (JSON)", "coco"),
    ("YOLO (detection + segmentation)", "yolo"),
    ("CVAT for video 1.1 (XML)", "cvat-video"),
    ("CVAT for images 1.1 (XML)", "cvat-images"),
    ("MOTChallenge (gt.txt)", "mot"),
    ("DAVIS (indexed PNG masks)", "davis"),
    ("Label Studio (JSON tasks)", "label-studio"),
    ("LabelMe (JSON per frame)", "labelme"),
)

UNDO, REDO = 0, 1  # entry indices in the Edit menu


def patterns(extensions: frozenset[str]) -> str:
    """Tk file-dialog patterns for ``extensions`` in lower and upper case (X11 Tk matches
    case-sensitively): "*.mp4 *.MP4 …"."""
    return " ".join(f"*{ext} *{ext.upper()}" for ext in sorted(extensions))


# The Open dialog's filter menu (Tk adds the patterns to each name): what the editor opens, then all files.
MEDIA_FILETYPES = (
    ("Videos and images", f"{patterns(VIDEO_EXTENSIONS)} {patterns(IMAGE_EXTENSIONS)}"),
    ("Videos", patterns(VIDEO_EXTENSIONS)),
    ("Images", patterns(IMAGE_EXTENSIONS)),
    ("All files", "*"),
)


class Menus:
    """The menu bar, the entries whose state follows the Editor (Undo, Redo) and the
    shortcut sheet (Help)."""

    def __init__(self, app: App, bar: tk.Menu, edit: tk.Menu) -> None:
        self.app = app
        self.bar = bar
        self.edit = edit
        self.help_window: ShortcutSheet | None = None

    def show_help(self) -> None:
        """Open the shortcut sheet (or bring the open one to the front)."""
        if self.help_window is not None and self.help_window.winfo_exists():
            self.help_window.lift()
            self.help_window.focus_force()
            return
        self.help_window = ShortcutSheet(self.app.root, shortcut_rows(shortcut_table(self.app)))

    def set_history(self, can_undo: bool, can_redo: bool) -> None:
        """Enable Undo / Redo only when there is a change for them to act on."""
        self.edit.entryconfigure(UNDO, state="normal" if can_undo else "disabled")
        self.edit.entryconfigure(REDO, state="normal" if can_redo else "disabled")



def build_menus(app: App) -> Menus:
    root = app.root
    bar = tk.Menu(root)
    file_menu = tk.Menu(bar, tearoff=False)
    file_menu.add_command(label="Open media…", command=lambda: ask_open(app))
    export_menu = tk.Menu(file_menu, tearoff=False)
    for text, name in EXPORT_FORMATS:
        export_menu.add_command(label=text, command=partial(ask_export, app, name))
    file_menu.add_cascade(label="Export", menu=export_menu)
    file_menu.add_separator()
    file_menu.add_command(label="Quit", command=root.destroy)
    bar.add_cascade(label="File", menu=file_menu)
    edit = tk.Menu(bar, tearoff=False)
    edit.add_command(label="Undo", accelerator="Ctrl+Z", command=app.undo, state="disabled")
    edit.add_command(label="Redo", accelerator="Ctrl+Shift+Z", command=app.redo, state="disabled")
    bar.add_cascade(label="Edit", menu=edit)
    view = tk.Menu(bar, tearoff=False)
    view.add_command(label="Fit frame", accelerator="F", command=lambda: app.view.fit())
    view.add_command(label="Next flagged frame", accelerator="N", command=lambda: app.next_flagged(1))
    view.add_command(label="Previous flagged frame", accelerator="Shift+N", command=lambda: app.next_flagged(-1))
    bar.add_cascade(label="View", menu=view)
    sam = tk.Menu(bar, tearoff=False)
    sam.add_command(label="Toggle SAM mode", accelerator="Shift+A", command=app.toggle_sam)
    sam.add_command(label="Apply label", accelerator="Enter", command=app.apply)
    sam.add_command(label="Reset", accelerator="Esc", command=app.reset)
    bar.add_cascade(label="SAM", menu=sam)
    menus = Menus(app, bar, edit)
    help_menu = tk.Menu(bar, tearoff=False)
    help_menu.add_command(label="Keyboard shortcuts", accelerator="F1", command=menus.show_help)
    bar.add_cascade(label="Help", menu=help_menu)
    root.configure(menu=bar)
    return menus


def export_suggestion(app: App, fmt: str) -> str:
    """Where an export goes unless the person types another folder: beside the project
    folder, "<project>-<format>" (the working folder's "export-<format>" without a project)."""
    project = getattr(app.editor.store, "folder", None)
    if isinstance(project, Path):
        return str(project.absolute().parent / f"{project.name}-{fmt}")
    return str(Path.cwd() / f"export-{fmt}")


def ask_export(app: App, fmt: str) -> None:
    """Ask for a folder in one step (typed, made when missing, or browsed); one that holds
    files is replaced only when the person says so (an export never leaves stale files of an
    earlier one for a trainer to read)."""
    name = dict((code, text) for text, code in EXPORT_FORMATS).get(fmt, fmt)
    folder = ask_folder(app.root, f"Export {fmt}", f"Folder for the {name} export (made if it does not exist):",
                        export_suggestion(app, fmt), ok_text="Export")
    if not folder:
        return
    path = Path(folder)
    held = path.is_dir() and any(path.iterdir())
    if held and not messagebox.askyesno(
        parent=app.root, title=f"Export {fmt}",
        message=f"{folder} is not empty.\nReplace everything in it with the {fmt} export?",
    ):
        return
    app.export(fmt, folder, replace=held)


def ask_open(app: App) -> None:
    path = filedialog.askopenfilename(parent=app.root, title="Open a video or image", filetypes=MEDIA_FILETYPES)
    if path:
        app.open_media(path)
