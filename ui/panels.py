"""The side panel (classes, objects of the frame) and the control bar under the timeline."""

from __future__ import annotations

import tkinter as tk
from tkinter import ttk

from ui.keys import last_focus
from ui.object_dialogs import ask_class, ask_delete, ask_name
from ui.playback import PlaybackControls
from ui.review import ReviewBar
from ui.state import ViewState

SAM_ICON = "✦"  # marks classes SAM can serve (polygon, bounding box)


def class_row(entry, index: int) -> str:
    """The class list text: hotkey, SAM icon for SAM-capable classes, name and shape."""
    hotkey = entry.hotkey or (str(index + 1) if index < 9 else " ")
    icon = SAM_ICON if entry.sam_capable else " "
    return f"{hotkey}  {icon} {entry.name}  ({entry.shape.replace('_', ' ')})"


class Sidebar(ttk.Frame):
    """Classes (click or 1–9 to choose) and the current frame's objects (hide, rename,
    change class, delete)."""

    def __init__(self, master, app) -> None:
        super().__init__(master, padding=6, width=250)
        self.app = app
        ttk.Label(self, text="Classes").pack(anchor="w")
        self.classes = tk.Listbox(self, height=8, exportselection=False, activestyle="none", width=30)
        self.classes.pack(fill="x")
        self.classes.bind("<<ListboxSelect>>", self._class_chosen)
        ttk.Label(self, text=f"{SAM_ICON} = SAM available (Shift+A)", foreground="#777").pack(anchor="w", pady=(0, 8))
        ttk.Label(self, text="Objects on this frame").pack(anchor="w")
        self.objects = ttk.Treeview(self, columns=("class", "source", "score", "shown"), show="tree headings", height=12)
        self.objects.heading("#0", text="id")
        self.objects.column("#0", width=44)
        for column, width in (("class", 80), ("source", 74), ("score", 44), ("shown", 40)):
            self.objects.heading(column, text=column)
            self.objects.column(column, width=width)
        self.objects.pack(fill="both", expand=True)
        self.objects.bind("<Double-1>", lambda e: self.toggle_visibility())
        buttons = ttk.Frame(self)
        buttons.pack(fill="x", pady=4)
        ttk.Button(buttons, text="Hide/show", command=self.toggle_visibility).pack(side="left")
        ttk.Button(buttons, text="Rename", command=self.rename).pack(side="left")
        ttk.Button(buttons, text="Class", command=self.change_class).pack(side="left")
        ttk.Button(buttons, text="Delete", command=self.delete).pack(side="left")
        self.review = ReviewBar(self, app)  # accept / outside / occluded / interpolate (ui/review.py)
        self.review.pack(fill="x")
        self._names: list[str] = []
        self._rows: list[tuple[str, str, tuple[str, ...]]] = []  # the object list as last shown

    def set_classes(self, ontology) -> None:
        self._names = ontology.names
        self.classes.delete(0, "end")
        for index, entry in enumerate(ontology):
            self.classes.insert("end", class_row(entry, index))
            self.classes.itemconfigure(index, foreground=entry.colour)

    def show(self, state: ViewState) -> None:
        if state.class_name in self._names:
            index = self._names.index(state.class_name)
            self.classes.selection_clear(0, "end")
            self.classes.selection_set(index)
        hidden = self.app.view.hidden_objects
        rows: list[tuple[str, str, tuple[str, ...]]] = [
            (str(label.object_id), f"{label.object_id}{' ⚑' if label.review else ''}",
             (label.class_name, str(label.source), f"{label.score:.2f}", "no" if label.object_id in hidden else "yes"))
            for label, _ in state.labels]
        if rows == self._rows and list(self.objects.get_children()) == [iid for iid, _, _ in rows]:
            return  # a seek to a frame whose objects read the same: no Tk calls (each one waits for the GIL)
        self._rows = rows
        selected = self.selected_object()
        self.objects.delete(*self.objects.get_children())
        for iid, text, values in rows:
            self.objects.insert("", "end", iid=iid, text=text, values=values)
        if selected is not None and self.objects.exists(str(selected)):
            self.objects.selection_set(str(selected))

    def selected_object(self) -> int | None:
        chosen = self.objects.selection()
        return int(chosen[0]) if chosen else None

    def _class_chosen(self, event=None) -> None:
        chosen = self.classes.curselection()
        if chosen:
            self.app.set_class(self._names[chosen[0]])

    def toggle_visibility(self) -> None:
        object_id = self.selected_object()
        if object_id is None:
            return
        hidden = self.app.view.hidden_objects
        hidden.symmetric_difference_update({object_id})
        self.app.view.redraw()
        if self.app.state is not None:
            self.show(self.app.state)

    def rename(self) -> None:
        ask_name(self.app)  # ui/object_dialogs.py: non-blocking dialogs, one Editor call each

    def change_class(self) -> None:
        ask_class(self.app)  # a list of the classes of the object's shape

    def delete(self) -> None:
        ask_delete(self.app)  # this frame, or the object on every frame


