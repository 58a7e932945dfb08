"""The label editor window: frame view with the SAM panel beside it, classes and objects, timeline, status.

The window stays thin: it turns gestures into Editor calls, runs them on the editor
thread (`ui.worker.EditorWorker`) and draws the `ViewState` snapshot that comes back.
"""

from __future__ import annotations

import os
import time
import tkinter as tk
from collections.abc import Callable
from tkinter import ttk
from types import TracebackType
from typing import Any

from engine.errors import EditorStateError, FramewiseError, PromptError
from ui.dialogs import ErrorDialog
from ui.edit_tools import EditTools
from ui.frame_view import FrameView
from ui.keys import bind_shortcuts
from ui.marks import MarkTracker
from ui.menus import build_menus
from ui.panels import ControlBar, Sidebar
from ui.playback import play_delay
from ui.project_actions import export_labels
from ui.propagation import PropagationMonitor
from ui.sam_panel import SamPanel
from ui.screen import initial_geometry
from ui.state import ViewState, snapshot
from ui.timeline import flagged_after
from ui.track_panel import TrackPanel
from ui.worker import EditorWorker

BUSY_TEXT = "auto-segmentation running…"


class App:
    """One Tk window driving one `engine.Editor` (which must have media open).

    root: the Tk root (tests pass their own); backend: shown in the status bar.
    """

    def __init__(self, root: tk.Tk, editor: Any, *, backend: str = "", title: str = "framewise") -> None:
        self.root = root
        self.editor = editor
        self.backend = backend
        self.state: ViewState | None = None
        self.dialog: ErrorDialog | None = None  # the last error dialog shown
        self.object_dialog: Any = None  # the last delete / class / rename dialog (ui/object_dialogs.py)
        self.error: str | None = None
        self._goto_target: int | None = None
        self.media_note = ""  # the open media's warnings, kept on the status line
        self._playing = False
        self._play_id: str | None = None
        root.title(f"{title} — {editor.media_name}")
        root.geometry(initial_geometry(root.winfo_screenwidth(), root.winfo_screenheight()))
        self.marks = MarkTracker(editor)  # before any Editor call: it follows the event log
        self.worker = EditorWorker(root, on_busy=self._on_busy)
        self._build()
        # A callback that raises (a bug) is shown on the status line; the loops go on.
        root.report_callback_exception = self._callback_error
        bind_shortcuts(self)
        self.edit_tools = EditTools(self)  # vertex/box editing and the hand tools on the canvas
        self.propagation = PropagationMonitor(self)
        self._read_media_note()
        self.run(lambda: None, "loading…")

    # -- layout -----------------------------------------------------------------------

    def _build(self) -> None:
        root = self.root
        self.menus = build_menus(self)
        outer = ttk.Frame(root)
        outer.pack(fill="both", expand=True)
        self.sidebar = Sidebar(outer, self)
        self.sidebar.pack(side="left", fill="y")
        centre = ttk.Frame(outer)
        centre.pack(side="left", fill="both", expand=True)
        # The frame canvas and, beside it while SAM mode is on, the SAM panel (never over the frame).
        stage = ttk.Frame(centre)
        stage.pack(fill="both", expand=True)
        stage.columnconfigure(0, weight=1)
        stage.rowconfigure(0, weight=1)
        self.view = FrameView(stage, on_point=self.click, on_box=self.drag_box)
        self.view.grid(row=0, column=0, sticky="nsew")
        self.sam_panel = SamPanel(stage, on_quality=self.set_quality, on_reset=self.reset, on_apply=self.apply,
                                  backend=self.backend)
        self.sam_panel.grid(row=0, column=1, sticky="ns")
        self.sam_panel.grid_remove()
        self.tracks = TrackPanel(centre, self)  # the timeline, then one row per object over the whole media
        self.tracks.pack(fill="x")
        self.timeline = self.tracks.timeline
        self.controls = ControlBar(centre, self)
        self.controls.pack(fill="x")
        self.status = tk.StringVar(value="")
        self.status_bar = status_bar = ttk.Label(root, textvariable=self.status, anchor="w", relief="sunken", padding=(6, 2))
        status_bar.pack(fill="x", side="bottom")
        # The open media's warnings (a video cut near its end), in full, above the status line.
        self.notice = ttk.Label(root, anchor="w", foreground="#a04000", padding=(6, 2), wraplength=1100)
        self.sidebar.set_classes(self.editor.ontology)

    # -- running Editor calls off the Tk thread ---------------------------------------

    def run(self, call: Callable[[], Any], busy_text: str = "", then: Callable[[Any], None] | None = None) -> None:
        """Run ``call()`` on the editor thread, then redraw from a fresh snapshot."""

        def work() -> tuple[Any, ViewState]:
            result = call()
            return result, snapshot(self.editor, self.marks, self.backend)

        def done(value: Any, error: BaseException | None) -> None:
            if error is not None:
                self._show_error(error)
                return
            result, state = value
            self.error = None
            self._show(state)
            if then is not None:
                then(result)

        if busy_text:
            self.sam_panel.set_status(busy_text)
        self.worker.submit(work, done, name=busy_text or "call")

    def _show_error(self, error: BaseException) -> None:
        text = str(error) if isinstance(error, FramewiseError) else f"{type(error).__name__}: {error}"
        self.error = text
        self._goto_target = None
        self.sam_panel.set_status(text, error=True)
        self.status.set(f"error: {text}")
        if not isinstance(error, (PromptError, EditorStateError)):
            # Media, project, disk, export failures: the person must see them. The Editor
            # kept its state (the selection survives a failed apply), so they can retry.
            self.dialog = ErrorDialog(self.root, text)

    def _callback_error(self, kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
        """A Tk callback raised: a bug. Print the traceback as Tk does and say so on the
        status line; the window's poll loops have rescheduled themselves and go on."""
        # The class's handler, looked up now (tests replace it): typeshed declares it as an
        # instance attribute, so on the class mypy does not see the Tk it takes first.
        tk.Tk.report_callback_exception(self.root, kind, error, trace)  # type: ignore[call-arg, arg-type]
        text = f"internal error: {kind.__name__}: {error} (traceback on the terminal)"
        self.error = text
        self.status.set(text)
        self.sam_panel.set_status(text, error=True)

    def _on_busy(self, busy: bool, name: str) -> None:
        if not busy and self.error is None:
            self.sam_panel.set_status("ready")

    def _show(self, state: ViewState) -> None:
        self.state = state
        self.view.show(state)
        self.timeline.update_marks(state.frame_index, state.frame_count, state.marks)
        self.tracks.show(state)
        self.sidebar.show(state)
        self.controls.show(state)
        self.menus.set_history(state.can_undo, state.can_redo)
        if state.sam_mode and state.sam_capable:
            if not self.sam_panel.shown:
                self.sam_panel.grid()
            self.sam_panel.set_quality(state.quality)
            self.sam_panel.set_candidates(state.candidate, state.candidates, state.score)
        elif self.sam_panel.shown:
            self.sam_panel.grid_remove()
        seconds = state.frame_index / state.fps if state.fps else 0.0
        candidate = f" · candidate {state.candidate + 1}/{state.candidates}" if state.candidates > 1 else ""
        sam = "SAM on" if state.sam_mode else "SAM off"
        self.status.set(
            f"frame {state.frame_index + 1}/{state.frame_count} · {seconds:.2f} s · {state.class_name} · {sam}"
            f"{candidate} · backend {state.backend} · {state.cache}"
        )

    @property
    def frame_count(self) -> int:
        return self.state.frame_count if self.state else 1

    # -- actions (Tk thread) -------------------------------------------------------------

    def click(self, x: float, y: float, positive: bool) -> None:
        if not self._sam_ready():
            return
        self.run(lambda: self.editor.click(x, y, positive), BUSY_TEXT)

    def drag_box(self, x0: float, y0: float, x1: float, y1: float) -> None:
        if not self._sam_ready():
            return
        self.run(lambda: self.editor.drag_box(x0, y0, x1, y1), BUSY_TEXT)

    def _sam_ready(self) -> bool:
        if self.state is None:
            return False
        if not self.state.sam_mode:
            self.status.set("SAM mode is off: press Shift+A (polygon and bounding-box classes)")
            return False
        return True

    def toggle_sam(self) -> None:
        self.run(self.editor.toggle_sam)

    def set_class(self, name: str) -> None:
        if self.state is not None and name != self.state.class_name:
            self.run(lambda: self.editor.set_class(name))

    def class_hotkey(self, digit: int) -> None:
        for entry in self.editor.ontology:
            if entry.hotkey == str(digit):
                self.set_class(entry.name)
                return
        names = self.editor.ontology.names
        if digit <= len(names):
            self.set_class(names[digit - 1])

    def set_quality(self, quality: float) -> None:
        if self.state is not None and abs(quality - self.state.quality) > 1e-9:
            self.run(lambda: self.editor.set_quality(quality), BUSY_TEXT)

    def reset(self) -> None:
        if self.edit_tools.cancel():  # Esc drops a hand-drawn polygon or the label being edited
            return
        self.run(self.editor.reset)

    def cycle_candidate(self) -> None:
        if self.state is not None and self.state.candidates:
            self.run(self.editor.cycle_candidate)

    def apply(self) -> None:
        if self.edit_tools.close_draft():  # Enter closes a hand-drawn polygon
            return
        if self.state is None or not self.state.candidates:
            self.status.set("nothing to apply: click or drag a box first")
            return
        # With permanent drawing on, apply() starts propagating the object in the background
        # (ui/propagation.py: progress bar, Stop, live marks); the label shows at once.
        self.run(self.editor.apply)

    def propagate(self, direction: int) -> None:
        """Carry every object of this frame forwards (1) or backwards (-1) to the next anchor."""
        if self.state is None or not self.state.labels:
            self.status.set("no labels on this frame to propagate")
            return
        self.run(lambda: self.editor.start_propagation(direction))  # in the background

    def set_permanent(self, on: bool) -> None:
        self.run(lambda: self.editor.set_permanent(on))

    def undo(self) -> None:
        """Ctrl+Z: take back the last vertex of a hand-drawn polygon, else the last prompt of
        the selection being built, else the last change (decided on the editor thread, after
        the prompts already queued)."""
        if self.edit_tools.take_back():
            return
        self.run(lambda: self.editor.unclick() or self.editor.undo(), then=lambda _: self.clear_progress())

    def redo(self) -> None:
        self.run(self.editor.redo, then=lambda _: self.clear_progress())

    def clear_progress(self) -> None:
        """Empty the progress row and the SAM panel's status after Undo, Redo or a media
        switch: what they said is about labels taken back or another media. A run still
        going shows its next report."""
        if not self.editor.propagation_jobs():
            self.controls.set_progress(0, 0, "")
        if self.error is None and not self.worker.busy:
            self.sam_panel.set_status("ready")

    def delete_object(self, object_id: int) -> None:
        self.run(lambda: self.editor.delete_label(object_id))

    def change_class(self, object_id: int, class_name: str) -> None:
        self.run(lambda: self.editor.change_class(object_id, class_name))

    def rename_object(self, object_id: int, name: str) -> None:
        self.run(lambda: self.editor.rename_object(object_id, name))

    def goto(self, frame_index: int) -> None:
        """Seek; while a seek is queued, later ones only move its target (no backlog)."""
        frame_index = max(0, min(int(frame_index), self.frame_count - 1))
        if self._goto_target is not None:
            self._goto_target = frame_index
            return
        self._goto_target = frame_index

        def work():
            target = self._goto_target
            self.editor.goto(target)

        def finished(_):
            pending = self._goto_target
            self._goto_target = None
            if self.state is not None and pending is not None and pending != self.state.frame_index:
                self.goto(pending)

        self.run(work, then=finished)

    def step(self, delta: int) -> None:
        base = self._goto_target if self._goto_target is not None else (self.state.frame_index if self.state else 0)
        self.goto(base + delta)

    def next_flagged(self, direction: int) -> None:
        if self.state is not None:
            target = flagged_after(self.state.marks, self.state.frame_index, direction)
            if target is None:
                self.status.set("no flagged frame " + ("after" if direction > 0 else "before") + " this one")
            else:
                self.goto(target)

    def toggle_play(self) -> None:
        self._playing = not self._playing
        self.controls.set_playing(self._playing)
        if self._play_id is not None:
            self.root.after_cancel(self._play_id)
            self._play_id = None
        if self._playing:
            self._play_tick()

    def _play_tick(self) -> None:
        self._play_id = None
        if not self._playing or self.state is None:
            return
        delay = play_delay(self.state.fps, self.controls.playback.speed)
        try:
            if self.state.frame_index >= self.frame_count - 1:
                self.toggle_play()
            elif not self.worker.busy:
                self.step(1)
        finally:  # an error is reported by Tk; playback goes on
            if self._playing and self._play_id is None:
                self._play_id = self.root.after(delay, self._play_tick)

    # -- shutdown -----------------------------------------------------------------------

    def wait_idle(self, timeout: float = 120.0, runs: bool = True) -> None:
        """Pump Tk events until the editor thread has nothing queued and, with ``runs``, no
        background propagation is going or unshown (tests and scripts)."""
        deadline = time.monotonic() + timeout

        def busy() -> bool:
            return self.worker.busy or self._goto_target is not None or (runs and self.propagation.busy)

        while time.monotonic() < deadline:
            if not busy():
                self.root.update()  # a timer may queue more work (a run's marks): then go on
                if not busy():
                    return
            self.root.update()
            time.sleep(0.002)
        if busy():
            raise TimeoutError(
                f"the editor thread is still busy after {timeout:g} s "
                f"(pending calls: {self.worker.pending}, seek target: {self._goto_target})")

    def close(self) -> None:
        self._playing = False
        if self._play_id is not None:
            self.root.after_cancel(self._play_id)
        self.propagation.stop()
        self.propagation.close()
        self.worker.close()
        self.editor.close()

    def refresh_marks(self) -> None:
        """Re-read every timeline mark (after labels were written behind the Editor's back)."""
        self.marks.touch(None)
        self.run(lambda: None)

    def open_media(self, path: str) -> None:
        """Switch to another media of the project; on failure the current one stays open."""
        def opened(_: Any) -> None:
            self.root.title(f"framewise — {self.editor.media_name}")
            self._read_media_note()
            self.controls.playback.refresh_media()
            self.clear_progress()

        self.run(lambda: self.editor.open(path), "opening…", then=opened)

    def _read_media_note(self) -> None:
        """Keep the open media's warnings (a video cut near its end) for the status line."""
        try:
            warnings = tuple(getattr(self.editor.source, "warnings", ()))
        except FramewiseError:  # no media open
            warnings = ()
        # "<path>: file looks truncated: declares …": the path is in the title bar already.
        self.media_note = " · ".join(f"⚠ {w.split(': ', 1)[-1]}" for w in warnings)
        self.notice.configure(text=self.media_note)
        if self.media_note:
            self.notice.pack(fill="x", side="bottom", after=self.status_bar)
        else:
            self.notice.pack_forget()

    def export(self, fmt: str, folder: str, replace: bool = False) -> None:
        """Export the project's labels (runs on the editor thread; a project store is needed);
        a folder that holds files is refused unless ``replace``."""
        where = os.path.abspath(folder)  # the message names the folder in full
        self.run(lambda: export_labels(self.editor, fmt, where, replace=replace), f"exporting {fmt}…",
                 then=lambda paths: self.status.set(f"exported {fmt}: {len(paths)} files to {where}"))
