"""Dialogs of the objects list: delete (this frame, or the object on every frame), choose a
class from a list, rename. They never block the event loop (the editor thread goes on
and tests find them as ``app.object_dialog``); each choice becomes one Editor call.
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from tkinter import ttk
from typing import Any


class ObjectDialog(tk.Toplevel):
    """A small transient window: a message, a body, buttons; Escape cancels."""

    def __init__(self, app: Any, title: str, text: str) -> None:
        super().__init__(app.root)
        self.app = app
        self.title(title)
        self.resizable(False, False)
        if app.root.winfo_viewable():
            self.transient(app.root)
        self.body = ttk.Frame(self, padding=12)
        self.body.pack(fill="both", expand=True)
        ttk.Label(self.body, text=text, wraplength=360, justify="left").pack(anchor="w", pady=(0, 8))
        self.buttons = ttk.Frame(self.body)
        self.bind("<Escape>", lambda e: self.destroy())
        app.object_dialog = self

    def button(self, text: str, action: Callable[[], None]) -> ttk.Button:
        def chosen() -> None:  # the action reads the dialog's fields (on the Tk thread), then it closes
            try:
                action()
            finally:
                self.destroy()

        button = ttk.Button(self.buttons, text=text, command=chosen)
        button.pack(side="left", padx=3)
        return button

    def finish(self) -> None:
        self.buttons.pack(anchor="e", pady=(8, 0))
        ttk.Button(self.buttons, text="Cancel", command=self.destroy).pack(side="left", padx=3)
        self.update_idletasks()
        root = self.app.root
        self.geometry(f"+{root.winfo_rootx() + 300}+{root.winfo_rooty() + 200}")


def chosen_object(app: Any) -> int | None:
    """The object the objects list has selected, else the only object on this frame."""
    selected = app.sidebar.selected_object()
    if selected is not None:
        return selected
    labels = app.state.labels if app.state is not None else []
    return labels[0][0].object_id if len(labels) == 1 else None


def require_object(app: Any) -> int | None:
    object_id = chosen_object(app)
    if object_id is None:
        app.status.set("select an object in the list first")
    return object_id


def ask_delete(app: Any, object_id: int | None = None) -> ObjectDialog | None:
    """Delete: this frame's label of the object, or the object on every frame (confirmed)."""
    object_id = require_object(app) if object_id is None else object_id
    if object_id is None:
        return None
    dialog = ObjectDialog(app, "Delete object", f"Delete object #{object_id}: its label on this frame only, "
                          "or the object on every frame of this media (propagated labels included)? Ctrl+Z undoes it.")
    dialog.this_frame = dialog.button(  # type: ignore[attr-defined]
        "This frame", lambda: app.run(lambda: app.editor.delete_label(object_id)))
    everywhere = dialog.button("All frames", lambda: app.run(lambda: app.editor.delete_object(object_id),
                                                          then=lambda labels: app.status.set(
                                                              f"deleted object #{object_id} on {len(labels)} frames")))
    dialog.all_frames = everywhere  # type: ignore[attr-defined]
    dialog.finish()
    everywhere.focus_set()
    dialog.bind("<Return>", lambda e: everywhere.invoke())
    return dialog


def same_shape_classes(app: Any, object_id: int) -> list[str]:
    """The classes object ``object_id`` may move to (those of its class's shape)."""
    ontology = app.editor.ontology
    labels = app.state.labels if app.state else []
    current = next((label.class_name for label, _ in labels if label.object_id == object_id), None)
    if current is None or current not in ontology:
        return list(ontology.names)
    shape = ontology[current].shape
    return [entry.name for entry in ontology if entry.shape == shape]


def ask_class(app: Any, object_id: int | None = None) -> ObjectDialog | None:
    """Change an object's class, chosen from a list of the ontology's classes."""
    object_id = require_object(app) if object_id is None else object_id
    if object_id is None:
        return None
    names = same_shape_classes(app, object_id)
    dialog = ObjectDialog(app, "Change class", f"Class for object #{object_id} (every frame):")
    listbox = tk.Listbox(dialog.body, height=min(10, max(3, len(names))), exportselection=False, activestyle="none")
    for index, name in enumerate(names):
        listbox.insert("end", name)
        listbox.itemconfigure(index, foreground=app.editor.ontology[name].colour)
    listbox.pack(fill="x")
    dialog.listbox = listbox  # type: ignore[attr-defined]

    def choose() -> None:
        picked = listbox.curselection()
        if picked:
            name = names[picked[0]]
            app.run(lambda: app.editor.change_class(object_id, name))

    ok = dialog.button("OK", choose)
    listbox.bind("<Double-Button-1>", lambda e: ok.invoke())
    dialog.bind("<Return>", lambda e: ok.invoke())
    dialog.finish()
    listbox.focus_set()
    return dialog


def ask_name(app: Any, object_id: int | None = None) -> ObjectDialog | None:
    """Rename an object: the name shows beside its label on the canvas and in the track panel."""
    object_id = require_object(app) if object_id is None else object_id
    if object_id is None:
        return None
    dialog = ObjectDialog(app, "Rename object", f"Name for object #{object_id} (empty clears it):")
    entry = ttk.Entry(dialog.body, width=32)
    entry.pack(fill="x")
    dialog.entry = entry  # type: ignore[attr-defined]
    def rename() -> None:
        name = entry.get()  # read here, on the Tk thread
        app.run(lambda: app.editor.rename_object(object_id, name))

    ok = dialog.button("OK", rename)
    entry.bind("<Return>", lambda e: ok.invoke())
    dialog.finish()
    entry.focus_set()
    return dialog