class ControlBar(ttk.Frame):
    """Frame stepping, play/pause, the frame box, permanent drawing and propagation progress."""

    def __init__(self, master, app) -> None:
        super().__init__(master, padding=(6, 4))
        self.app = app
        ttk.Button(self, text="|◀", width=3, command=lambda: app.goto(0)).pack(side="left")
        ttk.Button(self, text="◀", width=3, command=lambda: app.step(-1)).pack(side="left")
        self.play_button = ttk.Button(self, text="▶ Play", width=8, command=app.toggle_play)
        self.play_button.pack(side="left")
        ttk.Button(self, text="▶", width=3, command=lambda: app.step(1)).pack(side="left")
        ttk.Button(self, text="▶|", width=3, command=lambda: app.goto(app.frame_count - 1)).pack(side="left")
        ttk.Label(self, text="  frame").pack(side="left")
        self.frame_box = ttk.Entry(self, width=7)
        self.frame_box.pack(side="left")
        self.frame_box.bind("<Return>", self._typed_frame)
        self.frame_total = ttk.Label(self, text="/ 1")
        self.frame_total.pack(side="left")
        self.permanent = tk.BooleanVar(value=False)
        self.permanent_button = ttk.Checkbutton(self, text="Permanent drawing", variable=self.permanent, command=self._permanent)
        self.permanent_button.pack(side="left", padx=(16, 4))
        ttk.Button(self, text="◀ Propagate", command=lambda: app.propagate(-1)).pack(side="left")
        ttk.Button(self, text="Propagate ▶", command=lambda: app.propagate(1)).pack(side="left")
        # Propagation progress sits on its own row under the buttons.
        row = ttk.Frame(master, padding=(6, 0, 6, 4))
        row.pack(side="bottom", fill="x")
        self.stop_button = ttk.Button(row, text="Stop", command=self._stop, state="disabled")
        self.stop_button.pack(side="right")
        self.playback = PlaybackControls(row, app)  # speed, and the project's media (ui/playback.py)
        self.playback.pack(side="right", padx=(0, 8))
        self.progress = ttk.Progressbar(row, mode="determinate")
        self.progress.pack(side="right", fill="x", expand=True, padx=4)
        self.progress_text = tk.StringVar(value="")
        ttk.Label(row, textvariable=self.progress_text, width=44).pack(side="left")

    def show(self, state: ViewState) -> None:
        # Not focus_get(): it raises KeyError while a Tk file dialog has the focus.
        if last_focus(self.frame_box) != str(self.frame_box):  # the person is not typing a frame number
            self.frame_box.delete(0, "end")
            self.frame_box.insert(0, str(state.frame_index + 1))
        self.frame_total.configure(text=f"/ {state.frame_count}")
        self.permanent.set(state.permanent)

    def set_playing(self, playing: bool) -> None:
        self.play_button.configure(text="‖ Pause" if playing else "▶ Play")

    def set_progress(self, done: int, total: int, text: str) -> None:
        self.progress.configure(maximum=max(1, total), value=done)
        self.progress_text.set(text)
        self.stop_button.configure(state="normal" if done < total else "disabled")

    def _typed_frame(self, event=None) -> str:
        try:
            self.app.goto(int(self.frame_box.get()) - 1)
        except ValueError:
            self.app.status.set(f"not a frame number: {self.frame_box.get()!r}")
        self.app.view.focus_set()
        return "break"

    def _permanent(self) -> None:
        self.app.set_permanent(self.permanent.get())

    def _stop(self) -> None:
        self.app.propagation.stop()
