"""The menu bar: File (export, quit), Edit (undo, redo), View, SAM."""

from __future__ import annotations

import tkinter as tk
from functools import partial
from pathlib import Path
from tkinter import filedialog, messagebox
from typing import TYPE_CHECKING

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


class Menus:
    """The menu bar and the entries whose state follows the Editor (Undo, Redo)."""

    def __init__(self, bar: tk.Menu, edit: tk.Menu) -> None:
        self.bar = bar
        self.edit = edit

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
    root.configure(menu=bar)
    return Menus(bar, edit)


def ask_export(app: App, fmt: str) -> None:
    """Choose a folder; one that holds files is replaced only when the person says so
    (an export never leaves stale files of an earlier one for a trainer to read)."""
    folder = filedialog.askdirectory(parent=app.root, title=f"Export {fmt} to folder", mustexist=False)
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
    path = filedialog.askopenfilename(parent=app.root, title="Open a video or image")
    if path:
        app.open_media(path)
